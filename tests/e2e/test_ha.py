"""Two operator replicas with kopf peering: only one acts; the other takes over when it goes."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from support import REPO, Cluster, OperatorProcess, wait_for, workflow_run

PEERING_CRDS = REPO / "charts" / "kube-workflows" / "crds" / "kopf-peering.yaml"


def handled(operator: OperatorProcess) -> int:
    """How many runs this replica started (its log says so for each)."""
    if not operator.log_path.exists():
        return 0
    return operator.log_path.read_text(errors="replace").count("Handler 'start_run' succeeded")


def test_only_one_replica_acts_and_the_other_takes_over(cluster: Cluster, solo_namespace: str, tmp_path: Path) -> None:
    cluster.kubectl("apply", "--server-side", "-f", str(PEERING_CRDS))
    cluster.kubectl("wait", "--for=condition=Established", "crd/kopfpeerings.kopf.dev")
    cluster.apply(
        {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "kube-workflows"}}, solo_namespace
    )
    replicas = [
        OperatorProcess(
            cluster,
            tmp_path / f"replica-{i}.log",
            "--namespace",
            solo_namespace,
            "--peering",
            "kube-workflows",
            "--priority",
            str(100 + i),
        )
        for i in range(2)
    ]
    for replica in replicas:
        replica.start()
    try:
        # Peering settles within a second of startup; until then both replicas act (kopf peering is
        # not leader election), so a rollout should let new replicas settle before old ones leave.
        low, high = replicas

        def peers() -> int:
            peering = cluster.custom.get_namespaced_custom_object(
                "kopf.dev", "v1", solo_namespace, "kopfpeerings", "kube-workflows"
            )
            return len(peering.get("status") or {})

        wait_for("both replicas in the peering object", lambda: peers() == 2, timeout=60)
        time.sleep(2)  # each replica reacts to the other's entry through its watch
        for i in range(3):
            cluster.apply(workflow_run(f"r{i}", "kwf_testflows.steps:StepChain", {"steps": 2}), solo_namespace)
        for i in range(3):
            cluster.wait_phase(solo_namespace, f"r{i}", "Succeeded", timeout=120)
        assert (handled(low), handled(high)) == (0, 3), "both replicas acted, or the wrong one did"
        assert len(cluster.batch.list_namespaced_job(solo_namespace).items) == 3

        high.stop(signal.SIGTERM)  # a clean exit removes it from the peering object at once
        cluster.apply(workflow_run("after", "kwf_testflows.steps:StepChain", {"steps": 2}), solo_namespace)
        cluster.wait_phase(solo_namespace, "after", "Succeeded", timeout=120)
        wait_for("the standby to have handled the new run", lambda: handled(low) == 1)
    finally:
        for replica in replicas:
            replica.stop()
