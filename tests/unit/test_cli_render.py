"""The `kwf` run commands' pure parts: tables, progress lines, the describe view, submit's spec from flags."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from kube_workflows.cli import api, describe, render, runs, specs
from kube_workflows.cli.main import build_parser
from kube_workflows.models import WorkflowRunSpec

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


def step(seq: int, name: str = "work", attempt: int = 1, ms: int | None = 12) -> dict[str, Any]:
    record: dict[str, Any] = {
        "name": name,
        "seq": seq,
        "attempt": attempt,
        "completedAt": f"2025-01-01T11:59:{seq:02d}.000Z",
    }
    if ms is not None:
        record["durationMs"] = ms
    return record


def checkpoint(seq: int, *, final: bool = False, attempt: int = 1) -> dict[str, Any]:
    return {
        "seq": seq,
        "attempt": attempt,
        "step": "work",
        "stepsCompleted": seq,
        "final": final,
        "encoding": "json+zlib+base64",
        "sizeBytes": 4000,
        "storedBytes": 1000,
        "sha256": "ab" * 32,
        "time": "2025-01-01T11:59:50Z",
        "data": "eJw=",
    }


def a_run(name: str = "r", **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kube-workflows.dev/v1alpha1",
        "kind": "WorkflowRun",
        "metadata": {"name": name, "namespace": "ns", "creationTimestamp": "2025-01-01T11:58:00Z"},
        "spec": {"workflow": "kwf_testflows.steps:StepChain", "input": {"steps": 4}},
        "status": status,
    }


SUCCEEDED = {
    "phase": "Succeeded",
    "attempt": 1,
    "restarts": 0,
    "checkpoint": checkpoint(5, final=True),
    "steps": [step(1, "begin"), *(step(i) for i in range(2, 6))],
    "result": {"steps": 4, "total": 10},
    "startTime": "2025-01-01T11:58:00Z",
    "completionTime": "2025-01-01T11:58:03Z",
    "conditions": [
        {"type": "Succeeded", "status": "True", "reason": "Succeeded", "message": "the workflow returned a result"},
        {"type": "Running", "status": "False", "reason": "Succeeded", "message": "the workflow returned a result"},
    ],
}
FAILED = {
    "phase": "Failed",
    "attempt": 1,
    "restarts": 0,
    "steps": [step(1, "first")],
    "error": {
        "reason": "WorkflowRaised",
        "type": "ValueError",
        "message": "the second step cannot go on",
        "step": "second",
        "traceback": 'Traceback (most recent call last):\n  File "x.py", line 1\n'
        "ValueError: the second step cannot go on\n",
    },
    "conditions": [
        {
            "type": "Succeeded",
            "status": "False",
            "reason": "WorkflowRaised",
            "message": "ValueError in step second: the second step cannot go on",
        }
    ],
}


# --- small pieces ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59, "59s"), (119, "119s"), (150, "2m30s"), (600, "10m"), (3 * 3600 + 60, "3h1m"), (30 * 3600, "30h")],
)
def test_human_duration_is_kubectl_like(seconds: int, text: str) -> None:
    assert render.human_duration(seconds) == text


def test_age_and_sizes() -> None:
    assert render.age("2025-01-01T11:59:30Z", NOW) == "30s"
    assert render.age("2025-01-01T11:59:30.250Z", NOW) == "29s"
    assert render.age(None, NOW) == "-"
    assert render.format_ms(12) == "12 ms" and render.format_ms(1500) == "1.5 s" and render.format_ms(None) == "-"
    assert render.format_bytes(900) == "900 B" and render.format_bytes(2048) == "2.0 KiB"


def test_table_aligns_columns_and_passes_separator_rows() -> None:
    text = render.table(["A", "LONGER"], [["xxxx", "1"], "-- note --", ["y", "2"]])
    assert text.splitlines() == ["A      LONGER", "xxxx   1", "-- note --", "y      2"]


# --- kwf get --------------------------------------------------------------------------------
def test_runs_table() -> None:
    running = a_run("b", phase="Running", currentStep="work", checkpoint=checkpoint(3), restarts=1, attempt=2)
    lines = render.runs_table([a_run("a", **SUCCEEDED), running, a_run("c")], NOW).splitlines()
    assert lines[0].split() == ["NAME", "PHASE", "STEP", "CHECKPOINT", "RESTARTS", "AGE"]
    assert lines[1].split() == ["a", "Succeeded", "work", "5", "0", "2m"]  # the last completed step
    assert lines[2].split() == ["b", "Running", "work", "3", "1", "2m"]
    assert lines[3].split() == ["c", "-", "-", "-", "0", "2m"]


def test_runs_table_wide_and_all_namespaces() -> None:
    lines = render.runs_table(
        [a_run("a", **SUCCEEDED), a_run("f", **FAILED)], NOW, wide=True, all_namespaces=True
    ).splitlines()
    assert lines[0].split() == [
        "NAMESPACE",
        "NAME",
        "PHASE",
        "STEP",
        "CHECKPOINT",
        "RESTARTS",
        "AGE",
        "WORKFLOW",
        "ATTEMPT",
        "RESULT/ERROR",
    ]
    assert lines[1].startswith("ns ") and lines[1].endswith('{"steps": 4, "total": 10}')
    assert "WorkflowRaised: ValueError in step second" in lines[2]
    assert "kwf_testflows.steps:StepChain" in lines[2]


def test_short_outcome_truncates() -> None:
    status = {"phase": "Succeeded", "result": {"text": "x" * 200}}
    assert len(render.short_outcome(status, limit=30)) == 30
    assert render.short_outcome(status, limit=30).endswith("…")
    assert render.short_outcome({"phase": "Running"}) == "-"


# --- progress lines ---------------------------------------------------------------------------
def test_progress_prints_each_new_step_once() -> None:
    first = {"phase": "Running", "attempt": 1, "runner": {"pod": "r-abc"}, "steps": [step(1, "begin")]}
    assert render.progress_lines({}, first) == [
        "attempt 1 started on pod r-abc",
        "step 1 begin done (12 ms) — checkpoint 1, attempt 1",
    ]
    second = {**first, "steps": [step(1, "begin"), step(2), step(3, ms=None)]}
    assert render.progress_lines(first, second) == [
        "step 2 work done (12 ms) — checkpoint 2, attempt 1",
        "step 3 work done — checkpoint 3, attempt 1",
    ]
    assert render.progress_lines(second, second) == []


def test_progress_marks_the_final_checkpoint() -> None:
    old = {"phase": "Running", "attempt": 1, "steps": [step(1)]}
    new = {"phase": "Running", "attempt": 1, "steps": [step(1), step(2)], "checkpoint": checkpoint(2, final=True)}
    assert render.progress_lines(old, new) == ["step 2 work done (12 ms) — checkpoint 2 (final), attempt 1"]


def test_progress_on_a_lost_pod_and_the_resume() -> None:
    before = {"phase": "Running", "attempt": 1, "restarts": 0, "checkpoint": checkpoint(4), "steps": [step(4)]}
    lost = {**before, "restarts": 1}
    assert render.progress_lines(before, lost) == ["pod lost, resuming from checkpoint 4 (restart 1)"]
    resumed = {**lost, "attempt": 2, "runner": {"pod": "r-new"}, "steps": [step(4), step(5, attempt=2)]}
    assert render.progress_lines(lost, resumed) == [
        "attempt 2 started on pod r-new, from checkpoint 4",
        "step 5 work done (12 ms) — checkpoint 5, attempt 2",
    ]


def test_progress_orders_old_attempt_steps_before_the_restart_when_seen_together() -> None:
    new = {
        "phase": "Running",
        "attempt": 2,
        "restarts": 1,
        "checkpoint": checkpoint(3, attempt=2),
        "steps": [step(1), step(2), step(3, attempt=2)],
    }
    lines = render.progress_lines({}, new)
    assert [ln.split(" ")[0] for ln in lines] == ["step", "step", "pod", "attempt", "step"]


def test_no_resume_line_when_the_run_failed() -> None:
    old = {"phase": "Running", "attempt": 1, "restarts": 0}
    assert render.progress_lines(old, {**old, "phase": "Failed", "restarts": 1}) == []


def test_failure_and_success_summaries() -> None:
    lines = render.failure_lines(a_run(**FAILED))
    assert lines == ["Failed: WorkflowRaised: ValueError in step second: the second step cannot go on"]
    no_condition = {k: v for k, v in FAILED.items() if k != "conditions"}
    assert render.failure_lines(a_run(**no_condition))[0] == (
        "Failed: WorkflowRaised: ValueError in step second: the second step cannot go on"
    )
    timeout = {"phase": "Failed", "conditions": [{"type": "Succeeded", "reason": "Timeout", "message": "deadline"}]}
    assert render.failure_lines(a_run(**timeout)) == ["Failed: Timeout: deadline"]
    assert render.success_line(a_run(**SUCCEEDED)) == "Succeeded in 3s: 5 steps, 1 attempt(s), 0 restarts"


# --- describe ---------------------------------------------------------------------------------
def test_timeline_marks_the_attempt_change_and_the_running_step() -> None:
    status = {
        "phase": "Running",
        "attempt": 2,
        "restarts": 1,
        "currentStep": "work",
        "steps": [step(1, "begin"), step(2), step(3), step(4, attempt=2)],
    }
    lines = describe.timeline(status)
    assert lines[0].split() == ["SEQ", "STEP", "ATTEMPT", "COMPLETED", "DURATION"]
    assert lines[1].split()[:3] == ["1", "begin", "1"]
    assert lines[4].strip() == "— pod lost, resumed on attempt 2 —"
    assert lines[5].split()[:3] == ["4", "work", "2"]
    assert lines[6].split()[:4] == ["→", "work", "2", "in"]
    without_current = describe.timeline({**status, "currentStep": None})
    assert without_current[-1].split()[:3] == ["→", "(next", "step)"]
    assert "→" not in "".join(describe.timeline({**status, "phase": "Succeeded"}))
    # A new pod after an answered wait or a resume is no loss.
    assert "— resumed on attempt 2 (a new pod) —" in [ln.strip() for ln in describe.timeline({**status, "restarts": 0})]


def test_timeline_when_resumed_without_a_step_yet_and_when_truncated() -> None:
    status = {"phase": "Running", "attempt": 2, "restarts": 1, "currentStep": "work", "steps": [step(60), step(61)]}
    lines = describe.timeline(status)
    assert "59 earlier step(s) not kept" in lines[1]
    assert lines[-2].strip() == "— pod lost, resumed on attempt 2 —"
    assert describe.timeline({}) == ["  (no completed steps yet)"]


def pod(name: str, phase: str, exit_code: int | None, created: str) -> dict[str, Any]:
    state: dict[str, Any] = {"running": {}} if exit_code is None else {"terminated": {"exitCode": exit_code}}
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "status": {"phase": phase, "containerStatuses": [{"name": "runner", "state": state}]},
    }


def test_describe_a_resumed_success() -> None:
    status = {
        **SUCCEEDED,
        "attempt": 2,
        "restarts": 1,
        "steps": [step(1, "begin"), step(2), step(3, attempt=2), step(4, attempt=2), step(5, attempt=2)],
        "jobName": "r",
    }
    job = {
        "metadata": {"name": "r"},
        "status": {"succeeded": 1, "failed": 1, "conditions": [{"type": "Complete", "status": "True"}]},
    }
    pods = [pod("r-1", "Failed", 137, "2025-01-01T11:58:00Z"), pod("r-2", "Succeeded", 0, "2025-01-01T11:58:30Z")]
    events = [
        {
            "type": "Warning",
            "reason": "PodLost",
            "message": "runner pod ended before the workflow finished (1 so far); a new pod resumes from checkpoint 2",
            "involvedObject": {"kind": "WorkflowRun", "name": "r"},
            "lastTimestamp": "2025-01-01T11:58:20Z",
        },
        {
            "type": "Normal",
            "reason": "Started",
            "message": "created Job r",
            "involvedObject": {"kind": "WorkflowRun", "name": "r"},
            "lastTimestamp": "2025-01-01T11:58:00Z",
        },
    ]
    text = describe.describe(a_run(**status), job=job, pods=pods, events=events, now=NOW)
    assert "Workflow:      kwf_testflows.steps:StepChain" in text
    assert 'Input:         {"steps": 4}' in text
    assert "Phase:         Succeeded (attempt 2, 1 restart)" in text
    assert "Succeeded   True     Succeeded" in text
    assert "Checkpoint:    5 (final Context) after step work, written by attempt 1, 10s ago" in text
    assert "3.9 KiB JSON, 1000 B stored (4.0x compression)" in text
    assert "Stored:      in status (inline)" in text
    offloaded = {**checkpoint(3), "storage": "ConfigMap", "chunks": ["r-checkpoint-a-0", "r-checkpoint-a-1"]}
    assert "Stored:      in ConfigMap r-checkpoint-a-0, r-checkpoint-a-1" in "\n".join(
        describe.checkpoint_lines(offloaded, NOW)
    )
    assert "Step timeline (5 recorded):" in text
    assert text.index("— pod lost, resumed on attempt 2 —") < text.index("  3     work")
    assert '"total": 10' in text
    assert "Job:           r (active 0, succeeded 1, failed 1) Complete" in text
    assert "137 killed (SIGKILL)" in text and "0 succeeded" in text
    events_at = text.index("Events:")
    assert text.index("Started", events_at) < text.index("PodLost", events_at)  # oldest first
    assert "WorkflowRun/r" in text


def test_describe_a_failure_and_missing_pieces() -> None:
    text = describe.describe(a_run(**FAILED), job=None, pods=None, events=[], now=NOW)
    assert "Error:         WorkflowRaised" in text
    assert "  Step:        second" in text
    assert "ValueError: the second step cannot go on" in text  # traceback tail
    assert "Result:" not in text
    assert "(cannot list pods: forbidden)" in text and "Events:        none" in text
    assert "Checkpoint:    none yet" in text
    fresh = describe.describe(a_run(), job=None, pods=[], events=[], now=NOW)
    assert "is the operator running?" in fresh


def test_log_header() -> None:
    header = render.log_header(pod("r-1", "Failed", 137, "2025-01-01T11:58:00Z"), 1, 2)
    assert header == "==> pod r-1 (pod 1 of 2, Failed, exit 137 killed (SIGKILL)) <=="
    running = render.log_header(pod("r-2", "Running", None, "2025-01-01T11:58:00Z"), 2, 2)
    assert running == "==> pod r-2 (pod 2 of 2, Running) <=="


# --- submit: input, validation, names ------------------------------------------------------------
def test_input_values_are_json_when_they_parse() -> None:
    got = specs.parse_input(
        ["n=3", "flag=true", "name=alice", "empty=", 'obj={"a": 1}', "nan=NaN", "eq=a=b"], '{"n": 1, "k": [1]}'
    )
    assert got == {
        "n": 3,
        "k": [1],
        "flag": True,
        "name": "alice",
        "empty": "",
        "obj": {"a": 1},
        "nan": "NaN",
        "eq": "a=b",
    }


@pytest.mark.parametrize(
    ("pairs", "text", "message"),
    [
        (["novalue"], None, "expected KEY=VALUE"),
        (["=3"], None, "expected KEY=VALUE"),
        ([], "[1]", "must be a JSON object"),
        ([], "{nope", "not valid JSON"),
    ],
)
def test_bad_input_flags(pairs: list[str], text: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        specs.parse_input(pairs, text)


def test_spec_errors_name_the_field() -> None:
    spec = {"workflow": "x", "timeoutSeconds": 0, "retry": {"maxRestarts": -1}, "contextFrom": {"name": "Bad"}}
    with pytest.raises(ValidationError) as caught:
        WorkflowRunSpec.model_validate(spec)
    lines = specs.spec_errors(caught.value.errors(), spec)
    assert lines[0] == 'spec.workflow "x" must be "module:Attribute", e.g. "my_package.flows:MyWorkflow"'
    assert any(ln.startswith('spec.contextFrom.name "Bad" (--context-from) must be a WorkflowRun name') for ln in lines)
    assert any(ln.startswith("spec.timeoutSeconds (--timeout): ") for ln in lines)
    assert any(ln.startswith("spec.retry.maxRestarts (--max-restarts): ") for ln in lines)


@pytest.mark.parametrize(
    ("workflow", "name"),
    [
        ("kwf_testflows.steps:StepChain", "step-chain-"),
        ("pkg.mod:HTTPFetcher", "http-fetcher-"),
        ("pkg.mod:make_flow", "make-flow-"),
        ("pkg.mod:Outer.Inner", "inner-"),
        ("pkg.mod:_", "run-"),
    ],
)
def test_generate_name(workflow: str, name: str) -> None:
    assert specs.generate_name(workflow) == name


def submit_args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["submit", *argv])


def test_build_run_from_flags() -> None:
    body = runs.build_run(
        submit_args(
            "pkg.mod:Flow",
            "--input",
            "steps=4",
            "--input-json",
            '{"a": "b"}',
            "--timeout",
            "60",
            "--max-restarts",
            "0",
            "--context-from",
            "first",
            "--image",
            "img:1",
        )
    )
    assert body["kind"] == "WorkflowRun" and body["apiVersion"] == "kube-workflows.dev/v1alpha1"
    assert body["metadata"] == {"generateName": "flow-"}
    assert body["spec"] == {
        "workflow": "pkg.mod:Flow",
        "input": {"a": "b", "steps": 4},
        "image": "img:1",
        "contextFrom": {"name": "first"},
        "timeoutSeconds": 60,
        "retry": {"maxRestarts": 0},
    }
    assert runs.build_run(submit_args("pkg.mod:Flow", "--name", "mine"))["metadata"] == {"name": "mine"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["badpath"], 'spec.workflow "badpath" must be "module:Attribute"'),
        (["pkg.mod:Flow", "--name", "Not_A_Name"], '--name "Not_A_Name" is not a valid object name'),
        (["pkg.mod:Flow", "--input", "oops"], "expected KEY=VALUE"),
    ],
)
def test_build_run_rejects_with_exit_2(argv: list[str], message: str) -> None:
    with pytest.raises(api.CliError, match=message) as caught:
        runs.build_run(submit_args(*argv))
    assert caught.value.code == api.USAGE


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    for code in ("0 ", "1 ", "2 ", "3 ", "124", "130"):
        assert f"\n  {code}" in out
    for command in ("submit", "get", "describe", "logs"):
        assert command in out


def test_submit_validation_error_exits_2_before_touching_the_cluster(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")
    from kube_workflows.cli.main import main

    assert main(["submit", "badpath"]) == api.USAGE
    err = capsys.readouterr().err
    assert "spec.workflow" in err and json.dumps("badpath") in err
