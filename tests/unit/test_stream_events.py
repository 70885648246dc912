"""Durable stream events: what a workflow writes to its stream is published in status.stream, numbered,
with the checkpoint of the step that wrote it (runner/stream.py, the recorder in runtime/_engine.py)."""

from __future__ import annotations

import asyncio
import copy
import json
import sys
from pathlib import Path
from typing import Any

import jsonpatch
import pytest

from kube_workflows.models import exit_codes
from kube_workflows.models.workflowrun import WorkflowRunStatus
from kube_workflows.runner.main import RunnerIdentity, execute
from kube_workflows.runner.stream import (
    MAX_EVENT_BYTES,
    MAX_STREAM_BYTES,
    MAX_STREAM_EVENTS,
    StreamWindow,
    json_size,
)
from kube_workflows.runtime import DurableRuntime, SqliteStore

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inmemory_api import InMemoryApi
from test_runner import new_run, reporter_for, run_once

CHAIN = "kwf_testflows.streaming:StreamChain"


def messages(status: dict[str, Any]) -> list[str]:
    return [e["value"].get("msg", e["type"]) for e in status["stream"]["events"]]


def sequences(status: dict[str, Any]) -> list[int]:
    return [e["sequence"] for e in status["stream"]["events"]]


def stream_ops(patch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [op for op in patch if op["path"].startswith("/status/stream")]


def checkpoint_seq(patch: list[dict[str, Any]]) -> int:
    return int(next(op["value"]["seq"] for op in patch if op["path"] == "/status/checkpoint"))


def published_messages(patch: list[dict[str, Any]]) -> list[str]:
    """The messages of the events one status write publishes (the first write creates status.stream)."""
    events: list[dict[str, Any]] = []
    for op in stream_ops(patch):
        if op["path"] == "/status/stream":
            events += op["value"]["events"]
        elif op["path"] == "/status/stream/events/-":
            events.append(op["value"])
    return [e["value"]["msg"] for e in events]


async def crash_while_held(runs: InMemoryApi, name: str, pod: str = "pod-1") -> None:
    """Run until the held step waits for its release, then drop the runner as SIGKILL would."""
    with pytest.raises(TimeoutError):
        identity = RunnerIdentity("ns", name, pod, handle_sigterm=False)
        await asyncio.wait_for(execute(identity, reporter_for(runs, name)), 2)


async def test_each_steps_events_are_published_with_its_checkpoint_numbered_from_1() -> None:
    runs = InMemoryApi(r=new_run("r", CHAIN, input={"steps": 3, "per_step": 2}))
    code, _ = await run_once(runs, "r")
    assert code == exit_codes.SUCCEEDED
    status = runs["r"]["status"]
    want = [f"step {i} part {j}" for i in (1, 2, 3) for j in (1, 2)]
    assert messages(status) == want and sequences(status) == [1, 2, 3, 4, 5, 6]
    assert (status["stream"]["firstSequence"], status["stream"]["lastSequence"]) == (1, 6)
    event = status["stream"]["events"][0]
    assert event["type"] == "kwf_testflows.streaming.ProgressEvent" and event["step"] == "work"
    assert set(event) == {"sequence", "type", "value", "timestamp", "step"}
    # The write that checkpoints work step i (checkpoint seq i + 1) carries that step's events, no other.
    published = {checkpoint_seq(p): published_messages(p) for p in runs.patches}
    assert published == {1: [], 2: want[:2], 3: want[2:4], 4: want[4:]}
    WorkflowRunStatus.model_validate(status)  # what the CRD schema accepts


async def test_a_step_that_streams_nothing_adds_nothing_to_its_checkpoint_write() -> None:
    runs = InMemoryApi(r=new_run("r", CHAIN, input={"steps": 4, "quiet": [2, 3]}))
    assert (await run_once(runs, "r"))[0] == exit_codes.SUCCEEDED
    quiet = [p for p in runs.patches if not stream_ops(p)]
    assert len(quiet) == 3  # begin and work steps 2 and 3
    # The same run with no step streaming writes these patches byte for byte (timestamps aside).
    silent = InMemoryApi(r=new_run("r", CHAIN, input={"steps": 4, "quiet": [1, 2, 3, 4]}))
    assert (await run_once(silent, "r"))[0] == exit_codes.SUCCEEDED
    assert not any(stream_ops(p) for p in silent.patches) and "stream" not in silent["r"]["status"]
    shape = [[op["path"] for op in p] for p in silent.patches]
    assert [[op["path"] for op in p] for p in quiet] == [shape[0], shape[2], shape[3]]


async def test_sequence_numbers_go_on_across_a_resumed_claim_and_a_rerun_step_repeats_none(tmp_path: Path) -> None:
    release = tmp_path / "release"
    runs = InMemoryApi(r=new_run("r", CHAIN, input={"steps": 4, "per_step": 2, "hold_at": 3, "release": str(release)}))
    await crash_while_held(runs, "r")
    # Step 3 streamed its events, then the pod died before its checkpoint: they were not published.
    assert messages(runs["r"]["status"]) == ["step 1 part 1", "step 1 part 2", "step 2 part 1", "step 2 part 2"]
    release.touch()
    assert (await run_once(runs, "r", pod="pod-2"))[0] == exit_codes.SUCCEEDED
    status = runs["r"]["status"]
    assert messages(status) == [f"step {i} part {j}" for i in (1, 2, 3, 4) for j in (1, 2)]
    assert sequences(status) == list(range(1, 9))
    attempts = {s["attempt"] for s in status["steps"] if s["seq"] > 3}
    assert attempts == {2}  # step 3 ran again on the second pod, its events numbered then


async def test_a_running_steps_events_wait_for_its_own_checkpoint(tmp_path: Path) -> None:
    release = tmp_path / "release"
    runs = InMemoryApi(r=new_run("r", "kwf_testflows.streaming:ParallelStreams", input={"release": str(release)}))
    await crash_while_held(runs, "r")
    # `fast` completed and was checkpointed while `slow`, having streamed, still ran.
    assert "fast" in [s["name"] for s in runs["r"]["status"]["steps"]]
    assert messages(runs["r"]["status"]) == ["fast"]
    release.touch()
    assert (await run_once(runs, "r", pod="pod-2"))[0] == exit_codes.SUCCEEDED
    assert messages(runs["r"]["status"]) == ["fast", "slow"] and sequences(runs["r"]["status"]) == [1, 2]


async def test_an_input_request_is_published_with_the_park_write_and_the_answer_goes_on() -> None:
    runs = InMemoryApi(r=new_run("r", CHAIN, input={"steps": 1, "per_step": 1, "ask": True}))
    assert (await run_once(runs, "r"))[0] == exit_codes.WAITING
    park = runs.patches[-1]
    assert any(op["path"] == "/status/waiting" for op in park) and stream_ops(park)
    events = runs["r"]["status"]["stream"]["events"]
    assert [e["type"].rpartition(".")[2] for e in events] == ["ProgressEvent", "InputRequiredEvent"]
    assert events[1]["type"] == "workflows.events.InputRequiredEvent"
    assert events[1]["value"] == {"prefix": "your name?"}
    runs["r"]["spec"]["events"] = [{"data": {"response": "Ada"}}]
    assert (await run_once(runs, "r", pod="pod-2"))[0] == exit_codes.SUCCEEDED
    status = runs["r"]["status"]
    assert messages(status)[-1] == "hello Ada" and sequences(status) == [1, 2, 3]


async def test_what_a_failing_step_streamed_is_published_with_the_error() -> None:
    runs = InMemoryApi(r=new_run("r", CHAIN, input={"steps": 3, "per_step": 1, "fail_at": 2}))
    assert (await run_once(runs, "r"))[0] == exit_codes.WORKFLOW_RAISED
    status = runs["r"]["status"]
    assert status["error"]["reason"] == "WorkflowRaised"
    assert messages(status) == ["step 1 part 1", "step 2 part 1"] and sequences(status) == [1, 2]
    assert stream_ops(runs.patches[-1])  # the error write


async def test_a_sensitive_runs_event_values_stay_out_of_status() -> None:
    runs = InMemoryApi(r=new_run("r", CHAIN, input={"steps": 1, "per_step": 1}, checkpoint={"sensitive": True}))
    assert (await run_once(runs, "r"))[0] == exit_codes.SUCCEEDED
    [event] = runs["r"]["status"]["stream"]["events"]
    assert event["value"] == {} and event["withheld"] is True and event["sequence"] == 1
    assert "step 1" not in json.dumps(runs["r"]["status"])


async def test_an_event_too_large_is_kept_as_a_truncated_marker() -> None:
    runs = InMemoryApi(r=new_run("r", CHAIN, input={"steps": 1, "per_step": 1, "big": 10_000}))
    assert (await run_once(runs, "r"))[0] == exit_codes.SUCCEEDED
    small, big = runs["r"]["status"]["stream"]["events"]
    assert small["value"] == {"msg": "step 1 part 1"}
    assert big["type"] == "kwf_testflows.streaming.BigEvent" and big["value"] == {} and big["truncated"] is True
    assert big["sizeBytes"] > 10_000 and big["sequence"] == 2


async def test_a_long_stream_keeps_the_newest_events_within_the_budget() -> None:
    runs = InMemoryApi(r=new_run("r", CHAIN, input={"steps": 30, "per_step": 10}))
    assert (await run_once(runs, "r"))[0] == exit_codes.SUCCEEDED
    stream = runs["r"]["status"]["stream"]
    assert len(stream["events"]) == MAX_STREAM_EVENTS and json_size(stream["events"]) <= MAX_STREAM_BYTES
    assert (stream["firstSequence"], stream["lastSequence"]) == (201, 300)
    assert sequences(runs["r"]["status"]) == list(range(201, 301))
    assert stream["events"][-1]["value"]["msg"] == "step 30 part 10"


def record(msg: str) -> dict[str, Any]:
    return {"type": "m.E", "value": {"msg": msg}, "timestamp": "2026-01-01T00:00:00.000Z"}


def apply(doc: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    return jsonpatch.apply_patch(doc, ops)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("batches", "size", "first", "last", "kept"),
    [
        ([3], 10, 1, 3, 3),  # all fit
        ([60, 60], 10, 21, 120, 100),  # the count budget drops the oldest of the earlier write
        ([250], 10, 151, 250, 100),  # one write over the budget: only its newest are ever written
        ([20, 20], 2000, 26, 40, 15),  # the byte budget: 15 events of ~2 KiB fit in 32 KiB
    ],
)
def test_the_window_keeps_the_newest_events_within_its_budgets(
    batches: list[int], size: int, first: int, last: int, kept: int
) -> None:
    window, status = StreamWindow(), {"status": {}}
    counter = 0
    for batch in batches:
        records = []
        for _ in range(batch):
            counter += 1
            records.append(record(f"{counter:05d}" + "x" * size))
        status = apply(status, window.publish(records))
        # What a new pod reads back is what this one holds.
        assert StreamWindow.from_status(status["status"]["stream"]) == window
    stream = status["status"]["stream"]
    assert (stream["firstSequence"], stream["lastSequence"], len(stream["events"])) == (first, last, kept)
    assert [e["sequence"] for e in stream["events"]] == list(range(first, last + 1))
    assert [int(e["value"]["msg"][:5]) for e in stream["events"]] == list(range(first, last + 1))
    assert json_size(stream["events"]) <= MAX_STREAM_BYTES


def test_the_window_goes_on_from_what_status_holds() -> None:
    status = {"status": {}}
    first = StreamWindow()
    status = apply(status, first.publish([record("a"), record("b")]))
    resumed = StreamWindow.from_status(copy.deepcopy(status["status"]["stream"]))
    status = apply(status, resumed.publish([record("c")]))
    assert [(e["sequence"], e["value"]["msg"]) for e in status["status"]["stream"]["events"]] == [
        (1, "a"),
        (2, "b"),
        (3, "c"),
    ]


def test_no_events_no_operations() -> None:
    window = StreamWindow.from_status({"firstSequence": 1, "lastSequence": 1, "events": [record("a")]})
    assert window.publish(()) == [] and window.last_sequence == 1


def test_one_event_over_the_event_budget_is_a_marker_and_one_over_the_window_budget_is_still_kept() -> None:
    window = StreamWindow()
    ops = window.publish([record("y" * (MAX_EVENT_BYTES + 1))])
    [event] = ops[0]["value"]["events"]
    assert event["truncated"] is True and event["value"] == {} and event["sizeBytes"] > MAX_EVENT_BYTES
    assert json_size(event) < 300


async def test_sqlite_store_publishes_the_events_with_the_checkpoints(tmp_path: Path) -> None:
    from kwf_testflows.streaming import StreamChain

    store = SqliteStore(tmp_path / "runs.db")
    runtime = DurableRuntime(store)
    result = await runtime.run(StreamChain(runtime=runtime), "s-1", steps=2, per_step=2)
    assert result == {"steps": 2}
    events = store.stream_events("s-1")
    assert [(e["sequence"], e["value"]["msg"]) for e in events] == [
        (1, "step 1 part 1"),
        (2, "step 1 part 2"),
        (3, "step 2 part 1"),
        (4, "step 2 part 2"),
    ]
    assert [e["sequence"] for e in store.stream_events("s-1", after_sequence=3)] == [4]
