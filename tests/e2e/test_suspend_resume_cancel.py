"""spec.suspend stops a run's pod after the running step's checkpoint and resumes it later (across an
operator restart); spec.cancel ends it for good and removes its pods."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from support import Cluster, OperatorProcess, wait_for, workflow_run

STEPS = 12
RESULT = {"steps": STEPS, "total": sum(range(1, STEPS + 1))}


def steps_done(cluster: Cluster, namespace: str, name: str) -> int:
    return int(((cluster.run(namespace, name).get("status") or {}).get("checkpoint") or {}).get("stepsCompleted") or 0)


def running_pods(cluster: Cluster, namespace: str, name: str) -> list[str]:
    return [p.metadata.name for p in cluster.runner_pods(namespace, name) if p.status.phase in ("Pending", "Running")]


def test_suspend_survives_an_operator_restart_and_resumes_without_rerunning_steps(
    cluster: Cluster, solo_namespace: str, tmp_path: Path
) -> None:
    namespace, record = solo_namespace, tmp_path / "record"
    operator = OperatorProcess(cluster, tmp_path / "operator.log", "--namespace", namespace)
    operator.start()
    try:
        chain = workflow_run(
            "long", "kwf_testflows.steps:StepChain", {"steps": STEPS, "delay": 0.4, "record": str(record)}
        )
        cluster.apply(chain, namespace)
        wait_for("3 steps", lambda: steps_done(cluster, namespace, "long") >= 3, timeout=120)
        assert cluster.kwf("suspend", "long", "-n", namespace).returncode == 0

        run = cluster.wait_phase(namespace, "long", "Suspended", timeout=60)
        wait_for("the pod to stop", lambda: not running_pods(cluster, namespace, "long"), timeout=60)
        paused_at = steps_done(cluster, namespace, "long")
        assert paused_at < STEPS, "suspended too late to show anything"

        operator.stop()
        time.sleep(2)
        assert steps_done(cluster, namespace, "long") == paused_at, "a suspended run went on"
        operator.start()
        time.sleep(2)
        assert cluster.run(namespace, "long")["status"]["phase"] == "Suspended"
        assert not running_pods(cluster, namespace, "long")

        assert cluster.kwf("resume", "long", "-n", namespace).returncode == 0
        run = cluster.wait_phase(namespace, "long", "Succeeded", "Failed", timeout=180)
    finally:
        operator.stop()
    status = run["status"]
    assert status["phase"] == "Succeeded" and status["result"] == RESULT
    # The pod stopped after the running step's checkpoint: every step's side effect happened once.
    counts = Counter(int(line.split()[1]) for line in record.read_text().splitlines())
    assert counts == Counter(range(1, STEPS + 1)), counts
    assert status.get("restarts", 0) == 0  # a suspension is not a failure
    assert status["attempt"] == 2  # one pod before the suspension, one after (the Job deleted the first)


def test_suspended_from_the_start_runs_nothing_until_resumed(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(workflow_run("later", "kwf_testflows.steps:StepChain", {"steps": 2}, suspend=True), namespace)
    cluster.wait_phase(namespace, "later", "Suspended", timeout=60)
    time.sleep(2)
    assert not cluster.runner_pods(namespace, "later")
    patch = {"spec": {"suspend": False}}
    cluster.kubectl("patch", "-n", namespace, "workflowrun", "later", "--type=merge", "-p", json.dumps(patch))
    assert cluster.wait_phase(namespace, "later", "Succeeded", "Failed")["status"]["phase"] == "Succeeded"


def test_cancel_removes_the_pods_and_is_final(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    record = tmp_path / "record"
    chain = workflow_run("doomed", "kwf_testflows.steps:StepChain", {"steps": 50, "delay": 0.3, "record": str(record)})
    cluster.apply(chain, namespace)
    wait_for("2 steps", lambda: steps_done(cluster, namespace, "doomed") >= 2, timeout=120)
    assert cluster.kwf("cancel", "doomed", "-n", namespace).returncode == 0

    status = cluster.wait_phase(namespace, "doomed", "Cancelled", timeout=60)["status"]
    condition = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert condition["status"] == "False" and condition["reason"] == "Cancelled"
    assert status["completionTime"]
    wait_for("its pods to be gone", lambda: not cluster.runner_pods(namespace, "doomed"), timeout=60)
    assert not cluster.batch.list_namespaced_job(namespace).items
    done = len(record.read_text().splitlines())
    time.sleep(2)
    assert len(record.read_text().splitlines()) == done < 50
    assert cluster.run(namespace, "doomed")["status"]["phase"] == "Cancelled"

    undo = cluster.kubectl(
        "patch",
        "-n",
        namespace,
        "workflowrun",
        "doomed",
        "--type=merge",
        "-p",
        '{"spec":{"cancel":false}}',
        check=False,
    )
    assert undo.returncode != 0 and "spec.cancel cannot be undone" in undo.stderr


def test_a_waiting_run_can_be_suspended_and_cancelled(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(workflow_run("asks", "kwf_testflows.questions:Questions"), namespace)
    cluster.wait_phase(namespace, "asks", "Waiting", timeout=120)
    assert cluster.kwf("suspend", "asks", "-n", namespace).returncode == 0
    cluster.wait_phase(namespace, "asks", "Suspended", timeout=60)
    # An answer sent while suspended waits for the resume.
    assert cluster.kwf("send-event", "asks", "-n", namespace, "--data", '{"response": "Ada"}').returncode == 0
    time.sleep(2)
    assert cluster.run(namespace, "asks")["status"]["phase"] == "Suspended"
    assert not cluster.runner_pods(namespace, "asks")
    assert cluster.kwf("resume", "asks", "-n", namespace).returncode == 0
    wait_for(
        "the second question",
        lambda: (
            ((cluster.run(namespace, "asks").get("status") or {}).get("waiting") or {}).get("eventIndex") == 1
            and cluster.run(namespace, "asks")["status"]["phase"] == "Waiting"
        ),
        timeout=120,
    )
    assert cluster.kwf("cancel", "asks", "-n", namespace).returncode == 0
    assert cluster.wait_phase(namespace, "asks", "Cancelled", timeout=60)["status"]["phase"] == "Cancelled"
