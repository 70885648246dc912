"""`kwf submit|get|describe|logs` against the real control plane and operator."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from pathlib import Path

from kubernetes.client.exceptions import ApiException

from support import KWF, Cluster, OperatorProcess, wait_for

STEP_LINE = re.compile(r"^step \d+ \S+ done .*— checkpoint \d+", re.MULTILINE)
RESULT = {"steps": 4, "total": 10}


def kwf(
    cluster: Cluster, *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KWF, *args], capture_output=True, text=True, env=env or cluster.env(), timeout=timeout, check=False
    )


def steps_completed(cluster: Cluster, namespace: str, name: str) -> int | None:
    try:
        run = cluster.run(namespace, name)
    except ApiException as exc:
        if exc.status == 404:  # `kwf submit` has not created it yet
            return None
        raise
    return int(((run.get("status") or {}).get("checkpoint") or {}).get("stepsCompleted") or 0)


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def test_submit_wait_then_get_describe_logs(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    submitted = kwf(cluster, "submit", "kwf_testflows.steps:StepChain", "-n", namespace, "--name", "r",
                    "--input", "steps=4", "--wait")  # fmt: skip
    assert submitted.returncode == 0, explain(submitted)
    assert len(STEP_LINE.findall(submitted.stderr)) == 5, explain(submitted)
    assert "step 1 begin done" in submitted.stderr and "attempt 1 started on pod r-" in submitted.stderr
    assert json.loads(submitted.stdout.strip().splitlines()[-1]) == RESULT
    assert submitted.stdout.strip().splitlines()[-1] == '{"steps": 4, "total": 10}'

    got = kwf(cluster, "get", "-n", namespace)
    assert got.returncode == 0, explain(got)
    header, *rows = got.stdout.splitlines()
    assert header.split() == ["NAME", "PHASE", "STEP", "CHECKPOINT", "RESTARTS", "AGE"]
    assert [row.split()[:2] for row in rows] == [["r", "Succeeded"]]
    wide = kwf(cluster, "get", "r", "-n", namespace, "-o", "wide")
    assert wide.returncode == 0 and '{"steps": 4, "total": 10}' in wide.stdout, explain(wide)
    as_json = kwf(cluster, "get", "r", "-n", namespace, "-o", "json")
    assert json.loads(as_json.stdout)["status"]["result"] == RESULT

    described = kwf(cluster, "describe", "r", "-n", namespace)
    assert described.returncode == 0, explain(described)
    text = described.stdout
    assert "Phase:         Succeeded (attempt 1, 0 restarts)" in text
    assert "Step timeline (5 recorded):" in text
    timeline = text.split("Step timeline", 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    assert [line.split()[:3] for line in timeline] == [
        ["1", "begin", "1"],
        ["2", "work", "1"],
        ["3", "work", "1"],
        ["4", "work", "1"],
        ["5", "work", "1"],
    ]
    assert "Checkpoint:    5 (final Context)" in text and "compression" in text
    assert '"total": 10' in text
    assert re.search(r"^  r-\S+\s+Succeeded\s+Terminated\s+0 ", text, re.MULTILINE), text
    assert "Started" in text and "WorkflowRun/r" in text  # the operator's Event

    logs = kwf(cluster, "logs", "r", "-n", namespace)
    assert logs.returncode == 0, explain(logs)
    assert "checkpoint" in logs.stdout and "workflow finished" in logs.stdout


def test_a_raising_workflow_exits_1_and_says_why(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    submitted = kwf(cluster, "submit", "kwf_testflows.failing:RaisesInSecondStep", "-n", namespace, "--wait")
    assert submitted.returncode == 1, explain(submitted)
    assert "Failed: WorkflowRaised: ValueError in step second: the second step cannot go on" in submitted.stderr
    assert submitted.stdout == ""
    name = re.search(r"workflowrun\.kube-workflows\.dev/(raises-in-second-step-\w+) created", submitted.stderr)
    assert name, explain(submitted)
    described = kwf(cluster, "describe", name.group(1), "-n", namespace)
    assert "Error:         WorkflowRaised" in described.stdout and "  Step:        second" in described.stdout


def test_usage_not_found_and_unreachable_exit_codes(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    bad = kwf(cluster, "submit", "badpath", "-n", namespace)
    assert bad.returncode == 2, explain(bad)
    assert 'spec.workflow "badpath" must be "module:Attribute"' in bad.stderr

    missing = kwf(cluster, "get", "nope", "-n", namespace)
    assert missing.returncode == 1, explain(missing)
    assert 'WorkflowRun "nope" not found' in missing.stderr
    assert kwf(cluster, "describe", "nope", "-n", namespace).returncode == 1
    assert kwf(cluster, "logs", "nope", "-n", namespace).returncode == 1

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    closed = tmp_path / "closed.kubeconfig"
    closed.write_text(
        f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:{port}", insecure-skip-tls-verify: true}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: c, context: {{cluster: c, user: u}}}}]
current-context: c
"""
    )
    env = {**cluster.env(), "KUBECONFIG": str(closed)}
    for args in (["get"], ["describe", "r"], ["submit", "kwf_testflows.steps:StepChain"]):
        unreachable = kwf(cluster, *args, env=env, timeout=60)
        assert unreachable.returncode == 3, explain(unreachable)
        assert f"cannot reach the Kubernetes API at https://127.0.0.1:{port}" in unreachable.stderr
        assert "KUBECONFIG" in unreachable.stderr and "kwf dev up" in unreachable.stderr


def test_wait_reports_a_lost_pod_and_the_resume(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    # Step 3 of 4 (the 4th step record, "work" i=3) waits for `release`: the pod is killed while it waits.
    proc = subprocess.Popen(
        [KWF, "submit", "kwf_testflows.steps:StepChain", "-n", namespace, "--name", "held", "--wait",
         "--input", "steps=4", "--input", "hold_at=3", "--input", f"release={release}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cluster.env(),
    )  # fmt: skip
    try:
        wait_for("checkpoint of 3 completed steps", lambda: steps_completed(cluster, namespace, "held") == 3, 120)
        first_pod = cluster.runner_pods(namespace, "held")[0].metadata.name
        cluster.crash_pod(namespace, first_pod)
        release.touch()
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, f"stdout:\n{stdout}\nstderr:\n{stderr}"
    assert "pod lost, resuming from checkpoint 3 (restart 1)" in stderr, stderr
    assert "attempt 2 started on pod held-" in stderr
    assert "step 4 work done" in stderr.split("pod lost, resuming", 1)[1]
    assert len(STEP_LINE.findall(stderr)) == 5, stderr
    assert json.loads(stdout.strip().splitlines()[-1]) == RESULT

    described = kwf(cluster, "describe", "held", "-n", namespace).stdout
    assert "— pod lost, resumed on attempt 2 —" in described
    assert "(attempt 2, 1 restart, 2 jobs)" in described  # the first lost pod is replaced by a new Job at once
    logs = kwf(cluster, "logs", "held", "-n", namespace, "--all-attempts")
    assert logs.returncode == 0, explain(logs)
    assert logs.stdout.count("==> pod held-") == 2
    assert f"==> pod {first_pod} (pod 1 of 2" in logs.stdout and "resuming from checkpoint 3" in logs.stdout
