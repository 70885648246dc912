"""Ownership changes of a run (the operator's attempt bump on cancel) against the real API server:
a write built from a read that a runner's claim has overtaken is rejected, and retried from a fresh
read, so the operator never hands out an attempt number a runner holds."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from kube_workflows.controller import actions
from kube_workflows.controller.fence import fenced_status_patch
from support import Cluster, workflow_run

RUNS: dict[str, Any] = {"group": "kube-workflows.dev", "version": "v1alpha1", "plural": "workflowruns"}


def claim(cluster: Cluster, namespace: str, attempt: int) -> None:
    """What a runner's claim writes (a merge patch; the runner fences it on resourceVersion)."""
    runner = {"pod": f"pod-{attempt}", "attempt": attempt, "startedAt": "2026-01-01T00:00:00Z"}
    status = {"attempt": attempt, "phase": "Running", "runner": runner}
    cluster.custom.patch_namespaced_custom_object_status(namespace=namespace, name="r", body={"status": status}, **RUNS)


def json_patch(cluster: Cluster, namespace: str, ops: list[dict[str, Any]]) -> None:
    cluster.custom.patch_namespaced_custom_object_status(
        namespace=namespace, name="r", body=ops, _content_type="application/json-patch+json", **RUNS
    )


@pytest.fixture
def run(cluster: Cluster, crd_installed: None, solo_namespace: str) -> str:
    # No operator acts in a solo namespace: these writes are the only ones.
    cluster.apply(workflow_run("r", "kwf_testflows.steps:StepChain"), solo_namespace)
    return solo_namespace


def test_a_stale_attempt_bump_is_rejected_by_the_api_server(cluster: Cluster, run: str) -> None:
    claim(cluster, run, 1)
    stale = cluster.run(run, "r")
    claim(cluster, run, 2)  # a replacement pod claims after the operator's read
    with pytest.raises(ApiException) as rejected:
        json_patch(cluster, run, fenced_status_patch(stale, {"attempt": 2, "phase": "Cancelled"}))
    assert rejected.value.status == 422  # the `test` op failed: nothing was written
    assert cluster.run(run, "r")["status"]["attempt"] == 2


def test_cancel_from_a_stale_read_rereads_and_fences_the_newer_claim(cluster: Cluster, run: str) -> None:
    claim(cluster, run, 1)
    stale = cluster.run(run, "r")
    claim(cluster, run, 2)
    built_from: list[int] = []

    def cancelled(current: dict[str, Any]) -> dict[str, Any] | None:
        built_from.append(current["status"]["attempt"])
        return actions.cancelled_patch(current)

    assert actions.write_fenced(stale, cancelled) is not None
    assert built_from == [1, 2]  # the first write was rejected; the second was built from a fresh read
    status = cluster.run(run, "r")["status"]
    assert status["phase"] == "Cancelled" and status["attempt"] == 3  # above the runner's claim
    assert next(c for c in status["conditions"] if c["type"] == "Succeeded")["reason"] == "Cancelled"


def test_a_run_with_no_attempt_yet_is_fenced_on_its_resource_version(cluster: Cluster, run: str) -> None:
    stale = cluster.run(run, "r")  # no status at all
    claim(cluster, run, 1)
    with pytest.raises(ApiException) as rejected:
        json_patch(cluster, run, fenced_status_patch(stale, {"attempt": 1, "phase": "Cancelled"}))
    assert rejected.value.status == 422
    assert actions.write_fenced(stale, actions.cancelled_patch) is not None
    assert cluster.run(run, "r")["status"]["attempt"] == 2


def test_a_run_that_finished_meanwhile_stays_finished(cluster: Cluster, run: str) -> None:
    claim(cluster, run, 1)
    stale = cluster.run(run, "r")
    # The runner's final write: the same attempt, a new phase.
    cluster.custom.patch_namespaced_custom_object_status(
        namespace=run, name="r", body={"status": {"phase": "Succeeded"}}, **RUNS
    )
    assert actions.write_fenced(stale, actions.cancelled_patch) is None
    status = cluster.run(run, "r")["status"]
    assert (status["phase"], status["attempt"]) == ("Succeeded", 1)
