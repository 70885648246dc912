"""Test harness: one real local control plane per session, the operator, a namespace per test.

`KWF_TEST_CLUSTER=existing` uses the current KUBECONFIG instead (kind, k3d, a real cluster): then
the operator is still started locally, and pod-crash helpers that need the local node are unavailable.
A cluster that cannot start fails the run; it is never skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

from local_postgres import LocalPostgres  # noqa: E402
from support import Cluster, OperatorProcess  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(f"/{lane}/" in str(item.path) for lane in ("integration", "e2e", "realnode")):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    mode = os.environ.get("KWF_TEST_CLUSTER", "local")
    if mode == "existing":
        kubeconfig = os.environ.get("KUBECONFIG")
        if not kubeconfig:
            pytest.fail("KWF_TEST_CLUSTER=existing needs KUBECONFIG to point at the cluster")
        yield Cluster(kubeconfig=Path(kubeconfig), data_dir=None)
        return
    from kube_workflows_devtools.controlplane import ClusterError, DevCluster

    # The pods on the local node import test and example workflows from this checkout.
    paths = [str(REPO / "examples"), str(REPO / "tests" / "workflows")]
    os.environ["PYTHONPATH"] = os.pathsep.join(
        paths + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p not in paths]
    )
    data_dir = Path(os.environ.get("KWF_TEST_DATA_DIR") or tempfile.mkdtemp(prefix="kwf-test-cluster-"))
    dev = DevCluster(data_dir)
    try:
        dev.up(log=lambda m: print(m, file=sys.stderr))
    except (ClusterError, subprocess.CalledProcessError) as exc:
        # Never a skip: a missing cluster is a failed run (CI or not).
        pytest.fail(f"the local control plane did not start: {exc}", pytrace=False)
    os.environ["KUBECONFIG"] = str(dev.kubeconfig)
    try:
        yield Cluster(kubeconfig=dev.kubeconfig, data_dir=data_dir)
    finally:
        if os.environ.get("KWF_TEST_KEEP_CLUSTER") != "1":
            dev.down()


@pytest.fixture(scope="session")
def crd_installed(cluster: Cluster) -> None:
    cluster.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
    for plural in ("workflowruns", "cronworkflowruns", "workflowtemplates"):
        cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{plural}.kube-workflows.dev")


@pytest.fixture(scope="session")
def operator(cluster: Cluster, crd_installed: None) -> Iterator[OperatorProcess]:
    log_dir = cluster.data_dir or Path(tempfile.mkdtemp(prefix="kwf-operator-"))
    # Cluster-wide, as installed by default. Tests that run operators of their own pause it.
    proc = OperatorProcess(cluster, log_dir / "operator.log")
    proc.start()
    _session_operators.append(proc)
    try:
        yield proc
    finally:
        _session_operators.remove(proc)
        proc.stop()


_session_operators: list[OperatorProcess] = []


def _test_namespace(cluster: Cluster, request: pytest.FixtureRequest, prefix: str) -> Iterator[str]:
    name = f"{prefix}-{request.node.name[:30].lower().replace('_', '-').strip('-')}-{uuid.uuid4().hex[:5]}"
    name = "".join(c for c in name if c.isalnum() or c == "-")
    cluster.core.create_namespace({"metadata": {"name": name, "labels": {"kube-workflows.dev/test": "true"}}})
    try:
        yield name
    finally:
        cluster.core.delete_namespace(name)


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace that the session's operator watches."""
    yield from _test_namespace(cluster, request, "t")


@pytest.fixture
def solo_namespace(cluster: Cluster, crd_installed: None, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace with no operator acting on it: the session's operator is paused meanwhile, for
    tests that run operators of their own (restarts, HA, metrics, the Helm chart)."""
    paused = [p for p in _session_operators if p.proc is not None and p.proc.poll() is None]
    for proc in paused:
        proc.stop()
    try:
        yield from _test_namespace(cluster, request, "solo")
    finally:
        for proc in paused:
            proc.start()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres]:
    """A PostgreSQL server of the session's own (127.0.0.1). A missing PostgreSQL fails, never skips."""
    try:
        server = LocalPostgres()
        server.start()
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        pytest.fail(f"the test PostgreSQL did not start: {exc} {detail.decode(errors='replace')}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_dsn(postgres_server: LocalPostgres) -> str:
    """The DSN of a fresh, empty database on the session's PostgreSQL."""
    return postgres_server.database()
