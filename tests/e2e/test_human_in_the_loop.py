"""A run that waits for a person parks with no pod at all, and resumes from its checkpoint per answer."""

from __future__ import annotations

import json
from pathlib import Path

from support import REPO, Cluster, OperatorProcess, wait_for, workflow_run


def no_pods(cluster: Cluster, namespace: str, name: str) -> bool:
    return not cluster.runner_pods(namespace, name)


def waiting_for(cluster: Cluster, namespace: str, name: str, index: int) -> dict | None:
    run = cluster.run(namespace, name)
    status = run.get("status") or {}
    waiting = status.get("waiting") or {}
    return run if status.get("phase") == "Waiting" and waiting.get("eventIndex") == index else None


def test_two_questions_answered_with_kwf_and_kubectl_patch(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    record = tmp_path / "record"
    cluster.apply(workflow_run("chat", "kwf_testflows.questions:Questions", {"record": str(record)}), namespace)

    run = wait_for("the first question", lambda: waiting_for(cluster, namespace, "chat", 0), timeout=120)
    status = run["status"]
    assert status["waiting"]["requests"][0]["prefix"] == "What is your name?"
    assert status["waiting"]["expects"] == ["workflows.events.HumanResponseEvent"]
    waiting_condition = next(c for c in status["conditions"] if c["type"] == "Waiting")
    assert waiting_condition["status"] == "True" and "What is your name?" in waiting_condition["message"]
    # Parked: no pod of the run exists (its Job is gone too), only its status.
    wait_for("the run's pods to be gone", lambda: no_pods(cluster, namespace, "chat"), timeout=60)
    assert not cluster.batch.list_namespaced_job(namespace).items
    assert not record.exists()  # the asking step's work waits for the answer

    sent = cluster.kwf("send-event", "chat", "-n", namespace, "--data", json.dumps({"response": "Ada"}))
    assert sent.returncode == 0, sent.stderr
    run = wait_for("the second question", lambda: waiting_for(cluster, namespace, "chat", 1), timeout=120)
    assert run["status"]["waiting"]["requests"][0]["prefix"] == "Ada, what is your favourite colour?"
    assert run["status"]["checkpoint"]["eventsDelivered"] == 1
    wait_for("the run's pods to be gone again", lambda: no_pods(cluster, namespace, "chat"), timeout=60)

    # What GitOps tools and plain kubectl can do: append to spec.events.
    answer = [{"op": "add", "path": "/spec/events/-", "value": {"data": {"response": "green"}}}]
    cluster.kubectl("patch", "-n", namespace, "workflowrun", "chat", "--type=json", "-p", json.dumps(answer))
    status = cluster.wait_phase(namespace, "chat", "Succeeded", "Failed", timeout=120)["status"]
    assert status["phase"] == "Succeeded", status.get("conditions")
    assert status["result"] == {"name": "Ada", "colour": "green", "answer": "Ada likes green"}
    assert "waiting" not in status and status["segment"] == 3
    # Each step's work ran exactly once, across three pods.
    steps = [line.split()[0] for line in record.read_text().splitlines()]
    assert steps == ["greet", "ask_color", "finish"]
    reasons = [
        e.reason for e in cluster.core.list_namespaced_event(namespace).items if e.involved_object.name == "chat"
    ]
    assert reasons.count("WaitingForInput") == 2 and reasons.count("Answered") == 2


def test_an_answer_sent_before_the_question_is_used_without_parking(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    events = [{"data": {"response": "Ada"}}, {"data": {"response": "red"}}]
    cluster.apply(workflow_run("ahead", "kwf_testflows.questions:Questions", events=events), namespace)
    status = cluster.wait_phase(namespace, "ahead", "Succeeded", "Failed", timeout=120)["status"]
    assert status["result"]["answer"] == "Ada likes red"
    assert status["segment"] == 1 and status["attempt"] == 1  # one pod answered both


def test_a_bad_answer_is_reported_and_can_be_fixed(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    cluster.apply(
        workflow_run("bad", "kwf_testflows.questions:Questions", events=[{"data": {"response": "Ada"}}]), namespace
    )
    wait_for("the second question", lambda: waiting_for(cluster, namespace, "bad", 1), timeout=120)
    wrong = [{"op": "add", "path": "/spec/events/-", "value": {"data": {"reply": "blue"}}}]
    cluster.kubectl("patch", "-n", namespace, "workflowrun", "bad", "--type=json", "-p", json.dumps(wrong))
    run = wait_for(
        "the answer to be rejected",
        lambda: (lambda r: r if (r["status"].get("waiting") or {}).get("error") else None)(
            waiting_for(cluster, namespace, "bad", 1) or {"status": {}}
        ),
        timeout=120,
    )
    assert run["status"]["waiting"]["error"] == "spec.events[1].data.response: Field required (for Colour)"
    fixed = [{"op": "replace", "path": "/spec/events/1", "value": {"data": {"response": "blue"}}}]
    cluster.kubectl("patch", "-n", namespace, "workflowrun", "bad", "--type=json", "-p", json.dumps(fixed))
    status = cluster.wait_phase(namespace, "bad", "Succeeded", "Failed", timeout=120)["status"]
    assert status["result"]["answer"] == "Ada likes blue"


def test_wait_timeout_fails_a_run_nobody_answers(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    cluster.apply(workflow_run("silent", "kwf_testflows.questions:Questions", waitTimeoutSeconds=3), namespace)
    status = cluster.wait_phase(namespace, "silent", "Failed", "Succeeded", timeout=120)["status"]
    condition = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert condition["reason"] == "WaitTimeout" and "spec.waitTimeoutSeconds (3s)" in condition["message"]
    assert no_pods(cluster, namespace, "silent")
    # The sweep posts the Event too, and goes on: a finished run's TTL still expires after it.
    wait_for(
        "a WaitTimeout Event",
        lambda: any(
            e.reason == "WaitTimeout" and e.involved_object.name == "silent"
            for e in cluster.core.list_namespaced_event(namespace).items
        ),
        timeout=30,
    )
    cluster.apply(
        workflow_run("brief", "kwf_testflows.steps:StepChain", {"steps": 1}, ttlSecondsAfterFinished=1), namespace
    )
    wait_for(
        "the finished run to be deleted after its TTL",
        lambda: "brief" not in cluster.kubectl("get", "wfr", "-n", namespace, "-o", "name").stdout,
        timeout=60,
    )


def test_the_review_example_with_send_event_wait(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", str(REPO / "examples" / "human-in-the-loop.yaml"))
    run = wait_for("the review question", lambda: waiting_for(cluster, namespace, "release-notes", 0), timeout=120)
    assert run["status"]["waiting"]["requests"][0]["prefix"].startswith("Publish these notes?")

    revise = cluster.kwf("send-event", "release-notes", "-n", namespace, "--data", '{"response": "Shorter."}', "--wait")
    assert revise.returncode == 0, revise.stderr
    assert "Shorter." in revise.stdout  # --wait prints the next question
    approve = cluster.kwf("send-event", "release-notes", "-n", namespace, "--data", '{"response": "yes"}', "--wait")
    assert approve.returncode == 0, approve.stderr
    assert json.loads(approve.stdout) == {"published": "Shorter.", "rounds": 2}
