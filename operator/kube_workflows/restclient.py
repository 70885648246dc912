"""A small Kubernetes REST client: what a runner pod needs, without importing the `kubernetes` package.

The official client costs a starting runner ~140 ms of imports (its generated models, the kube-config
loader with its OAuth and cloud-auth helpers) before its first request; the runner makes a handful of
GETs, PATCHes and PUTs. This client speaks them over `http.client` with keep-alive connections and
bearer-token or client-certificate auth, from the pod's service account or a plain kube-config.
`from_environment()` returns None for what it does not understand (exec plugins, auth providers,
a TLS server name, several kube-config files); the caller then uses the official client.

Errors: an HTTP status of 400 and above raises `ApiError` (status, reason, body, as the official
client's `ApiException`); a connection that fails raises `OSError` or `http.client.HTTPException`.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import ssl
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# No response of the API server to the runner's small requests takes this long unless it is in trouble;
# the caller's retries take over (the official client waits forever).
TIMEOUT_SECONDS = 60.0
USER_AGENT = "kube-workflows-runner"


class ApiError(Exception):
    """The API server answered with an error status: 404, 409 (stale resourceVersion, existing name), 422
    (failed JSON-patch `test`, invalid object), 401/403, 429, 5xx. `body` is its Status object as text."""

    def __init__(self, status: int, reason: str = "", body: str | None = None) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason
        self.body = body

    def __str__(self) -> str:
        return f"HTTP {self.status} {self.reason}: {api_message(self.body) or '(no body)'}"


def api_message(body: str | None) -> str:
    """The `message` of an API server Status body, else ""."""
    try:
        status = json.loads(body or "{}")
    except ValueError:
        return ""
    return str(status.get("message") or "") if isinstance(status, dict) else ""


@dataclass(frozen=True)
class Endpoint:
    """Where the API server is and how to authenticate to it."""

    host: str
    port: int
    scheme: str = "https"
    ca_file: str | None = None
    insecure: bool = False
    token: str | None = None
    token_file: str | None = None  # re-read on every request: the kubelet rotates it
    client_cert: str | None = None
    client_key: str | None = None

    def authorization(self) -> str | None:
        token = Path(self.token_file).read_text().strip() if self.token_file else self.token
        return f"Bearer {token}" if token else None

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.client_cert:
            context.load_cert_chain(self.client_cert, self.client_key)
        return context


def in_cluster(env: Mapping[str, str] = os.environ, sa_dir: Path = SERVICE_ACCOUNT_DIR) -> Endpoint | None:
    """The pod's own service account, as the official client's `load_incluster_config` reads it."""
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    if not host or not port or not (sa_dir / "token").exists():
        return None
    return Endpoint(host=host, port=int(port), ca_file=str(sa_dir / "ca.crt"), token_file=str(sa_dir / "token"))


# What `from_kubeconfig` speaks; a kube-config with any other field goes to the official client.
_KNOWN_USER = {"token", "tokenFile", "client-certificate", "client-key", "client-certificate-data", "client-key-data"}
_KNOWN_CLUSTER = {"server", "certificate-authority", "certificate-authority-data", "insecure-skip-tls-verify"}


def from_kubeconfig(path: Path, scratch: Path | None = None) -> Endpoint | None:
    """The current context of one kube-config file; None when it needs more than a token, a token file or
    a client certificate (an exec plugin, an auth provider, a password, a proxy, a TLS server name)."""
    import yaml  # only outside a pod's service account: in-cluster needs no YAML

    config = yaml.safe_load(path.read_text()) or {}
    by_name = {
        kind: {item.get("name"): item.get(kind[:-1]) or {} for item in config.get(kind) or []}
        for kind in ("contexts", "clusters", "users")
    }
    context = by_name["contexts"].get(config.get("current-context"))
    if context is None:
        return None
    cluster = by_name["clusters"].get(context.get("cluster"))
    user = by_name["users"].get(context.get("user")) or {}
    if cluster is None or set(user) - _KNOWN_USER or set(cluster) - _KNOWN_CLUSTER:
        return None
    url = urlsplit(str(cluster.get("server") or ""))
    if url.scheme not in ("http", "https") or not url.hostname or url.path.strip("/"):
        return None
    here = path.parent

    def file_of(key: str) -> str | None:
        """A kube-config's `key` (a path relative to the file) or `key-data` (base64, written out)."""
        source = cluster if key.startswith("certificate-authority") else user
        if source.get(f"{key}-data"):
            fd, name = tempfile.mkstemp(prefix="kwf-", suffix=".pem", dir=scratch)
            with os.fdopen(fd, "wb") as out:
                out.write(base64.b64decode(source[f"{key}-data"]))
            return name
        value = source.get(key)
        return str(here / value) if value else None

    token_file = user.get("tokenFile")
    return Endpoint(
        host=url.hostname,
        port=url.port or (443 if url.scheme == "https" else 80),
        scheme=url.scheme,
        ca_file=file_of("certificate-authority"),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        token=user.get("token"),
        token_file=str(here / token_file) if token_file else None,
        client_cert=file_of("client-certificate"),
        client_key=file_of("client-key"),
    )


def from_environment() -> Endpoint | None:
    """What the official client would use (`kube_workflows.kube.api_client`): the pod's service account,
    else $KUBECONFIG or ~/.kube/config; None when this client cannot speak it."""
    endpoint = in_cluster()
    if endpoint is not None:
        return endpoint
    path = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    if os.pathsep in path or not Path(path).is_file():
        return None
    return from_kubeconfig(Path(path))


class Client:
    """JSON over keep-alive connections, safe to share between threads (each request takes a connection
    of its own from a small pool)."""

    def __init__(self, endpoint: Endpoint, timeout: float = TIMEOUT_SECONDS) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._ssl = endpoint.ssl_context() if endpoint.scheme == "https" else None
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connect(self) -> http.client.HTTPConnection:
        e = self.endpoint
        if self._ssl is None:
            return http.client.HTTPConnection(e.host, e.port, timeout=self.timeout)
        return http.client.HTTPSConnection(e.host, e.port, timeout=self.timeout, context=self._ssl)

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        """The response's JSON (None when empty); ApiError for an error status."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if data is not None:
            headers["Content-Type"] = content_type
        authorization = self.endpoint.authorization()
        if authorization:
            headers["Authorization"] = authorization
        status, reason, payload = self._send(method, path, data, headers)
        if status >= 400:
            raise ApiError(status, reason, payload.decode(errors="replace"))
        return json.loads(payload) if payload else None

    def _send(self, method: str, path: str, data: bytes | None, headers: dict[str, str]) -> tuple[int, str, bytes]:
        while True:
            with self._lock:
                conn, reused = (self._idle.pop(), True) if self._idle else (self._connect(), False)
            try:
                conn.request(method, path, body=data, headers=headers)
                response = conn.getresponse()
                payload = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                if reused:  # the server closed the idle connection: once more on a new one
                    continue
                raise
            except BaseException:
                conn.close()
                raise
            if response.will_close:
                conn.close()
            else:
                with self._lock:
                    self._idle.append(conn)
            return response.status, response.reason, payload

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
