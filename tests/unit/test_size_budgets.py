"""Per-object budgets: what the runner keeps in a WorkflowRun stays small, and a write the API server
refuses as too large fails the run clearly instead of being retried."""

from __future__ import annotations

import json

import pytest
from inmemory_api import InMemoryApi
from test_runner import new_run, run_once

from kube_workflows.checkpoint import outputs
from kube_workflows.models import WorkflowRunSpec, exit_codes
from kube_workflows.restclient import ApiError
from kube_workflows.runner.reporter import chunk_payload, too_large
from kube_workflows.runner.stream import MAX_STREAM_BYTES, json_size


def test_the_default_inline_limit_is_32_kib_and_the_result_limit_64_kib() -> None:
    spec = WorkflowRunSpec(workflow="pkg.mod:Flow")
    assert spec.checkpoint.inline_limit_bytes == 32 * 1024
    assert spec.result_limit_bytes == 64 * 1024


async def test_a_checkpoint_over_32_kib_is_offloaded_by_default() -> None:
    runs = InMemoryApi(r=new_run("r", "kwf_testflows.steps:StepChain", input={"steps": 1, "pad": 100_000}))
    code, _ = await run_once(runs, "r")
    assert code == exit_codes.SUCCEEDED
    checkpoint = runs["r"]["status"]["checkpoint"]
    assert 32 * 1024 < checkpoint["storedBytes"] < 256 * 1024
    assert checkpoint["storage"] == "ConfigMap" and checkpoint["data"] == ""


async def test_a_run_that_streams_much_keeps_status_stream_within_32_kib() -> None:
    # 200 events of ~1 KiB, beside a Context just under the inline limit.
    spec = {"input": {"steps": 20, "per_step": 10, "pad": 1000}, "checkpoint": {"inlineLimitBytes": 32 * 1024}}
    runs = InMemoryApi(r=new_run("r", "kwf_testflows.streaming:StreamChain", **spec))
    code, _ = await run_once(runs, "r")
    assert code == exit_codes.SUCCEEDED
    stream = runs["r"]["status"]["stream"]
    assert MAX_STREAM_BYTES - 1200 < json_size(stream["events"]) <= MAX_STREAM_BYTES
    assert stream["lastSequence"] == 200 and stream["firstSequence"] == 201 - len(stream["events"])
    assert json_size(runs["r"]["status"]) < 64 * 1024


async def test_a_result_over_spec_result_limit_bytes_goes_to_the_outputs_config_map() -> None:
    runs = InMemoryApi(r=new_run("r", "kwf_testflows.confidential:Confidential", input={"seed": "s", "pad": 70_000}))
    code, _ = await run_once(runs, "r")
    assert code == exit_codes.SUCCEEDED
    status = runs["r"]["status"]
    ref = status["resultRef"]
    assert status.get("result") is None and ref["configMap"] == "r-outputs" and ref["sizeBytes"] > 70_000
    texts = json.loads(chunk_payload(runs.chunks[("ConfigMap", "r-outputs")]))
    stored = json.loads(texts[ref["key"]])
    assert len(stored["pad"]) == 70_000 and outputs.inline(status, texts)["result"] == stored


async def test_a_result_over_one_object_fails_the_run_clearly() -> None:
    runs = InMemoryApi(r=new_run("r", "kwf_testflows.confidential:Confidential", input={"seed": "s", "pad": 800_000}))
    code, _ = await run_once(runs, "r")
    assert code == exit_codes.INVALID_RUN
    status = runs["r"]["status"]
    assert status["error"]["reason"] == "ResultTooLarge" and "one outputs object holds" in status["error"]["message"]
    assert status.get("result") is None and ("ConfigMap", "r-outputs") not in runs.chunks


async def test_a_result_under_a_raised_limit_is_recorded() -> None:
    runs = InMemoryApi(
        r=new_run(
            "r",
            "kwf_testflows.confidential:Confidential",
            input={"seed": "s", "pad": 70_000},
            resultLimitBytes=128 * 1024,
        )
    )
    code, _ = await run_once(runs, "r")
    assert code == exit_codes.SUCCEEDED and len(runs["r"]["status"]["result"]["pad"]) == 70_000


@pytest.mark.parametrize(
    ("status", "reason", "body"),
    [
        (413, "Request Entity Too Large", '{"message": "Request entity too large: limit is 3145728"}'),
        (
            422,
            "Unprocessable Entity",
            '{"message": "r is invalid: []: Too long: must have at most 1572864 bytes"}',
        ),
        (500, "Internal Server Error", '{"message": "etcdserver: request is too large"}'),
    ],
)
def test_size_refusals_are_told_apart(status: int, reason: str, body: str) -> None:
    assert too_large(_exc(status, reason, body))


def test_other_refusals_are_not_size_refusals() -> None:
    assert not too_large(_exc(422, "Unprocessable Entity", '{"message": "testing value /status/attempt failed"}'))
    assert not too_large(_exc(500, "Internal Server Error", '{"message": "etcd timeout"}'))


def _exc(status: int, reason: str, body: str) -> ApiError:
    exc = ApiError(status=status, reason=reason)
    exc.body = body
    return exc


@pytest.mark.parametrize("status", [413, 422])
async def test_a_status_write_refused_as_too_large_fails_the_run_without_retrying(status: int) -> None:
    runs = InMemoryApi(r=new_run("r", "kwf_testflows.steps:StepChain", input={"steps": 2, "pad": 16_000}))
    runs.max_body_bytes, runs.too_large_status = 8 * 1024, status
    code, _ = await run_once(runs, "r")
    assert code == exit_codes.INVALID_RUN
    error = runs["r"]["status"]["error"]
    assert error["reason"] == "StatusTooLarge" and "spec.checkpoint.inlineLimitBytes" in error["message"]
    assert runs.refused_as_too_large == 1  # not retried
