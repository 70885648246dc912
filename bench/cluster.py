"""What the measures run against: a dev cluster on a data dir of its own, the CRD, `kwf operator`.

    with BenchCluster() as bench:
        namespace = bench.namespace("start")
        ...

The operator runs as a subprocess, cluster-wide as installed by default, with the runner image
"local" (pods run `kwf runner` from this checkout on the local node, which imports the examples
and test workflows through PYTHONPATH). The node runs in fake-run mode, which only changes pods
that ask for it (`bench/scale.py`). Everything is stopped and the data dir removed on exit
(KWF_BENCH_KEEP_DATA=1 keeps the data dir, logs included).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from kube_workflows.kube import WORKFLOWRUN
from kube_workflows_devtools.controlplane import DevCluster
from support import Cluster, OperatorProcess, wait_for

REPO = Path(__file__).resolve().parents[1]
POD_PYTHONPATH = [str(REPO / "examples"), str(REPO / "tests" / "workflows")]


class BenchCluster:
    """A dev cluster with the CRD and the operator; a context manager that tears it all down."""

    def __init__(self) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="kwf-bench-"))
        self.dev = DevCluster(self.data_dir)
        self.cluster = Cluster(kubeconfig=self.dev.kubeconfig, data_dir=self.data_dir)
        self.operator = OperatorProcess(self.cluster, self.data_dir / "operator.log")
        self.scratch = self.data_dir / "scratch"  # files the pods and the bench share (timestamps)

    def __enter__(self) -> BenchCluster:
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.down()

    def up(self) -> None:
        os.environ["PYTHONPATH"] = os.pathsep.join(
            [*POD_PYTHONPATH, *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)]
        )
        self.dev.up(log=lambda m: print(f"  {m}", file=sys.stderr), fake_run=True)
        os.environ["KUBECONFIG"] = str(self.dev.kubeconfig)  # for kube_workflows.kube in this process
        self.cluster.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        self.cluster.kubectl("wait", "--for=condition=Established", "crd/workflowruns.kube-workflows.dev")
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.operator.start()

    def down(self) -> None:
        self.operator.stop()
        self.dev.down()
        if os.environ.get("KWF_BENCH_KEEP_DATA") == "1":
            print(f"  kept {self.data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def restart_operator(self) -> OperatorProcess:
        """A fresh `kwf operator` (same log file), e.g. to measure its memory from a clean start."""
        self.operator.stop()
        self.operator = OperatorProcess(self.cluster, self.data_dir / "operator.log")
        self.operator.start()
        return self.operator

    def processes(self) -> dict[str, int]:
        """Name → pid of every process of the cluster, the operator and this one ("bench")."""
        state = self.dev.load_state()
        pids = dict(state.pids) if state else {}
        if self.operator.proc is not None:
            pids["operator"] = self.operator.proc.pid
        return {**pids, "bench": os.getpid()}

    def namespace(self, prefix: str) -> str:
        name = f"bench-{prefix}-{uuid.uuid4().hex[:5]}"
        self.cluster.core.create_namespace({"metadata": {"name": name}})
        return name

    def delete_namespace(self, name: str) -> None:
        """Delete it without waiting (what is left of its runs goes in the background)."""
        self.cluster.core.delete_namespace(name)

    def wait_namespaces_gone(self, timeout: float = 300) -> None:
        """Until every namespace of the measures so far has been deleted, its runs, Jobs and pods with it."""

        def gone() -> bool:
            names = [ns.metadata.name for ns in self.cluster.core.list_namespace().items if ns.metadata]
            return not any(n.startswith("bench-") for n in names)

        wait_for("the namespaces of earlier measures to be deleted", gone, timeout, interval=0.5)

    def create_run(self, namespace: str, body: dict[str, Any]) -> None:
        self.cluster.custom.create_namespaced_custom_object(namespace=namespace, body=body, **WORKFLOWRUN)
