"""A workflow that raises fails the run at once, says why, and is not retried."""

from __future__ import annotations

from support import Cluster, OperatorProcess, wait_for, workflow_run


def test_raising_workflow_fails_without_retries(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    cluster.apply(
        workflow_run("raises", "kwf_testflows.failing:RaisesInSecondStep", retry={"maxRestarts": 3}),
        namespace,
    )
    waited = cluster.kubectl(
        "wait",
        "-n",
        namespace,
        "wfr/raises",
        "--for=condition=Succeeded=False",
        "--timeout=120s",
        check=False,
    )
    assert waited.returncode == 0, waited.stderr
    status = cluster.run(namespace, "raises")["status"]
    assert status["phase"] == "Failed"
    assert status["error"]["type"] == "ValueError" and status["error"]["step"] == "second"
    assert "cannot go on" in status["error"]["message"]
    succeeded = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert succeeded["reason"] == "WorkflowRaised" and "ValueError in step second" in succeeded["message"]
    assert len(cluster.runner_pods(namespace, "raises")) == 1  # never retried
    assert not status.get("restarts")


def test_kubectl_wait_for_success(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    cluster.apply(workflow_run("ok", "kwf_testflows.steps:StepChain", {"steps": 2}), namespace)
    waited = cluster.kubectl(
        "wait", "-n", namespace, "wfr/ok", "--for=condition=Succeeded", "--timeout=120s", check=False
    )
    assert waited.returncode == 0, waited.stderr
    got = cluster.kubectl("get", "wfr", "ok", "-n", namespace).stdout
    assert "Succeeded" in got.splitlines()[1]


def test_import_error_fails_with_a_clear_reason(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    cluster.apply(workflow_run("missing", "kwf_testflows.nope:Flow"), namespace)
    status = cluster.wait_phase(namespace, "missing", "Failed")["status"]
    succeeded = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert succeeded["reason"] == "WorkflowNotImportable"
    assert 'module "kwf_testflows.nope" cannot be imported' in succeeded["message"]
    wait_for("no retry pod", lambda: len(cluster.runner_pods(namespace, "missing")) == 1)


def test_a_step_that_exits_0_fails_the_run_instead_of_succeeding(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(workflow_run("exits", "kwf_testflows.failing:ExitsInSecondStep"), namespace)
    status = cluster.wait_phase(namespace, "exits", "Failed", "Succeeded")["status"]
    succeeded = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert (status["phase"], succeeded["reason"]) == ("Failed", "RunnerExitedWithoutResult"), succeeded
    assert "exited 0 without recording a result" in succeeded["message"]
    assert "result" not in status or status["result"] is None
