"""spec.checkpoint.sensitive: the run object holds nothing the workflow produced, only sizes, digests and
pointers; the checkpoint, result, error details and questions live in Secrets the run owns."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from inmemory_api import InMemoryApi
from test_runner import new_run, run_once

from kube_workflows.checkpoint import outputs as outputs_module
from kube_workflows.models import exit_codes
from kube_workflows.runner.reporter import chunk_payload

SEED = "abc123"
SECRET = "321cba-SECRET"  # kwf_testflows.confidential.secret_of(SEED): not in spec.input
SENSITIVE = {"sensitive": True}


def confidential(mode: str, **spec: Any) -> InMemoryApi:
    return InMemoryApi(
        r=new_run("r", "kwf_testflows.confidential:Confidential", input={"seed": SEED, "mode": mode}, **spec)
    )


def outputs(runs: InMemoryApi, ref: dict[str, Any]) -> Any:
    """The value a status pointer names, read from its Secret and checked against its digest."""
    text = json.loads(chunk_payload(runs.chunks[("Secret", ref["secret"])]))[ref["key"]]
    assert hashlib.sha256(text.encode()).hexdigest() == ref["sha256"]
    assert len(text.encode()) == ref["sizeBytes"]
    return json.loads(text)


async def test_a_small_checkpoint_of_a_sensitive_run_is_offloaded_anyway() -> None:
    runs = confidential("return", checkpoint={**SENSITIVE, "inlineLimitBytes": 1024 * 1024})
    code, _ = await run_once(runs, "r")
    assert code == exit_codes.SUCCEEDED
    checkpoint = runs["r"]["status"]["checkpoint"]
    assert checkpoint["storage"] == "Secret" and checkpoint["data"] == "" and checkpoint["chunks"]


async def test_the_result_of_a_sensitive_run_is_kept_out_of_status() -> None:
    runs = confidential("return", checkpoint=SENSITIVE)
    code, _ = await run_once(runs, "r")
    assert code == exit_codes.SUCCEEDED
    status = runs["r"]["status"]
    assert SECRET not in json.dumps(runs["r"])
    assert status.get("result") is None
    assert status["resultRef"]["secret"] == "r-outputs" and status["resultRef"]["key"] == "result"
    assert outputs(runs, status["resultRef"])["token"] == SECRET


async def test_the_error_details_of_a_sensitive_run_are_kept_out_of_status() -> None:
    runs = confidential("raise", checkpoint=SENSITIVE)
    code, _ = await run_once(runs, "r")
    assert code == exit_codes.WORKFLOW_RAISED
    error = runs["r"]["status"]["error"]
    assert SECRET not in json.dumps(runs["r"])
    assert (error["reason"], error["type"], error["step"]) == ("WorkflowRaised", "ValueError", "begin")
    assert "r-outputs" in error["message"] and "traceback" not in error
    details = outputs(runs, error["detailsRef"])
    assert SECRET in details["message"] and SECRET in details["traceback"]


async def test_the_questions_of_a_sensitive_run_are_kept_out_of_status_and_answered_as_usual() -> None:
    runs = confidential("ask", checkpoint=SENSITIVE)
    code, _ = await run_once(runs, "r")
    assert code == exit_codes.WAITING
    waiting = runs["r"]["status"]["waiting"]
    assert SECRET not in json.dumps(runs["r"])
    assert waiting["requests"] == [] and waiting["expects"] == ["workflows.events.HumanResponseEvent"]
    assert outputs(runs, waiting["requestsRef"])[0]["prefix"] == f"confirm {SECRET}?"

    runs["r"]["spec"]["events"] = [{"data": {"response": "yes"}}]
    code, _ = await run_once(runs, "r", pod="pod-2")
    assert code == exit_codes.SUCCEEDED
    assert SECRET not in json.dumps(runs["r"])
    assert outputs(runs, runs["r"]["status"]["resultRef"]) == {"answer": "yes", "secret": SECRET}


async def test_a_sensitive_run_parked_again_without_an_answer_still_points_at_its_question() -> None:
    runs = confidential("ask", checkpoint=SENSITIVE)
    await run_once(runs, "r")
    code, _ = await run_once(runs, "r", pod="pod-2")  # no answer yet: parks again at once
    assert code == exit_codes.WAITING
    assert outputs(runs, runs["r"]["status"]["waiting"]["requestsRef"])[0]["prefix"] == f"confirm {SECRET}?"


async def test_a_run_that_is_not_sensitive_keeps_its_outputs_in_status() -> None:
    runs = confidential("return")
    code, _ = await run_once(runs, "r")
    assert code == exit_codes.SUCCEEDED
    assert runs["r"]["status"]["result"]["token"] == SECRET and "resultRef" not in runs["r"]["status"]
    assert runs["r"]["status"]["checkpoint"]["data"] and not runs.chunks


def test_readers_get_the_withheld_values_back_from_the_secrets_texts() -> None:
    """What `kwf get/describe/submit --wait` show for a sensitive run, once they read its outputs Secret."""
    texts = {"result": outputs_module.to_text({"token": SECRET}), "error": outputs_module.to_text({"message": "m"})}
    status = {
        "resultRef": outputs_module.reference("r", "result", texts["result"]),
        "error": outputs_module.withheld_error({"reason": "X"}, outputs_module.reference("r", "error", texts["error"])),
        "waiting": {"requests": [], "requestsRef": outputs_module.reference("r", "requests", "[]")},
    }
    shown = outputs_module.inline(status, texts)
    assert shown["result"] == {"token": SECRET} and shown["error"]["message"] == "m"
    assert shown["waiting"]["requests"] == []  # its key is missing: left as status has it
    assert "result" not in status  # a copy
