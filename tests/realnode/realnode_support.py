"""Helpers of the real-node lane: a `Cluster` that knows its kubelet node and how pods run on it."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

from support import Cluster

VERSION = "0.1.0"
TESTFLOWS_IMAGE = f"ghcr.io/kube-workflows/kube-workflows-testflows:{VERSION}"


class RealNodeCluster(Cluster):
    """A `Cluster` on the real node, with the runtime's view of its containers."""

    @property
    def node(self) -> Any:
        from kube_workflows_devtools.controlplane import DevCluster
        from kube_workflows_devtools.realnode import RealNode

        assert self.data_dir is not None
        return RealNode(DevCluster(self.data_dir))

    def apiserver_port(self) -> int:
        from kube_workflows_devtools.controlplane import DevCluster

        assert self.data_dir is not None
        state = DevCluster(self.data_dir).load_state()
        assert state is not None
        return state.apiserver_port

    def on_node(self, run: dict[str, Any], *, host_dirs: tuple[Path, ...] = ()) -> dict[str, Any]:
        """The WorkflowRun as this lane runs it: hostNetwork, the API server on loopback, and the
        host directories a test shares with the workflow mounted at the same path."""
        spec = run["spec"]
        spec.setdefault("image", TESTFLOWS_IMAGE)
        template = spec.setdefault("template", {})
        template["hostNetwork"] = True
        template.setdefault("env", []).extend(
            [
                {"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
                {"name": "KUBERNETES_SERVICE_PORT", "value": str(self.apiserver_port())},
            ]
        )
        for i, directory in enumerate(host_dirs):
            directory.chmod(0o777)  # the runner is uid 65532
            template.setdefault("volumes", []).append(
                {"name": f"host-{i}", "hostPath": {"path": str(directory), "type": "Directory"}}
            )
            template.setdefault("volumeMounts", []).append({"name": f"host-{i}", "mountPath": str(directory)})
        return run

    def kill_runner(self, namespace: str, pod: str) -> None:
        """SIGKILL the runner container's init through the runtime's view of it (crictl), as the OOM
        killer or a crash would: no SIGTERM, no last checkpoint, and the API learns it from the kubelet."""
        node = self.node
        [container] = node.container_ids(namespace, pod)
        info = json.loads(node.crictl("inspect", container).stdout)["info"]
        os.kill(int(info["pid"]), signal.SIGKILL)
