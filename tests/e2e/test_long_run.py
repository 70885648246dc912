"""A long run: 3,000 checkpointed steps under the library's default workflow timeout (45 s), which the
workflow's own time fits; checkpoint writes do not count against it. Status stays within its budget."""

from __future__ import annotations

import json

from support import Cluster, OperatorProcess, workflow_run

STATUS_BUDGET_BYTES = 64 * 1024  # README: the WorkflowRun object, checkpoint inline, at any length


def test_3000_steps_succeed_within_the_default_timeout_and_status_stays_small(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(workflow_run("long", "kwf_testflows.loop:Loop", {"steps": 3000}), namespace)
    run = cluster.wait_phase(namespace, "long", "Succeeded", "Failed", timeout=600)
    status = run["status"]
    assert status["phase"] == "Succeeded", status.get("error")
    assert status["result"] == {"steps": 3000}
    assert status["checkpoint"]["stepsCompleted"] == 3000 and status["checkpoint"]["final"] is True
    assert len(status["steps"]) == 50  # the last 50; the rest are counted, not kept
    assert len(json.dumps(run)) <= STATUS_BUDGET_BYTES
