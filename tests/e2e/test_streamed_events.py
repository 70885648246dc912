"""Streamed events on the real control plane: published with each step's checkpoint, numbered 1..N
across a SIGKILLed pod, each exactly once, and printed by `kwf logs --events` (live with -f) and
`kwf watch`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from support import KWF, Cluster, OperatorProcess, wait_for, workflow_run

STEPS, PER_STEP, HOLD_AT = 6, 3, 4
MESSAGES = [f"step {i} part {j}" for i in range(1, STEPS + 1) for j in range(1, PER_STEP + 1)]
EVENT_LINE = re.compile(r'^\[(\d+)\] \S+ (\S+) (\S+) msg="(.*)"$')


def stream_of(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    return dict((cluster.run(namespace, name).get("status") or {}).get("stream") or {})


def printed(stdout: str) -> list[tuple[int, str]]:
    """(sequence, message) of each event line `kwf logs --events` printed."""
    found = [EVENT_LINE.match(line) for line in stdout.splitlines()]
    return [(int(m.group(1)), m.group(4)) for m in found if m]


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def test_streamed_events_survive_a_killed_pod_each_exactly_once(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    record, release = tmp_path / "record", tmp_path / "release"
    cluster.apply(
        workflow_run(
            "talk",
            "kwf_testflows.streaming:StreamChain",
            {
                "steps": STEPS,
                "per_step": PER_STEP,
                "hold_at": HOLD_AT,
                "release": str(release),
                "record": str(record),
                "delay": 0.05,
            },
        ),
        namespace,
    )
    # A client following the events from the start, across the pod's death.
    follower = subprocess.Popen(
        [KWF, "logs", "talk", "-n", namespace, "--events", "-f"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cluster.env(),
    )
    try:
        # Step 4 has streamed its events and waits: steps 1-3's are published, step 4's are not.
        wait_for("step 4 to stream", lambda: f"{HOLD_AT} 1" in (record.read_text() if record.exists() else ""), 120)
        stream = stream_of(cluster, namespace, "talk")
        assert stream["lastSequence"] == (HOLD_AT - 1) * PER_STEP, stream
        [pod] = cluster.runner_pods(namespace, "talk")
        cluster.crash_pod(namespace, pod.metadata.name)
        release.touch()
        done = cluster.wait_phase(namespace, "talk", "Succeeded", "Failed", timeout=180)
        out, err = follower.communicate(timeout=60)
    finally:
        follower.kill()
    status = done["status"]
    assert status["phase"] == "Succeeded", status.get("error")
    assert status["restarts"] == 1 and status["attempt"] == 2
    # Step 4 ran (and streamed) on both pods; its events were published once, by the second.
    assert record.read_text().splitlines().count(f"{HOLD_AT} 1") == 1
    assert f"{HOLD_AT} 2" in record.read_text().splitlines()
    events = status["stream"]["events"]
    assert [e["sequence"] for e in events] == list(range(1, len(MESSAGES) + 1))
    assert [e["value"]["msg"] for e in events] == MESSAGES
    assert (status["stream"]["firstSequence"], status["stream"]["lastSequence"]) == (1, len(MESSAGES))
    assert {e["type"] for e in events} == {"kwf_testflows.streaming.ProgressEvent"}
    assert follower.returncode == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert printed(out) == list(enumerate(MESSAGES, 1)), out

    logs = subprocess.run(
        [KWF, "logs", "talk", "-n", namespace, "--events"], capture_output=True, text=True, env=cluster.env()
    )
    assert logs.returncode == 0, explain(logs)
    assert printed(logs.stdout) == list(enumerate(MESSAGES, 1)), explain(logs)
    described = subprocess.run(
        [KWF, "describe", "talk", "-n", namespace], capture_output=True, text=True, env=cluster.env()
    )
    assert f"Streamed events ({len(MESSAGES)}, 1-{len(MESSAGES)} kept" in described.stdout, explain(described)
    watched = subprocess.run(
        [KWF, "watch", "talk", "-n", namespace, "--wait-timeout", "60"],
        capture_output=True,
        text=True,
        env=cluster.env(),
    )
    assert watched.returncode == 0, explain(watched)
    lines = watched.stdout.splitlines()
    assert lines[-1].startswith("Succeeded") and "step 2 work done" in watched.stdout
    assert [m for _, m in printed("\n".join(line.strip() for line in lines))] == MESSAGES, explain(watched)


def test_the_streaming_examples_messages_show_in_kwf_logs_events(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    submitted = subprocess.run(
        [KWF, "submit", "kwf_examples.streaming:StreamingWorkflow", "-n", namespace, "--name", "stream", "--wait"],
        capture_output=True,
        text=True,
        env=cluster.env(),
        timeout=180,
    )
    assert submitted.returncode == 0, explain(submitted)
    logs = subprocess.run(
        [KWF, "logs", "stream", "-n", namespace, "--events"], capture_output=True, text=True, env=cluster.env()
    )
    assert logs.returncode == 0, explain(logs)
    tokens = ["Durable ", "workflows ", "keep ", "their ", "place."]
    want = ["Step one is happening", *tokens, "Step three is happening"]
    assert printed(logs.stdout) == list(enumerate(want, 1)), explain(logs)
    steps = [EVENT_LINE.match(line).group(2) for line in logs.stdout.splitlines()]  # type: ignore[union-attr]
    assert steps == ["step_one", *["step_two"] * len(tokens), "step_three"]
