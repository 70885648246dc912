"""The TTL and wait-timeout sweep against the real API server: a timer made for one run never deletes or
fails another run of the same name, nor the same run on a later question."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from kube_workflows.controller import sweeper
from kube_workflows.controller.timers import Timer, ttl_timer
from support import Cluster, wait_for, workflow_run

RUNS: dict[str, Any] = {"group": "kube-workflows.dev", "version": "v1alpha1", "plural": "workflowruns"}


def exists(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return cluster.run(namespace, name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def set_status(cluster: Cluster, namespace: str, status: dict[str, Any]) -> dict[str, Any]:
    cluster.custom.patch_namespaced_custom_object_status(namespace=namespace, name="r", body={"status": status}, **RUNS)
    return cluster.run(namespace, "r")


def recreate(cluster: Cluster, namespace: str, **spec: Any) -> tuple[str, str]:
    """(uid of the first run named r, uid of the one that replaced it)."""
    cluster.apply(workflow_run("r", "kwf_testflows.steps:StepChain", **spec), namespace)
    old = cluster.run(namespace, "r")["metadata"]["uid"]
    cluster.kubectl("delete", "wfr", "r", "-n", namespace, "--wait=true")
    cluster.apply(workflow_run("r", "kwf_testflows.steps:StepChain", **spec), namespace)
    return old, cluster.run(namespace, "r")["metadata"]["uid"]


@pytest.fixture
def namespace(cluster: Cluster, crd_installed: None, solo_namespace: str) -> str:
    return solo_namespace  # no operator acts here: the sweep's calls below are the only ones


def test_the_delete_carries_the_uid_so_a_recreated_run_survives(cluster: Cluster, namespace: str) -> None:
    old, new = recreate(cluster, namespace)
    sweeper.delete_run(namespace, "r", old)
    assert (exists(cluster, namespace, "r") or {}).get("metadata", {}).get("uid") == new
    sweeper.delete_run(namespace, "r", new)
    wait_for("the run to be deleted", lambda: exists(cluster, namespace, "r") is None)


def test_an_old_ttl_timer_does_not_delete_a_recreated_run(cluster: Cluster, namespace: str) -> None:
    old, new = recreate(cluster, namespace, ttlSecondsAfterFinished=1)
    fresh = set_status(cluster, namespace, {"phase": "Succeeded", "completionTime": "2026-01-01T00:00:00Z"})
    timer = ttl_timer(fresh)
    assert timer is not None and timer.uid == new
    stale = Timer(namespace=namespace, name="r", uid=old, deadline=0)
    sweeper.expire(stale)
    assert exists(cluster, namespace, "r") is not None
    sweeper.expire(timer)  # the run's own timer, long past
    wait_for("the run to be deleted", lambda: exists(cluster, namespace, "r") is None)


def test_a_wait_timer_does_not_fail_the_runs_next_question(cluster: Cluster, namespace: str) -> None:
    cluster.apply(workflow_run("r", "kwf_testflows.questions:Questions", waitTimeoutSeconds=1), namespace)
    first, second = "2026-01-01T00:00:00Z", "2026-01-01T00:10:00Z"
    run = set_status(
        cluster, namespace, {"phase": "Waiting", "attempt": 2, "waiting": {"since": second, "eventIndex": 1}}
    )
    timer = Timer(namespace=namespace, name="r", uid=run["metadata"]["uid"], deadline=0, since=first)
    sweeper.time_out(timer)  # made for the first question, which was answered
    status = cluster.run(namespace, "r")["status"]
    assert status["phase"] == "Waiting" and status["waiting"]["since"] == second
