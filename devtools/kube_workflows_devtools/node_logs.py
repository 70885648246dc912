"""The local node's HTTPS endpoint: container logs for `kubectl logs`, proxied by the apiserver.

Serves `GET /containerLogs/{namespace}/{pod}/{container}` (`follow`, `tailLines`, `limitBytes`;
`timestamps`, `previous`, `sinceSeconds` are accepted and ignored) and `GET /healthz`.

Development only: client certificates are neither requested nor verified, so anyone who can reach
127.0.0.1 can read the logs. A real kubelet authenticates and authorizes the apiserver.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("kube_workflows_devtools.node")

_BLOCK = 64 * 1024
_FOLLOW_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class LogTarget:
    path: Path
    running: Callable[[], bool]  # whether the container's process still runs (follow stops after)


LogFinder = Callable[[str, str, str], LogTarget | None]
"""(namespace, pod, container) -> where its log is, or None when the node knows no such container."""


def tail_offset(f: IO[bytes], lines: int) -> int:
    """Offset in `f` where its last `lines` lines start (a final newline ends a line, not starts one)."""
    end = f.seek(0, os.SEEK_END)
    if lines <= 0:
        return end
    found, pos = 0, end
    while pos > 0:
        size = min(_BLOCK, pos)
        pos -= size
        f.seek(pos)
        block = f.read(size)
        i = len(block)
        while (i := block.rfind(b"\n", 0, i)) != -1:
            if pos + i != end - 1:
                found += 1
                if found == lines:
                    return pos + i + 1
    return 0


class LogServer(ThreadingHTTPServer):
    """ThreadingHTTPServer over TLS; the handshake runs in the request's thread, not the accept loop."""

    daemon_threads = True

    def __init__(self, port: int, cert: Path, key: Path, find_log: LogFinder) -> None:
        self.find_log = find_log
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(str(cert), str(key))
        self.tls.verify_mode = ssl.CERT_NONE  # dev only: the apiserver's client certificate is not checked
        super().__init__(("127.0.0.1", port), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(30)
        try:
            conn = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            log.debug("log server: TLS handshake with %s failed: %s", client_address, e)
            return
        try:
            _Handler(conn, client_address, self)
        finally:
            conn.close()


class _Handler(BaseHTTPRequestHandler):
    server: LogServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("log server: " + format, *args)

    def _reply(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, code: int, reason: str, message: str) -> None:
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }
        self._reply(code, json.dumps(status).encode(), "application/json")

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if url.path == "/healthz":
            self._reply(200, b"ok", "text/plain")
        elif len(parts) == 4 and parts[0] == "containerLogs":
            self._container_logs(parts[1], parts[2], parts[3], parse_qs(url.query))
        else:
            self._error(404, "NotFound", f"the local node does not serve {url.path}")

    def _container_logs(self, namespace: str, pod: str, container: str, query: dict[str, list[str]]) -> None:
        try:
            tail = int(query["tailLines"][0]) if "tailLines" in query else None
            limit = int(query["limitBytes"][0]) if "limitBytes" in query else None
        except ValueError:
            self._error(400, "BadRequest", "tailLines and limitBytes must be integers")
            return
        target = self.server.find_log(namespace, pod, container)
        if target is None:
            message = f"container {container!r} of pod {namespace}/{pod} is not on this node"
            self._error(404, "NotFound", message)
            return
        if not target.path.exists():
            # Plain text, as the kubelet answers: the apiserver shows it to `kubectl logs` as is.
            message = f'container "{container}" in pod "{pod}" is waiting to start'
            self._reply(400, message.encode(), "text/plain")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Connection", "close")  # the body ends when the connection does
        self.end_headers()
        follow = query.get("follow", [""])[0] == "true"
        with contextlib.suppress(TimeoutError, BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self._stream(target, follow=follow, tail=tail, limit=limit)  # until done or the client leaves

    def _stream(self, target: LogTarget, *, follow: bool, tail: int | None, limit: int | None) -> None:
        left = limit if limit is not None else -1
        with target.path.open("rb") as f:
            f.seek(tail_offset(f, tail) if tail is not None else 0)
            while left != 0:
                # Decide "ended" before reading, so the last read drains whatever it wrote.
                ended = not follow or not target.running()
                chunk = f.read(_BLOCK if left < 0 else min(_BLOCK, left))
                if chunk:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    left -= len(chunk) if left > 0 else 0
                elif ended:
                    return
                else:
                    time.sleep(_FOLLOW_POLL_SECONDS)
