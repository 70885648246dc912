"""The chart's operator as a real container (non-root, read-only root filesystem, liveness probe) from
the project image, and a run under the chart's RBAC, on the real node."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from realnode_support import TESTFLOWS_IMAGE, RealNodeCluster

from support import OperatorProcess, wait_for, workflow_run

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "kube-workflows"
RELEASE = "kwf"


def helm(*args: str, env: dict[str, str]) -> str:
    built = subprocess.run(["bash", str(REPO / "hack" / "build-helm.sh")], capture_output=True, text=True)
    assert built.returncode == 0, f"hack/build-helm.sh failed:\n{built.stderr[-3000:]}"
    result = subprocess.run([built.stdout.strip(), *args], capture_output=True, text=True, env=env)
    assert result.returncode == 0, f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
    return result.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def alone(real_operator: OperatorProcess) -> Iterator[None]:
    """The session's host operator paused: the chart's operator is the only one."""
    real_operator.stop()
    try:
        yield
    finally:
        real_operator.start()


def test_helm_install_runs_a_workflow_under_the_charts_rbac(
    real_cluster: RealNodeCluster, real_namespace: str, alone: None
) -> None:
    namespace, env = real_namespace, real_cluster.env()
    helm(
        "install", RELEASE, str(CHART), "--namespace", namespace,
        "--set-json", f"watch.namespaces={json.dumps([namespace])}",
        # The chart's default image (ghcr.io/kube-workflows/kube-workflows:<appVersion>), built here.
        "--set", f"runner.image={TESTFLOWS_IMAGE}",
        "--set", "hostNetwork=true",
        "--set", f"healthPort={free_port()}",
        "--set-json", "extraEnv=" + json.dumps(
            [
                {"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
                {"name": "KUBERNETES_SERVICE_PORT", "value": str(real_cluster.apiserver_port())},
            ]
        ),
        "--set", "livenessProbe.initialDelaySeconds=2", "--set", "livenessProbe.periodSeconds=2",
        "--wait", "--timeout", "180s",
        env=env,
    )  # fmt: skip
    deployment = f"{RELEASE}-kube-workflows"
    (pod,) = real_cluster.core.list_namespaced_pod(
        namespace, label_selector=f"app.kubernetes.io/instance={RELEASE}"
    ).items
    status = pod.status.container_statuses[0]
    assert status.image == "ghcr.io/kube-workflows/kube-workflows:0.1.0" and status.ready
    # A real container: non-root, read-only root, and the liveness probe the kubelet ran kept it up.
    [container] = real_cluster.node.container_ids(namespace, pod.metadata.name, "operator")
    info = json.loads(real_cluster.node.crictl("inspect", container).stdout)["info"]["runtimeSpec"]
    assert info["process"]["user"]["uid"] == 65532 and info["root"]["readonly"] is True
    assert status.restart_count == 0

    def operator_log() -> str:
        return real_cluster.kubectl("logs", "-n", namespace, f"deployment/{deployment}", check=False).stdout

    run = workflow_run("chart-chain", "kwf_testflows.steps:StepChain", {"steps": 3})
    del run["spec"]["image"]  # the chart's runner.image
    real_cluster.apply(real_cluster.on_node(run), namespace)
    try:
        done = real_cluster.wait_phase(namespace, "chart-chain", "Succeeded", "Failed", timeout=180)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\noperator log:\n{operator_log()[-4000:]}") from None
    assert done["status"]["phase"] == "Succeeded", done["status"].get("error")
    assert done["status"]["result"] == {"steps": 3, "total": 6}
    assert "Handler 'start_run' succeeded" in operator_log()
    assert "Forbidden" not in operator_log()

    helm("uninstall", RELEASE, "--namespace", namespace, "--wait", "--timeout", "90s", env=env)
    wait_for(
        "the operator pod to be gone",
        lambda: (
            not real_cluster.core.list_namespaced_pod(
                namespace, label_selector=f"app.kubernetes.io/instance={RELEASE}"
            ).items
        ),
        timeout=90,
    )
