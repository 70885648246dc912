"""A run's child objects never take another's name, and a name already taken fails the run clearly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from support import Cluster, OperatorProcess, wait_for, workflow_run


def test_a_run_named_like_another_runs_next_job_does_not_take_it(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    # Issue 12, case 3: `col` waits for input; `col-s2`'s first Job is named `col-s2`, which was the
    # name of `col`'s next Job: the operator got 409, took that Job for col's, and col never went on.
    cluster.apply(workflow_run("col", "kwf_testflows.questions:Questions"), namespace)
    wait_for(
        "col to wait for input",
        lambda: (cluster.run(namespace, "col").get("status") or {}).get("phase") == "Waiting",
        timeout=120,
    )
    cluster.apply(workflow_run("col-s2", "kwf_testflows.steps:StepChain", {"steps": 1}), namespace)
    cluster.wait_phase(namespace, "col-s2", "Succeeded")
    answers = [
        {"op": "add", "path": "/spec/events", "value": [{"data": {"response": "Ada"}}, {"data": {"response": "red"}}]}
    ]
    cluster.kubectl("patch", "-n", namespace, "wfr", "col", "--type=json", "-p", json.dumps(answers))
    status = cluster.wait_phase(namespace, "col", "Succeeded", "Failed", timeout=120)["status"]
    assert status["phase"] == "Succeeded", status.get("conditions")
    assert status["result"]["answer"] == "Ada likes red"
    uid = cluster.run(namespace, "col")["metadata"]["uid"]
    assert status["jobName"] == f"col-{uid[:8]}-s2"
    owners = {
        j.metadata.name: [o.name for o in j.metadata.owner_references or []]
        for j in cluster.batch.list_namespaced_job(namespace).items
    }
    assert owners.get("col-s2") == ["col-s2"], owners  # the other run's Job is still its own


def foreign(kind: str, name: str) -> dict[str, Any]:
    """An object nobody's WorkflowRun controls, named like a run's child."""
    meta = {"name": name, "labels": {"team": "other"}}
    if kind == "Job":
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": meta,
            "spec": {
                "suspend": True,  # it never runs a pod: only its name matters
                "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}},
            },
        }
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}


@pytest.mark.parametrize(("kind", "name"), [("Job", "taken"), ("ServiceAccount", "taken-runner")])
def test_a_child_name_taken_by_someone_else_fails_the_run(
    cluster: Cluster, operator: OperatorProcess, namespace: str, kind: str, name: str
) -> None:
    cluster.apply(foreign(kind, name), namespace)
    cluster.apply(workflow_run("taken", "kwf_testflows.steps:StepChain", {"steps": 1}), namespace)
    status = cluster.wait_phase(namespace, "taken", "Failed", "Succeeded", timeout=60)["status"]
    condition = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert (status["phase"], condition["reason"]) == ("Failed", "ChildNameConflict"), status
    assert f"{kind} {name} already exists" in condition["message"], condition
    assert "not controlled by any object" in condition["message"], condition
    assert not cluster.runner_pods(namespace, "taken")
    # Left as it was: not adopted, not deleted.
    kind_arg = "job" if kind == "Job" else "serviceaccount"
    got = json.loads(cluster.kubectl("get", kind_arg, name, "-n", namespace, "-o", "json").stdout)
    assert not got["metadata"].get("ownerReferences") and got["metadata"]["labels"] == {"team": "other"}
