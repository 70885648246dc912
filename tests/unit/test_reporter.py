"""The runner's fences against the in-memory API (which answers 409/422 like the API server)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from kube_workflows.checkpoint import offload
from kube_workflows.models import exit_codes
from kube_workflows.runner import reporter as reporter_module
from kube_workflows.runner.main import RunnerIdentity, execute
from kube_workflows.runner.reporter import ApiUnavailable, NotClaimable, Reporter, Superseded, chunk_payload

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflows"))

from inmemory_api import InMemoryApi


def new_run(name: str = "r", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}"},
        "spec": {"workflow": "kwf_testflows.steps:StepChain", **spec},
    }


def chunk(attempt: int, payload: str, seq: int = 1) -> dict[str, Any]:
    owner = {"kind": "WorkflowRun", "name": "r", "uid": "uid-r"}
    return offload.chunk_object("ConfigMap", "r-ckpt-b-0", "ns", "r", owner, payload, attempt=attempt, seq=seq)


def test_a_stale_pod_cannot_overwrite_a_chunk_a_newer_attempt_wrote() -> None:
    api = InMemoryApi(r=new_run())
    stale, current = Reporter("ns", "r", api=api), Reporter("ns", "r", api=api)
    assert stale.claim("old")[1] == 1
    stale.put_chunk(chunk(1, "old seq 2", seq=2))  # its own earlier write: it knows the resourceVersion
    assert current.claim("new")[1] == 2
    current.put_chunk(chunk(2, "new seq 4", seq=4))  # status now points at this one
    with pytest.raises(Superseded, match="written by attempt 2"):
        stale.put_chunk(chunk(1, "stale seq 4", seq=4))
    assert chunk_payload(api.chunks[("ConfigMap", "r-ckpt-b-0")]) == "new seq 4"


def test_a_newer_attempt_overwrites_what_an_older_one_left_in_a_slot() -> None:
    api = InMemoryApi(r=new_run())
    old, new = Reporter("ns", "r", api=api), Reporter("ns", "r", api=api)
    old.claim("old")
    old.put_chunk(chunk(1, "from attempt 1"))
    new.claim("new")
    new.put_chunk(chunk(2, "from attempt 2"))
    new.put_chunk(chunk(2, "again from attempt 2"))  # its own resourceVersion: no read needed
    stored = api.chunks[("ConfigMap", "r-ckpt-b-0")]
    assert chunk_payload(stored) == "again from attempt 2"
    assert stored["metadata"]["annotations"][offload.ATTEMPT_ANNOTATION] == "2"


def test_a_write_retried_after_its_response_was_lost_applies_once() -> None:
    api = InMemoryApi(r=new_run())
    reporter = Reporter("ns", "r", api=api)
    reporter.claim("pod")
    api.lost_responses = 1  # the patch lands, the client sees a 504 and retries it
    record = {"name": "work", "seq": 1, "attempt": 1, "completedAt": "2026-12-01T00:00:00Z"}
    reporter.write(
        "checkpoint 1",
        [
            {"op": "test", "path": "/status/attempt", "value": 1},
            {"op": "add", "path": "/status/steps/-", "value": record},
        ],
    )
    assert api["r"]["status"]["steps"] == [record]
    assert api["r"]["status"]["runner"]["writes"] == 1 and reporter.writes == 1


def test_a_retried_remove_does_not_fail_the_run() -> None:
    api = InMemoryApi(r=new_run())
    api["r"]["status"] = {"waiting": {"eventIndex": 0}}
    reporter = Reporter("ns", "r", api=api)
    reporter.claim("pod")
    api.lost_responses = 1
    reporter.write(
        "answered", [{"op": "test", "path": "/status/attempt", "value": 1}, {"op": "remove", "path": "/status/waiting"}]
    )
    assert "waiting" not in api["r"]["status"]


def test_a_genuinely_rejected_write_still_raises() -> None:
    api = InMemoryApi(r=new_run())
    reporter = Reporter("ns", "r", api=api)
    reporter.claim("pod")
    with pytest.raises(Exception, match="422"):
        reporter.write(
            "bad", [{"op": "test", "path": "/status/attempt", "value": 1}, {"op": "remove", "path": "/status/nothing"}]
        )


@pytest.mark.parametrize(
    ("spec", "status", "why"),
    [
        ({"cancel": True}, {}, "cancelled"),
        ({"suspend": True}, {}, "suspended"),
        ({}, {"phase": "Cancelled"}, "Cancelled"),
        ({}, {"phase": "Failed"}, "Failed"),
    ],
)
async def test_a_late_pod_does_not_claim_a_run_that_must_not_run(
    spec: dict[str, Any], status: dict[str, Any], why: str
) -> None:
    api = InMemoryApi(r=new_run(**spec))
    api["r"]["status"] = {"attempt": 4, **status}
    with pytest.raises(NotClaimable, match=why):
        Reporter("ns", "r", api=api).claim("late")
    code = await execute(RunnerIdentity("ns", "r", "late", handle_sigterm=False), Reporter("ns", "r", api=api))
    assert code == exit_codes.NOT_CLAIMED
    assert api["r"]["status"] == {"attempt": 4, **status} and api.patches == []


async def test_a_final_context_over_the_cap_still_records_a_final_checkpoint() -> None:
    api = InMemoryApi(
        a=new_run(
            "a",
            workflow="kwf_testflows.big_state:BigAtTheEnd",
            input={"size_mb": 1},
            checkpoint={"maxBytes": 200 * 1024},
        ),
    )
    code = await execute(RunnerIdentity("ns", "a", "p", handle_sigterm=False), Reporter("ns", "a", api=api))
    assert code == exit_codes.SUCCEEDED
    checkpoint = api["a"]["status"]["checkpoint"]
    # The result is there, and the final checkpoint says so (without the Context it could not keep).
    assert api["a"]["status"]["result"] == "done"
    assert checkpoint["final"] is True and checkpoint["storage"] == "Omitted" and checkpoint["data"] == ""
    api["a"]["status"]["phase"] = "Succeeded"
    api["b"] = new_run("b", workflow="kwf_testflows.big_state:BigAtTheEnd", contextFrom={"name": "a"})
    code = await execute(RunnerIdentity("ns", "b", "p", handle_sigterm=False), Reporter("ns", "b", api=api))
    assert code == exit_codes.INVALID_RUN
    assert api["b"]["status"]["error"]["reason"] == "ContextNotKept"


def test_with_the_operator_down_the_runner_asks_again_and_gives_up_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reporter_module, "STORAGE_WAIT_SECONDS", 0.6)
    monkeypatch.setattr(reporter_module, "STORAGE_ASK_SECONDS", 0.2)
    api = InMemoryApi(r=new_run())
    api.serves_storage = False
    writer = Reporter("ns", "r", api=api)
    writer.claim("pod")
    with pytest.raises(ApiUnavailable, match=r"the operator did not create it .*storageWanted"):
        writer.put_chunk(chunk(1, "x"))
    asks = [p for p in api.patches if any(op.get("path") == "/status/runner/storageWanted" for op in p)]
    assert len(asks) >= 2 and not api.chunks  # it asked, and again, and created nothing itself
    assert api["r"]["status"]["runner"]["storageWanted"]["chunks"] == 1


def test_a_runner_never_writes_into_an_object_of_its_name_that_another_owner_holds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reporter_module, "STORAGE_WAIT_SECONDS", 0.3)
    api = InMemoryApi(r=new_run())
    theirs = {**chunk(0, "a user's data"), "metadata": {"name": "r-ckpt-b-0", "namespace": "ns"}}
    api.create_chunk(theirs)
    api.serves_storage = False  # the operator would fail the run (ChildNameConflict); here nobody answers
    writer = Reporter("ns", "r", api=api)
    writer.claim("pod")
    with pytest.raises(ApiUnavailable):
        writer.put_chunk(chunk(1, "mine"))
    assert chunk_payload(api.chunks[("ConfigMap", "r-ckpt-b-0")]) == "a user's data"
