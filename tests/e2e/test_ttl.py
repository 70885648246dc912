"""spec.ttlSecondsAfterFinished deletes a finished run and what it owns, without finalizers."""

from __future__ import annotations

from kubernetes.client.exceptions import ApiException

from support import Cluster, OperatorProcess, wait_for, workflow_run


def test_finished_run_is_deleted_after_its_ttl(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    cluster.apply(
        workflow_run("short-lived", "kwf_testflows.steps:StepChain", {"steps": 1}, ttlSecondsAfterFinished=3), namespace
    )
    run = cluster.wait_phase(namespace, "short-lived", "Succeeded")
    assert not run["metadata"].get("finalizers")  # nothing can block deletion

    def gone() -> bool:
        try:
            cluster.run(namespace, "short-lived")
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_for("the run to be deleted", gone, timeout=60)
    wait_for(
        "its Job to be garbage-collected", lambda: not cluster.batch.list_namespaced_job(namespace).items, timeout=60
    )
