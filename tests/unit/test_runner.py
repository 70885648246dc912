"""The runner end to end in-process, against an in-memory WorkflowRun instead of an API server.

The integration and e2e suites do the same on the real control plane; these pin down the
checkpoint contract precisely and fast.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from kube_workflows.checkpoint import decode_checkpoint, offload
from kube_workflows.models import exit_codes
from kube_workflows.models.workflowrun import CheckpointPolicy
from kube_workflows.runner.main import RunnerIdentity, execute
from kube_workflows.runner.reporter import Reporter
from kube_workflows.runner.status_store import StatusStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflows"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from inmemory_api import InMemoryApi


def new_run(name: str, workflow: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": "1"},
        "spec": {"workflow": workflow, **spec},
    }


def reporter_for(runs: InMemoryApi, name: str) -> Reporter:
    return Reporter("ns", name, api=runs, retry_budget_seconds=5)


async def run_once(runs: InMemoryApi, name: str, pod: str = "pod-1") -> tuple[int, Reporter]:
    reporter = reporter_for(runs, name)
    code = await execute(RunnerIdentity("ns", name, pod, handle_sigterm=False), reporter)
    return code, reporter


async def test_one_fenced_write_per_completed_step(tmp_path: Path) -> None:
    runs = InMemoryApi(
        {"r": new_run("r", "kwf_testflows.steps:StepChain", input={"steps": 4, "record": str(tmp_path / "rec")})}
    )
    code, reporter = await run_once(runs, "r")
    assert code == exit_codes.SUCCEEDED
    status = runs["r"]["status"]
    assert status["result"] == {"steps": 4, "total": 10}
    # begin + 3 work steps checkpointed one write each; the 4th work step's write carries the result.
    assert reporter.writes == 5
    assert all(p[0] == {"op": "test", "path": "/status/attempt", "value": 1} for p in runs.patches)
    assert [s["seq"] for s in status["steps"]] == [1, 2, 3, 4, 5]
    assert status["checkpoint"]["final"] is True and status["checkpoint"]["stepsCompleted"] == 5
    assert decode_checkpoint(status["checkpoint"]["data"])["state"]["state_data"]["_data"]["total"] == "10"


async def test_resume_skips_completed_steps(tmp_path: Path) -> None:
    record = tmp_path / "rec"
    runs = InMemoryApi({"r": new_run("r", "kwf_testflows.steps:StepChain", input={"steps": 6, "record": str(record)})})
    reporter = reporter_for(runs, "r")
    runs.supersede_after = 3  # begin, step 1, step 2 checkpointed; then this pod "dies"
    code = await execute(RunnerIdentity("ns", "r", "pod-1", handle_sigterm=False), reporter)
    assert code == exit_codes.SUPERSEDED
    assert runs["r"]["status"]["checkpoint"]["seq"] == 3
    code, _ = await run_once(runs, "r", pod="pod-2")
    assert code == exit_codes.SUCCEEDED
    lines = record.read_text().splitlines()
    # step 3 ran on pod-1 but its checkpoint never landed: it runs again (at-least-once for the
    # step in flight); steps 1 and 2 were checkpointed and never run again.
    # (attempt 2 is the pod that superseded pod-1 and vanished; pod-2 is attempt 3)
    assert lines == ["step 1 - 1", "step 2 - 1", "step 3 - 1", "step 3 - 3", "step 4 - 3", "step 5 - 3", "step 6 - 3"]
    assert runs["r"]["status"]["result"] == {"steps": 6, "total": 21}
    assert runs["r"]["status"]["attempt"] == 3


async def test_stale_attempt_cannot_write() -> None:
    runs = InMemoryApi({"r": new_run("r", "kwf_testflows.steps:StepChain", input={"steps": 2})})
    runs["r"]["status"] = {"attempt": 1}
    reporter = reporter_for(runs, "r")
    # A newer pod claims the run between this pod's claim and its first checkpoint.
    original_claim = reporter.claim

    def claim_then_lose(pod: str) -> tuple[dict[str, Any], int]:
        run, attempt = original_claim(pod)
        runs["r"]["status"]["attempt"] = attempt + 1
        return run, attempt

    reporter.claim = claim_then_lose  # type: ignore[method-assign]
    code = await execute(RunnerIdentity("ns", "r", "old-pod", handle_sigterm=False), reporter)
    assert code == exit_codes.SUPERSEDED
    assert "checkpoint" not in runs["r"]["status"] and reporter.writes == 0


async def test_context_from_continues_store_state() -> None:
    runs = InMemoryApi({"a": new_run("a", "kwf_examples.context_state:MyWorkflow")})
    assert (await run_once(runs, "a"))[0] == exit_codes.SUCCEEDED
    assert runs["a"]["status"]["result"] == "The step ran 1 times"
    runs["a"]["status"]["phase"] = "Succeeded"  # the operator's part
    runs["b"] = new_run("b", "kwf_examples.context_state:MyWorkflow", contextFrom={"name": "a"})
    assert (await run_once(runs, "b"))[0] == exit_codes.SUCCEEDED
    assert runs["b"]["status"]["result"] == "The step ran 2 times"


async def test_context_from_an_unfinished_run_fails_clearly() -> None:
    runs = InMemoryApi(
        a=new_run("a", "kwf_examples.context_state:MyWorkflow"),
        b=new_run("b", "kwf_examples.context_state:MyWorkflow", contextFrom={"name": "a"}),
    )
    code, _ = await run_once(runs, "b")
    assert code == exit_codes.INVALID_RUN
    assert runs["b"]["status"]["error"]["reason"] == "ContextSourceNotSucceeded"


async def test_workflow_error_is_recorded_with_its_step() -> None:
    runs = InMemoryApi({"r": new_run("r", "kwf_testflows.failing:RaisesInSecondStep")})
    code, _ = await run_once(runs, "r")
    assert code == exit_codes.WORKFLOW_RAISED
    error = runs["r"]["status"]["error"]
    assert error["reason"] == "WorkflowRaised" and error["type"] == "ValueError"
    assert error["step"] == "second" and "cannot go on" in error["message"]
    # the last good checkpoint (after "first") is kept, not replaced by the failed state
    assert runs["r"]["status"]["checkpoint"]["step"] == "first"


@pytest.mark.parametrize(
    ("workflow", "reason", "fragment"),
    [
        ("no_such_module:Flow", "WorkflowNotImportable", 'module "no_such_module" cannot be imported'),
        ("kwf_testflows.steps:Missing", "WorkflowNotImportable", 'has no attribute "Missing"'),
        ("kwf_testflows.steps:Path", "WorkflowNotImportable", "not a Workflow"),
        ("sys:exit", "WorkflowNotImportable", "is a builtin function (exit), not a Workflow"),
    ],
)
async def test_bad_workflow_reference(workflow: str, reason: str, fragment: str) -> None:
    runs = InMemoryApi({"r": new_run("r", workflow)})
    code, _ = await run_once(runs, "r")
    assert code == exit_codes.INVALID_RUN
    assert runs["r"]["status"]["error"]["reason"] == reason
    assert fragment in runs["r"]["status"]["error"]["message"]


async def test_corrupt_checkpoint_fails_instead_of_restarting_from_scratch() -> None:
    runs = InMemoryApi({"r": new_run("r", "kwf_testflows.steps:StepChain")})
    runs["r"]["status"] = {"checkpoint": {"seq": 3, "data": "garbage", "encoding": "json+zlib+base64"}}
    code, _ = await run_once(runs, "r")
    assert code == exit_codes.INVALID_RUN
    assert runs["r"]["status"]["error"]["reason"] == "CheckpointCorrupt"


async def test_finished_run_is_not_run_again() -> None:
    runs = InMemoryApi({"r": new_run("r", "kwf_testflows.steps:StepChain", input={"steps": 2})})
    await run_once(runs, "r")
    writes_before = runs["r"]["status"]["checkpoint"]["seq"]
    code, reporter = await run_once(runs, "r", pod="pod-2")
    assert code == exit_codes.SUCCEEDED and reporter.writes == 0
    assert runs["r"]["status"]["checkpoint"]["seq"] == writes_before


async def test_context_of_another_workflow_is_refused() -> None:
    runs = InMemoryApi({"a": new_run("a", "kwf_examples.context_state:MyWorkflow")})
    await run_once(runs, "a")
    runs["a"]["status"]["phase"] = "Succeeded"
    runs["b"] = new_run("b", "kwf_testflows.steps:StepChain", contextFrom={"name": "a"})
    code, _ = await run_once(runs, "b")
    assert code == exit_codes.INVALID_RUN
    error = runs["b"]["status"]["error"]
    assert error["reason"] == "CheckpointIncompatible"
    assert "steps ['count']" in error["message"] and "['begin', 'work']" in error["message"]


async def test_input_rejected_by_a_typed_start_event() -> None:
    runs = InMemoryApi({"r": new_run("r", "kwf_testflows.typed:PlaceOrder", input={"item": "tea", "quantity": "many"})})
    code, _ = await run_once(runs, "r")
    assert code == exit_codes.INVALID_RUN
    error = runs["r"]["status"]["error"]
    assert error["reason"] == "InvalidInput"
    assert "spec.input" in error["message"] and "quantity" in error["message"]


async def test_large_checkpoints_are_offloaded_in_alternating_slots(tmp_path: Path) -> None:
    runs = InMemoryApi(
        r=new_run(
            "r",
            "kwf_testflows.big_state:BigState",
            input={"size_mb": 1.5},
            checkpoint={"inlineLimitBytes": 64 * 1024, "sensitive": True},
        )
    )
    code, _ = await run_once(runs, "r")
    assert code == exit_codes.SUCCEEDED
    checkpoint = runs["r"]["status"]["checkpoint"]
    assert checkpoint["data"] == "" and checkpoint["storage"] == "Secret"
    # "fill" went to slot a; the final checkpoint to slot b, so a torn write never hits the live one.
    assert checkpoint["chunks"] == ["r-ckpt-b-0", "r-ckpt-b-1"]
    written = {name for (_, name), obj in runs.chunks.items() if offload.written_by(obj)}
    assert written == {"r-ckpt-a-0", "r-ckpt-a-1", "r-ckpt-b-0", "r-ckpt-b-1", "r-outputs"}
    # The operator made every slot's chunks at the first ask, and the outputs Secret at the second.
    assert {name for _, name in runs.chunks} - written == {"r-ckpt-c-0", "r-ckpt-c-1"} and runs.storage_asks == 2
    # sensitive: the result is in r-outputs too (tests/unit/test_sensitive_outputs.py)
    assert runs["r"]["status"]["result"] is None and runs["r"]["status"]["resultRef"]["secret"] == "r-outputs"


async def test_resume_from_an_offloaded_checkpoint(tmp_path: Path) -> None:
    release = tmp_path / "release"
    runs = InMemoryApi(
        r=new_run(
            "r",
            "kwf_testflows.big_state:BigState",
            input={"size_mb": 1, "release": str(release)},
            checkpoint={"inlineLimitBytes": 64 * 1024},
        )
    )
    reporter = reporter_for(runs, "r")
    # "fill" is checkpointed (offloaded); "finish" waits for `release`, and the pod dies meanwhile.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(execute(RunnerIdentity("ns", "r", "p1", handle_sigterm=False), reporter), 3)
    assert runs["r"]["status"]["checkpoint"]["storage"] == "ConfigMap"
    release.touch()
    code, _ = await run_once(runs, "r", pod="p2")
    assert code == exit_codes.SUCCEEDED
    assert runs["r"]["status"]["result"] == 1024 * 1024
    assert [s["name"] for s in runs["r"]["status"]["steps"]] == ["fill", "finish"]


async def test_over_the_hard_cap_fails_clearly() -> None:
    runs = InMemoryApi(
        r=new_run("r", "kwf_testflows.big_state:BigState", input={"size_mb": 1}, checkpoint={"maxBytes": 100 * 1024})
    )
    code, _ = await run_once(runs, "r")
    assert code == exit_codes.INVALID_RUN
    error = runs["r"]["status"]["error"]
    assert error["reason"] == "CheckpointTooLarge" and "spec.checkpoint.maxBytes" in error["message"]


async def test_a_waiting_run_parks_then_resumes_with_each_answer(tmp_path: Path) -> None:
    record = tmp_path / "rec"
    runs = InMemoryApi({"q": new_run("q", "kwf_testflows.questions:Questions", input={"record": str(record)})})
    code, _ = await run_once(runs, "q")
    assert code == exit_codes.WAITING
    waiting = runs["q"]["status"]["waiting"]
    assert waiting["requests"] == [{"prefix": "What is your name?", "type": "workflows.events.InputRequiredEvent"}]
    assert waiting["expects"] == ["workflows.events.HumanResponseEvent"] and waiting["eventIndex"] == 0
    assert runs["q"]["status"]["currentStep"] is None

    # No answer yet: a new pod parks again at once, running nothing.
    code, _ = await run_once(runs, "q", pod="pod-2")
    assert code == exit_codes.WAITING and not record.exists()

    runs["q"]["spec"]["events"] = [{"data": {"response": "Ada"}}]
    code, _ = await run_once(runs, "q", pod="pod-3")
    assert code == exit_codes.WAITING
    waiting = runs["q"]["status"]["waiting"]
    assert waiting["eventIndex"] == 1 and waiting["requests"][0]["prefix"] == "Ada, what is your favourite colour?"
    assert waiting["expects"] == ["kwf_testflows.questions.Colour"]  # the answer class the next step accepts
    assert runs["q"]["status"]["checkpoint"]["eventsDelivered"] == 1

    runs["q"]["spec"]["events"].append({"data": {"response": "green"}})
    code, _ = await run_once(runs, "q", pod="pod-4")
    assert code == exit_codes.SUCCEEDED
    status = runs["q"]["status"]
    assert status["result"]["answer"] == "Ada likes green"
    assert "waiting" not in status and status["checkpoint"]["eventsDelivered"] == 2
    # Each step's work ran once, in the attempt (pod) that had its answer.
    assert record.read_text().splitlines() == ["greet 3", "ask_color 3", "finish 4"]


async def test_answers_sent_ahead_are_delivered_without_parking() -> None:
    events = [{"data": {"response": "Ada"}}, {"data": {"response": "green"}}]
    runs = InMemoryApi({"q": new_run("q", "kwf_testflows.questions:Questions", events=events)})
    code, _ = await run_once(runs, "q")
    assert code == exit_codes.SUCCEEDED
    assert runs["q"]["status"]["result"]["answer"] == "Ada likes green"


async def test_an_answer_the_event_class_rejects_keeps_the_run_waiting() -> None:
    events = [{"data": {"response": "Ada"}}, {"data": {"reply": "red"}}]
    runs = InMemoryApi({"q": new_run("q", "kwf_testflows.questions:Questions", events=events)})
    runs["q"]["metadata"]["generation"] = 2
    code, _ = await run_once(runs, "q")
    assert code == exit_codes.WAITING
    waiting = runs["q"]["status"]["waiting"]
    assert waiting["eventIndex"] == 1 and waiting["rejectedGeneration"] == 2
    assert waiting["error"] == "spec.events[1].data.response: Field required (for Colour)"
    # Fixing the entry in place delivers it.
    runs["q"]["spec"]["events"][1] = {"data": {"response": "red"}}
    code, _ = await run_once(runs, "q", pod="pod-2")
    assert code == exit_codes.SUCCEEDED and runs["q"]["status"]["result"]["colour"] == "red"


async def test_fork_continues_from_a_kept_checkpoint(tmp_path: Path) -> None:
    record = tmp_path / "rec"
    spec = {"input": {"steps": 5, "record": str(record)}, "checkpoint": {"history": 3}}
    runs = InMemoryApi(a=new_run("a", "kwf_testflows.steps:StepChain", **spec))
    assert (await run_once(runs, "a"))[0] == exit_codes.SUCCEEDED
    status = runs["a"]["status"]
    assert [c["seq"] for c in status["history"]] == [4, 5, 6]
    assert all(c["chunks"] and c["data"] == "" for c in status["history"])
    record.write_text("")
    runs["b"] = new_run("b", "kwf_testflows.steps:StepChain", contextFrom={"name": "a", "seq": 4})
    code, _ = await run_once(runs, "b")
    assert code == exit_codes.SUCCEEDED
    # Checkpoint 4 was taken after step 3: the fork runs steps 4 and 5 only, with the state it had.
    assert record.read_text().splitlines() == ["step 4 - 1", "step 5 - 1"]
    assert runs["b"]["status"]["result"] == runs["a"]["status"]["result"]


async def test_fork_from_a_checkpoint_no_longer_kept_fails_clearly() -> None:
    runs = InMemoryApi(a=new_run("a", "kwf_testflows.steps:StepChain", input={"steps": 5}, checkpoint={"history": 2}))
    await run_once(runs, "a")
    runs["b"] = new_run("b", "kwf_testflows.steps:StepChain", contextFrom={"name": "a", "seq": 2})
    code, _ = await run_once(runs, "b")
    assert code == exit_codes.INVALID_RUN
    error = runs["b"]["status"]["error"]
    assert error["reason"] == "ContextSeqNotKept"
    assert "keeps checkpoints [5, 6]" in error["message"] and "spec.checkpoint.history is 2" in error["message"]


async def test_checkpoint_every_n_steps_writes_less_and_keeps_every_step_record(tmp_path: Path) -> None:
    record = tmp_path / "rec"
    spec = {"input": {"steps": 7, "record": str(record)}, "checkpoint": {"everySteps": 3}}
    runs = InMemoryApi({"r": new_run("r", "kwf_testflows.steps:StepChain", **spec)})
    code, reporter = await run_once(runs, "r")
    assert code == exit_codes.SUCCEEDED
    status = runs["r"]["status"]
    # begin + 6 work steps = 7 checkpointable completions → writes after 3 and 6, then the final one.
    assert reporter.writes == 3 and status["checkpoint"]["seq"] == 3
    assert [s["name"] for s in status["steps"]] == ["begin", *["work"] * 7]
    assert [s["seq"] for s in status["steps"]] == [1, 1, 1, 2, 2, 2, 3, 3]
    assert status["result"] == {"steps": 7, "total": 28}


async def test_a_pod_lost_between_checkpoints_reruns_only_the_unwritten_steps(tmp_path: Path) -> None:
    record = tmp_path / "rec"
    spec = {"input": {"steps": 6, "record": str(record)}, "checkpoint": {"everySteps": 2}}
    runs = InMemoryApi({"r": new_run("r", "kwf_testflows.steps:StepChain", **spec)})
    reporter = reporter_for(runs, "r")
    runs.supersede_after = 1  # the checkpoint after begin + step 1 lands; the next write fails
    assert await execute(RunnerIdentity("ns", "r", "pod-1", handle_sigterm=False), reporter) == exit_codes.SUPERSEDED
    assert (await run_once(runs, "r", pod="pod-2"))[0] == exit_codes.SUCCEEDED
    lines = record.read_text().splitlines()
    # Steps 2 and 3 completed on pod 1 but their checkpoint never landed: they run again.
    assert lines == [
        "step 1 - 1",
        "step 2 - 1",
        "step 3 - 1",
        "step 2 - 3",
        "step 3 - 3",
        "step 4 - 3",
        "step 5 - 3",
        "step 6 - 3",
    ]
    assert runs["r"]["status"]["result"] == {"steps": 6, "total": 21}


async def test_a_step_in_flight_at_a_crash_runs_again_on_top_of_its_own_store_writes(tmp_path: Path) -> None:
    release = tmp_path / "release"
    runs = InMemoryApi(r=new_run("r", "kwf_testflows.contract:InFlightWrites", input={"release": str(release)}))
    reporter = reporter_for(runs, "r")
    # `fast` completes and is checkpointed while `slow` waits; then the pod dies.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(execute(RunnerIdentity("ns", "r", "p1", handle_sigterm=False), reporter), 2)
    assert "fast" in [s["name"] for s in runs["r"]["status"]["steps"]]
    release.touch()
    assert (await run_once(runs, "r", pod="p2"))[0] == exit_codes.SUCCEEDED
    # The checkpoint held slow's first write; slow ran again and counted on top of it.
    assert runs["r"]["status"]["result"] == {"slow_starts": 2}


async def test_a_wait_for_event_step_reruns_its_code_before_the_wait(tmp_path: Path) -> None:
    record = tmp_path / "rec"
    runs = InMemoryApi(q=new_run("q", "kwf_testflows.contract:AskOnce", input={"record": str(record)}))
    assert (await run_once(runs, "q"))[0] == exit_codes.WAITING
    runs["q"]["spec"]["events"] = [{"data": {"response": "yes"}}]
    assert (await run_once(runs, "q", pod="p2"))[0] == exit_codes.SUCCEEDED
    assert runs["q"]["status"]["result"] == "yes"
    assert record.read_text().splitlines() == ["before 1", "before 2", "after 2"]


def damage(runs: InMemoryApi, name: str) -> None:
    """Someone edits a chunk object (a stray kubectl edit, a restored backup): its sha256 no longer fits."""
    obj = runs.chunks[("ConfigMap", name)]
    obj["data"]["data"] = obj["data"]["data"][:-10] + "0123456789"


@pytest.mark.parametrize("checkpoint", [{"inlineLimitBytes": 1024}, {"history": 2}])
async def test_a_damaged_latest_checkpoint_resumes_from_the_newest_intact_older_one(
    tmp_path: Path, checkpoint: dict[str, Any]
) -> None:
    record = tmp_path / "rec"
    spec = {"input": {"steps": 5, "record": str(record), "pad": 8192}, "checkpoint": checkpoint}
    runs = InMemoryApi(r=new_run("r", "kwf_testflows.steps:StepChain", **spec))
    runs.supersede_after = 5  # begin, steps 1-3 checkpointed (seq 4), one storage ask; the pod is replaced
    assert (await run_once(runs, "r"))[0] == exit_codes.SUPERSEDED
    latest = runs["r"]["status"]["checkpoint"]
    assert latest["seq"] == 4 and latest["chunks"]
    damage(runs, latest["chunks"][0])
    code, _ = await run_once(runs, "r", pod="pod-2")
    assert code == exit_codes.SUCCEEDED, runs["r"]["status"].get("error")
    status = runs["r"]["status"]
    assert status["result"] == {"steps": 5, "total": 15}
    recovered = status["runner"]["recoveredFrom"]
    assert (recovered["seq"], recovered["damagedSeq"]) == (3, 4) and "corrupt" in recovered["reason"]
    # Step 3 was completed in the damaged checkpoint only: it runs again, and nothing else does.
    assert [line.rsplit(" ", 2)[0] for line in record.read_text().splitlines()] == [
        "step 1",
        "step 2",
        "step 3",
        "step 4",
        "step 3",
        "step 4",
        "step 5",
    ]


async def test_with_no_intact_checkpoint_left_the_run_fails_as_corrupt(tmp_path: Path) -> None:
    spec = {"input": {"steps": 5, "pad": 8192}, "checkpoint": {"inlineLimitBytes": 1024}}
    runs = InMemoryApi(r=new_run("r", "kwf_testflows.steps:StepChain", **spec))
    runs.supersede_after = 4
    await run_once(runs, "r")
    status = runs["r"]["status"]
    damage(runs, status["checkpoint"]["chunks"][0])
    damage(runs, status["previousCheckpoint"]["chunks"][0])
    code, _ = await run_once(runs, "r", pod="pod-2")
    assert code == exit_codes.INVALID_RUN
    assert runs["r"]["status"]["error"]["reason"] == "CheckpointCorrupt"


async def test_the_workflow_timeout_counts_the_workflows_time_not_checkpoint_writes() -> None:
    # 20 steps of 10 ms fit TimedLoop's 2 s timeout in-process; with 150 ms per status write the pod
    # spends 3 s more writing checkpoints, which the workflow's clock does not count.
    runs = InMemoryApi(t=new_run("t", "kwf_testflows.loop:TimedLoop", input={"steps": 20, "delay": 0.01}))
    runs.write_delay = 0.15
    code, _ = await run_once(runs, "t")
    assert code == exit_codes.SUCCEEDED, runs["t"]["status"].get("error")
    assert runs["t"]["status"]["result"] == {"steps": 20}


async def test_a_workflow_over_its_own_timeout_still_times_out() -> None:
    runs = InMemoryApi(t=new_run("t", "kwf_testflows.loop:TimedLoop", input={"steps": 30, "delay": 0.1}))
    code, _ = await run_once(runs, "t")
    assert code == exit_codes.WORKFLOW_RAISED
    assert runs["t"]["status"]["error"]["type"] == "WorkflowTimeoutError"


async def test_a_workflow_on_a_runtime_of_its_own_is_refused_not_silently_switched() -> None:
    runs = InMemoryApi(r=new_run("r", "kwf_testflows.instances:on_own_runtime"))
    code, _ = await run_once(runs, "r")
    assert code == exit_codes.INVALID_RUN
    error = runs["r"]["status"]["error"]
    assert error["reason"] == "WorkflowNotImportable"
    assert "runtime=TracingRuntime(...)" in error["message"] and "without runtime=" in error["message"]


async def test_a_module_level_instance_imported_earlier_runs_on_the_durable_runtime() -> None:
    from kwf_testflows import instances  # on the default runtime: constructed before the runner ran

    runs = InMemoryApi(r=new_run("r", "kwf_testflows.instances:plain", input={"steps": 3}))
    code, reporter = await run_once(runs, "r")
    assert code == exit_codes.SUCCEEDED
    assert reporter.writes == 4  # begin and two steps checkpointed, the third's write carries the result
    assert type(instances.plain.runtime).__name__ == "DurableRuntime"


async def test_the_status_store_reads_back_what_the_runner_wrote() -> None:
    runs = InMemoryApi(r=new_run("r", "kwf_testflows.steps:StepChain", input={"steps": 2}))
    code, reporter = await run_once(runs, "r")
    assert code == exit_codes.SUCCEEDED
    store = StatusStore(reporter, pod="pod-1", policy=CheckpointPolicy(), owner={"name": "r"})
    saved = store.read_checkpoint("r")
    assert saved is not None and saved.final and saved.result == {"steps": 2, "total": 3}
    assert saved.steps_completed == 3 and saved.context["is_running"] is False
    with pytest.raises(ValueError, match="not other"):
        store.read_checkpoint("other")


class DictContexts:
    """spec.checkpoint.store in memory: what `context_store.PostgresContexts` keeps in PostgreSQL."""

    def __init__(self) -> None:
        self.kept: dict[tuple[str, int], tuple[str, str]] = {}

    def write(self, seq: int, encoded: Any, *, keep: int) -> None:
        self.kept[("ns/r/uid-r", seq)] = (encoded.data, encoded.sha256)
        self.kept = {k: v for k, v in self.kept.items() if seq - keep <= k[1] <= seq}

    def read(self, key: str, seq: int) -> tuple[str, str] | None:
        return self.kept.get((key, seq))


async def test_with_a_context_store_status_keeps_only_seq_digest_and_size_and_resume_reads_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kube_workflows.runner import context_store

    contexts = DictContexts()
    monkeypatch.setattr(context_store, "from_env", lambda run, attempt: contexts)
    record = tmp_path / "rec"
    runs = InMemoryApi({"r": new_run("r", "kwf_testflows.steps:StepChain", input={"steps": 6, "record": str(record)})})
    runs.supersede_after = 3
    code, _ = await run_once(runs, "r")
    assert code == exit_codes.SUPERSEDED
    checkpoint = runs["r"]["status"]["checkpoint"]
    assert checkpoint["storage"] == "PostgreSQL" and checkpoint["data"] == "" and "chunks" not in checkpoint
    assert checkpoint["seq"] == 3 and checkpoint["sizeBytes"] > 0
    assert contexts.kept[("ns/r/uid-r", 3)][1] == checkpoint["sha256"]
    # Checkpoint 4 reached the store before its status write was refused: status never pointed at it, and
    # the next pod writes seq 4 again over it. One more than status points at is kept, to spare.
    assert sorted(seq for _, seq in contexts.kept) == [2, 3, 4]

    code, _ = await run_once(runs, "r", pod="pod-2")
    assert code == exit_codes.SUCCEEDED
    assert record.read_text().splitlines() == [
        "step 1 - 1", "step 2 - 1", "step 3 - 1", "step 3 - 3", "step 4 - 3", "step 5 - 3", "step 6 - 3"
    ]  # fmt: skip
    status = runs["r"]["status"]
    assert status["result"] == {"steps": 6, "total": 21}
    assert status["checkpoint"]["data"] == "" and "previousCheckpoint" not in status
    final = contexts.read("ns/r/uid-r", status["checkpoint"]["seq"])
    assert final is not None and decode_checkpoint(final[0], sha256=status["checkpoint"]["sha256"])


async def test_a_checkpoint_in_postgres_without_the_dsn_fails_naming_the_setting() -> None:
    runs = InMemoryApi({"r": new_run("r", "kwf_testflows.steps:StepChain")})
    runs["r"]["status"] = {
        "checkpoint": {"seq": 3, "data": "", "storage": "PostgreSQL", "encoding": "json+zlib+base64", "sha256": "x"}
    }
    code, _ = await run_once(runs, "r")
    assert code == exit_codes.INVALID_RUN
    error = runs["r"]["status"]["error"]
    assert error["reason"] == "CheckpointStoreMissing" and "spec.checkpoint.store.postgres" in error["message"]
