"""The runner's REST client against an HTTP server that fronts the in-memory API: the same 409/422/404
answers the API server gives reach the reporter's fences through real requests, connections are kept
alive, a connection the server closed is replaced, and kube-configs it cannot speak are left to the
official client."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from kube_workflows import restclient
from kube_workflows.checkpoint import offload
from kube_workflows.restclient import ApiError, Client, Endpoint
from kube_workflows.runner import patches
from kube_workflows.runner.reporter import KubeRunApi, Reporter, RestRunApi, Superseded, chunk_payload

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inmemory_api import InMemoryApi

RUNS = "/apis/kube-workflows.dev/v1alpha1/namespaces/ns/workflowruns/"
CORE = "/api/v1/namespaces/ns/"


class Served:
    """An HTTP front for an InMemoryApi that records what the client sent."""

    def __init__(self, api: InMemoryApi) -> None:
        self.api = api
        self.seen: list[tuple[str, str, str | None, str | None]] = []  # method, path, content type, auth
        self.connections = 0
        self.close_after_next = False  # close the connection after the next response, without saying so
        self.race_next_patch = False  # another writer changes the run just before the next status patch
        served = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                served.connections += 1
                super().setup()

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                content_type = self.headers.get("Content-Type")
                served.seen.append((method, self.path, content_type, self.headers.get("Authorization")))
                try:
                    status, answer = 200, served.route(method, self.path, body, content_type)
                except ApiError as exc:
                    status, answer = exc.status, {"kind": "Status", "message": exc.reason, "code": exc.status}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                if served.close_after_next:
                    served.close_after_next = False
                    self.close_connection = True

            def do_GET(self) -> None:
                self._answer("GET")

            def do_PATCH(self) -> None:
                self._answer("PATCH")

            def do_PUT(self) -> None:
                self._answer("PUT")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = Endpoint(host="127.0.0.1", port=self.server.server_address[1], scheme="http", token="t0k")

    def route(self, method: str, path: str, body: Any, content_type: str | None) -> Any:
        if path.startswith(RUNS):
            name, _, sub = path[len(RUNS) :].partition("/")
            if method == "GET" and not sub:
                return self.api.get_run(name)
            if method == "PATCH" and sub == "status":
                if self.race_next_patch:
                    self.race_next_patch = False
                    self.api[name]["metadata"]["resourceVersion"] = self.api._next_version()
                self.api.patch_run_status(name, body, str(content_type))
                return self.api.get_run(name)
        kinds = {"configmaps": "ConfigMap", "secrets": "Secret"}
        plural, _, name = path[len(CORE) :].partition("/")
        if path.startswith(CORE) and plural in kinds:
            if method == "GET":
                obj = self.api.get_chunk(kinds[plural], name)
                if obj is None:
                    raise ApiError(404, f'{plural} "{name}" not found')
                return obj
            if method == "PUT":
                self.api.replace_chunk(body)
                return self.api.chunks[(body["kind"], name)]
        raise ApiError(404, f"no route for {method} {path}")


@pytest.fixture
def served() -> Iterator[Served]:
    front = Served(InMemoryApi(r={"metadata": {"name": "r", "namespace": "ns", "uid": "uid-r"}, "spec": {}}))
    thread = threading.Thread(target=front.server.serve_forever, daemon=True)
    thread.start()
    yield front
    front.server.shutdown()
    front.server.server_close()


def reporter(served: Served) -> Reporter:
    return Reporter("ns", "r", api=RestRunApi("ns", Client(served.endpoint)))


def test_claim_and_fenced_writes_go_over_one_kept_alive_connection(served: Served) -> None:
    runner = reporter(served)
    run, attempt = runner.claim("pod-1")
    assert attempt == 1 and run["metadata"]["name"] == "r"
    runner.write("a checkpoint", [{"op": "add", "path": "/status/note", "value": "x"}])
    assert served.api["r"]["status"]["note"] == "x" and served.api["r"]["status"]["runner"]["writes"] == 1
    methods = [(m, p.removeprefix(RUNS), t) for m, p, t, _ in served.seen]
    assert methods == [
        ("GET", "r", None),
        ("PATCH", "r/status", "application/merge-patch+json"),
        ("PATCH", "r/status", "application/json-patch+json"),
    ]
    assert {auth for *_, auth in served.seen} == {"Bearer t0k"}
    assert served.connections == 1


def test_a_conflicting_claim_reads_again_and_a_failed_test_means_superseded(served: Served) -> None:
    first, second = reporter(served), reporter(served)
    served.race_next_patch = True
    assert first.claim("pod-1")[1] == 1  # its first merge patch got 409: read again, claimed
    assert [m for m, *_ in served.seen] == ["GET", "PATCH", "GET", "PATCH"]
    assert second.claim("pod-2")[1] == 2
    error = {"reason": "X", "type": "X", "message": "stale", "step": None}
    with pytest.raises(Superseded, match="attempt 2 now owns"):  # the 422 of its failed `test`
        first.write("a stale error", patches.error_patch(1, error))
    assert served.api["r"]["status"].get("error") is None


def test_chunks_missing_replaced_and_stale(served: Served) -> None:
    api = RestRunApi("ns", Client(served.endpoint))
    assert api.get_chunk("ConfigMap", "r-ckpt-a-0") is None  # a 404 is "not there"
    owner = {"kind": "WorkflowRun", "name": "r", "uid": "uid-r"}
    body = offload.chunk_object("ConfigMap", "r-ckpt-a-0", "ns", "r", owner, "payload", attempt=1, seq=1)
    version = served.api.create_chunk(body)
    new_version = api.replace_chunk({**body, "metadata": {**body["metadata"], "resourceVersion": version}})
    assert new_version != version
    got = api.get_chunk("ConfigMap", "r-ckpt-a-0")
    assert got is not None and chunk_payload(got) == "payload"
    with pytest.raises(ApiError) as stale:
        api.replace_chunk({**body, "metadata": {**body["metadata"], "resourceVersion": version}})
    assert stale.value.status == 409 and "modified" in str(stale.value)


def test_an_error_status_carries_the_servers_message(served: Served) -> None:
    client = Client(served.endpoint)
    with pytest.raises(ApiError) as missing:
        client.request("GET", RUNS + "gone")
    assert missing.value.status == 404
    assert restclient.api_message(missing.value.body) == "workflowruns gone not found"
    assert str(missing.value) == "HTTP 404 Not Found: workflowruns gone not found"


def test_a_connection_the_server_closed_is_replaced(served: Served) -> None:
    client = Client(served.endpoint)
    served.close_after_next = True
    client.request("GET", RUNS + "r")
    assert client.request("GET", RUNS + "r")["metadata"]["name"] == "r"
    assert served.connections == 2


def test_a_token_file_is_read_on_every_request(served: Served, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    client = Client(Endpoint(host="127.0.0.1", port=served.endpoint.port, scheme="http", token_file=str(token)))
    client.request("GET", RUNS + "r")
    token.write_text("rotated")
    client.request("GET", RUNS + "r")
    assert [auth for *_, auth in served.seen] == ["Bearer first", "Bearer rotated"]


def kubeconfig(tmp_path: Path, user: dict[str, Any], **cluster: Any) -> Path:
    config = {
        "clusters": [{"name": "c", "cluster": {"server": "https://10.0.0.1:6443", **cluster}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_pods_kubeconfig_with_a_token_file_relative_to_it(tmp_path: Path) -> None:
    endpoint = restclient.from_kubeconfig(
        kubeconfig(tmp_path, {"tokenFile": "sa/token"}, **{"certificate-authority": "ca.crt"})
    )
    assert endpoint == Endpoint(
        host="10.0.0.1", port=6443, ca_file=str(tmp_path / "ca.crt"), token_file=str(tmp_path / "sa" / "token")
    )


def test_client_certificates_as_files(tmp_path: Path) -> None:
    user = {"client-certificate": "/pki/admin.crt", "client-key": "/pki/admin.key"}
    endpoint = restclient.from_kubeconfig(kubeconfig(tmp_path, user, **{"insecure-skip-tls-verify": True}))
    assert endpoint is not None and endpoint.insecure
    assert (endpoint.client_cert, endpoint.client_key) == ("/pki/admin.crt", "/pki/admin.key")


@pytest.mark.parametrize(
    "user",
    [
        {"exec": {"command": "aws", "apiVersion": "client.authentication.k8s.io/v1"}},
        {"auth-provider": {"name": "gcp"}},
        {"username": "admin", "password": "secret"},
    ],
)
def test_credentials_it_does_not_speak_go_to_the_official_client(tmp_path: Path, user: dict[str, Any]) -> None:
    assert restclient.from_kubeconfig(kubeconfig(tmp_path, user)) is None


def test_a_proxy_or_tls_server_name_goes_to_the_official_client(tmp_path: Path) -> None:
    assert restclient.from_kubeconfig(kubeconfig(tmp_path, {"token": "t"}, **{"proxy-url": "http://p:3128"})) is None
    assert restclient.from_kubeconfig(kubeconfig(tmp_path, {"token": "t"}, **{"tls-server-name": "api"})) is None


def test_in_cluster_reads_the_service_account(tmp_path: Path) -> None:
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    assert restclient.in_cluster(env, tmp_path) is None  # no token mounted
    (tmp_path / "token").write_text("t")
    assert restclient.in_cluster(env, tmp_path) == Endpoint(
        host="10.96.0.1", port=443, ca_file=str(tmp_path / "ca.crt"), token_file=str(tmp_path / "token")
    )
    assert restclient.in_cluster({}, tmp_path) is None


def test_the_official_clients_errors_become_the_same_ones() -> None:
    """KubeRunApi (credentials restclient does not speak) raises what the reporter's fences catch."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import ProtocolError

    api = KubeRunApi.__new__(KubeRunApi)

    def conflict() -> None:
        raise ApiException(status=409, reason="Conflict")

    def reset() -> None:
        raise ProtocolError("Connection aborted.")

    with pytest.raises(ApiError) as refused:
        api._call(conflict)
    assert (refused.value.status, refused.value.reason) == (409, "Conflict")
    with pytest.raises(ConnectionError, match="ProtocolError"):
        api._call(reset)
