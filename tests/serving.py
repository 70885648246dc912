"""`kwf serve` on the dev cluster, for the tests that drive it (the llama-agents client, the debugger UI):
templates applied, a kubeconfig holding only the chart's serve identity, the server on a free local port."""

from __future__ import annotations

import contextlib
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import yaml

from kube_workflows.models import GROUP, VERSION
from support import KWF, REPO, Cluster, wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[str] | None = None) -> None:
    def healthy() -> bool:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the server exited {proc.returncode}")
        try:
            return httpx.get(f"{url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(f"{url} to answer /health", healthy, 60)


def chart_identity(cluster: Cluster, namespace: str, tmp_path: Path) -> Path:
    """A kubeconfig holding a token of the ServiceAccount the chart gives `kwf serve` (serve.enabled), bound
    to the chart's Role in `namespace`: the tests pass with those rights alone."""
    built = subprocess.run(["bash", str(REPO / "hack" / "build-helm.sh")], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    helm = built.stdout.strip().splitlines()[-1]
    values = ["--set", "serve.enabled=true", "--show-only", "templates/serve.yaml"]
    rendered = subprocess.run(
        [helm, "template", "kwf", str(REPO / "charts" / "kube-workflows"), "-n", namespace, *values],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] in ("ServiceAccount", "Role", "RoleBinding")]
    assert sorted(d["kind"] for d in docs) == ["Role", "RoleBinding", "ServiceAccount"]
    for doc in docs:
        cluster.apply(doc, namespace)
    [account] = [d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount"]
    token = cluster.core.create_namespaced_service_account_token(
        account, namespace, {"spec": {"expirationSeconds": 3600}}
    ).status.token
    config = cluster.api.configuration
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "dev", "cluster": {"server": config.host, "certificate-authority": config.ssl_ca_cert}}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": "serve", "context": {"cluster": "dev", "user": account, "namespace": namespace}}],
        "current-context": "serve",
    }
    path = tmp_path / "serve.kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    return path


@contextlib.contextmanager
def kwf_serve(cluster: Cluster, namespace: str, tmp_path: Path, templates: dict[str, str]) -> Iterator[str]:
    """`kwf serve` over `namespace`, with a WorkflowTemplate per `templates` entry (name -> spec.workflow,
    image "local"), acting as the chart's serve ServiceAccount; yields its URL. Its log is printed after."""
    for name, workflow in templates.items():
        template = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "WorkflowTemplate", "metadata": {"name": name}}
        cluster.apply({**template, "spec": {"workflow": workflow, "image": "local"}}, namespace)
    kubeconfig = chart_identity(cluster, namespace, tmp_path)
    port = free_port()
    with open(tmp_path / "serve.log", "w+") as log:
        proc = subprocess.Popen(
            [KWF, "serve", "--host", "127.0.0.1", "--port", str(port)],  # the namespace: the kubeconfig's
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env={**cluster.env(), "KUBECONFIG": str(kubeconfig)},
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, proc)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.seek(0)
            print(log.read())  # shown with a failure
