"""The real-node lane: the dev control plane with a real kubelet, containerd and runc
(`DevCluster.up(node="kubelet")`); runner pods are real containers from images built by
hack/build-images.sh, so nothing here relies on the checkout's PYTHONPATH.

Pods run with `hostNetwork: true` (no traffic leaves loopback) and reach the API server on
127.0.0.1: their namespaces are PodSecurity `privileged`. Needs root. A prerequisite that is missing
(binaries that cannot be built, no root) fails the run; it is never skipped.
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
from realnode_support import TESTFLOWS_IMAGE, RealNodeCluster

from support import OperatorProcess

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def real_cluster() -> Iterator[RealNodeCluster]:
    from kube_workflows_devtools.controlplane import ClusterError, DevCluster

    if os.geteuid() != 0:
        pytest.fail("the real-node lane needs root (containerd and the kubelet run as root)", pytrace=False)
    data_dir = Path(os.environ.get("KWF_REALNODE_DATA_DIR") or tempfile.mkdtemp(prefix="kwf-rn-", dir="/tmp"))
    dev = DevCluster(data_dir)
    try:
        dev.up(log=lambda m: print(m, file=sys.stderr), node="kubelet")
    except (ClusterError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"the real-node dev cluster did not start: {exc}", pytrace=False)
    try:
        yield RealNodeCluster(kubeconfig=dev.kubeconfig, data_dir=data_dir)
    finally:
        if os.environ.get("KWF_TEST_KEEP_CLUSTER") != "1":
            dev.down()


@pytest.fixture(scope="session")
def real_operator(real_cluster: RealNodeCluster) -> Iterator[OperatorProcess]:
    real_cluster.kubectl("apply", "--server-side", "-f", str(REPO / "crds" / "workflowruns.kube-workflows.dev.yaml"))
    real_cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/workflowruns.kube-workflows.dev")
    assert real_cluster.data_dir is not None
    proc = OperatorProcess(real_cluster, real_cluster.data_dir / "operator.log", runner_image=TESTFLOWS_IMAGE)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def real_namespace(real_cluster: RealNodeCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace whose pods may use the host's network (PodSecurity privileged)."""
    name = f"rn-{request.node.name[:30].lower().replace('_', '-').strip('-')}-{uuid.uuid4().hex[:5]}"
    name = "".join(c for c in name if c.isalnum() or c == "-")
    real_cluster.core.create_namespace(
        {
            "metadata": {
                "name": name,
                "labels": {"kube-workflows.dev/test": "true", "pod-security.kubernetes.io/enforce": "privileged"},
            }
        }
    )
    try:
        yield name
    finally:
        real_cluster.core.delete_namespace(name)
