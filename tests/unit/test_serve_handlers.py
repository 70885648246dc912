"""`kwf serve`'s pure half: WorkflowRuns as the client's handlers, the client's start events and answers
as spec fields, status.stream as event envelopes. Shapes checked against llama-agents-client's own models."""

from __future__ import annotations

from typing import Any

import pytest
from llama_agents.client.protocol import HandlerData
from llama_agents.client.protocol.serializable_events import EventEnvelope, EventEnvelopeWithMetadata
from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent

from kube_workflows.models import WorkflowRun
from kube_workflows.server import handlers

HUMAN = "workflows.events.HumanResponseEvent"


def a_run(phase: str | None = None, *, spec: dict[str, Any] | None = None, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "chain-x1", "uid": "u-1", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": spec or {"templateRef": {"name": "chain"}},
        "status": {"phase": phase, **status} if phase else status,
    }


def progress(sequence: int, msg: str) -> dict[str, Any]:
    return {
        "sequence": sequence,
        "type": "kwf_testflows.streaming.ProgressEvent",
        "value": {"msg": msg},
        "timestamp": "2026-01-01T00:00:01.000Z",
        "step": "work",
    }


@pytest.mark.parametrize(
    ("phase", "status"),
    [
        (None, "running"),
        ("Pending", "running"),
        ("Queued", "running"),
        ("Running", "running"),
        ("Waiting", "running"),
        ("Suspended", "running"),
        ("Succeeded", "completed"),
        ("Failed", "failed"),
        ("Cancelled", "cancelled"),
    ],
)
def test_every_phase_maps_onto_one_of_the_clients_four_statuses(phase: str | None, status: str) -> None:
    assert handlers.handler_status(phase) == status
    data = handlers.handler_data(a_run(phase))
    assert data["status"] == status and data["phase"] == (phase or "Pending")
    HandlerData.model_validate(data)  # the client reads it


def test_every_phase_of_the_crd_is_mapped_on_purpose() -> None:
    phases = WorkflowRun.model_json_schema()["$defs"]["Phase"]["enum"]
    assert sorted(phases) == sorted(
        ["Pending", "Queued", "Running", "Waiting", "Suspended", "Succeeded", "Failed", "Cancelled"]
    )


def test_a_succeeded_run_carries_its_result_as_a_stop_event() -> None:
    run = a_run(
        "Succeeded", result={"steps": 3}, startTime="2026-01-01T00:00:02Z", completionTime="2026-01-01T00:01:00Z"
    )
    data = HandlerData.model_validate(handlers.handler_data(run))
    assert data.result is not None and data.result.type == "StopEvent"
    assert data.result.value == {"result": {"steps": 3}}
    assert (data.handler_id, data.workflow_name, data.run_id) == ("chain-x1", "chain", "u-1")
    assert (data.started_at, data.completed_at) == ("2026-01-01T00:00:02Z", "2026-01-01T00:01:00Z")
    assert handlers.http_status(handlers.handler_data(run)) == 200
    assert handlers.result_view(handlers.handler_data(run))["result"] == {"steps": 3}


def test_a_failed_run_names_its_reason_and_answers_500() -> None:
    data = handlers.handler_data(a_run("Failed", error={"reason": "WorkflowRaised", "message": "step 4 gives up"}))
    assert data["error"] == "WorkflowRaised: step 4 gives up" and data["result"] is None
    assert handlers.http_status(data) == 500
    assert handlers.http_status(handlers.handler_data(a_run("Waiting"))) == 202


def test_a_run_without_a_template_is_named_by_its_workflow() -> None:
    assert handlers.workflow_name(a_run(spec={"workflow": "pkg.mod:Flow"})) == "pkg.mod:Flow"


@pytest.mark.parametrize(
    "body",
    [
        {"start_event": StartEvent(steps=3, ask=True).model_dump(mode="json")},  # run: the event, bare
        {"start_event": EventEnvelope.from_event(StartEvent(steps=3, ask=True)).model_dump()},  # run-nowait
        {"start_event": {"steps": 3, "ask": True}},
        {"kwargs": {"steps": 3, "ask": True}},
    ],
)
def test_the_start_event_becomes_spec_input(body: dict[str, Any]) -> None:
    assert handlers.start_input(body) == {"steps": 3, "ask": True}


def test_no_start_event_is_no_input_and_a_bad_one_is_named() -> None:
    assert handlers.start_input({}) == {}
    with pytest.raises(ValueError, match="start_event must be a JSON object"):
        handlers.start_input({"start_event": [1]})


def test_a_run_request_makes_a_run_of_the_template() -> None:
    assert handlers.run_manifest("chain", {"steps": 2}, None)["metadata"] == {"generateName": "chain-"}
    named = handlers.run_manifest("chain", {"steps": 2}, "mine")
    assert named["metadata"] == {"name": "mine"}
    assert named["spec"] == {"templateRef": {"name": "chain"}, "input": {"steps": 2}}
    assert named["kind"] == "WorkflowRun"


def test_an_answer_names_the_class_the_run_waits_for() -> None:
    waiting = a_run("Waiting", waiting={"expects": [HUMAN], "eventIndex": 0})
    body = {"event": EventEnvelope.from_event(HumanResponseEvent(response="Ada")).model_dump()}
    assert handlers.answer_entry(body, waiting) == {
        "data": {"response": "Ada"},
        "type": "workflows.events:HumanResponseEvent",
    }


def test_an_answer_of_a_class_the_run_does_not_name_leaves_the_choice_to_the_runner() -> None:
    # Sent ahead of the question (the run is still Running): the runner builds the class it then waits for.
    body = {"event": {"value": {"response": "Ada"}, "type": "HumanResponseEvent"}}
    assert handlers.answer_entry(body, a_run("Running")) == {"data": {"response": "Ada"}}


def test_an_answer_with_a_qualified_name_keeps_it_and_extra_fields_are_flattened() -> None:
    body = {"event": {"value": {"_data": {"note": "hi"}}, "qualified_name": "pkg.events.Reply"}}
    assert handlers.answer_entry(body, a_run("Waiting")) == {"data": {"note": "hi"}, "type": "pkg.events:Reply"}


def test_the_debuggers_answer_a_json_string_with_data_is_read_as_the_envelope() -> None:
    waiting = a_run("Waiting", waiting={"expects": ["kwf_testflows.greeting.Name"], "eventIndex": 0})
    body = {"event": '{"type":"Name","data":{"name":"Ada"}}'}  # what @llamaindex/workflow-debugger 0.2.42 posts
    assert handlers.answer_entry(body, waiting) == {"data": {"name": "Ada"}, "type": "kwf_testflows.greeting:Name"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "event is required"),
        ({"event": "text"}, "or that envelope as a JSON string"),
        ({"event": "[1]"}, "event is required"),
        ({"event": {"value": [1], "type": "X"}}, "event.value must be a JSON object"),
    ],
)
def test_a_malformed_answer_is_refused_with_the_field(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        handlers.answer_entry(body, a_run("Waiting"))


def test_streamed_events_become_envelopes_after_a_sequence() -> None:
    stream = {"firstSequence": 1, "lastSequence": 3, "events": [progress(1, "a"), progress(2, "b"), progress(3, "c")]}
    found = handlers.new_events(a_run("Running", stream=stream), 1)
    assert [seq for seq, _ in found] == [2, 3]
    envelope = EventEnvelopeWithMetadata.model_validate(found[0][1])
    assert (envelope.type, envelope.qualified_name, envelope.value) == (
        "ProgressEvent",
        "kwf_testflows.streaming.ProgressEvent",
        {"msg": "b"},
    )


def test_a_succeeded_run_ends_its_stream_with_the_stop_event_once() -> None:
    run = a_run(
        "Succeeded", result={"ok": True}, stream={"firstSequence": 1, "lastSequence": 1, "events": [progress(1, "a")]}
    )
    assert [(seq, env["type"]) for seq, env in handlers.new_events(run, 0)] == [(1, "ProgressEvent"), (2, "StopEvent")]
    assert handlers.new_events(run, 2) == []  # a reader that saw it all gets nothing more (204)
    # A run that succeeded streaming nothing still says how it ended.
    assert [seq for seq, _ in handlers.new_events(a_run("Succeeded", result=1), 0)] == [1]


def test_an_input_request_loads_as_the_clients_event() -> None:
    asked = {**progress(1, ""), "type": "workflows.events.InputRequiredEvent", "value": {"prefix": "your name?"}}
    [(_, envelope)] = handlers.new_events(a_run("Waiting", stream={"lastSequence": 1, "events": [asked]}), 0)
    event = EventEnvelopeWithMetadata.model_validate(envelope).load_event()
    assert isinstance(event, InputRequiredEvent) and event.prefix == "your name?"


@pytest.mark.parametrize(("value", "after"), [(None, 3), ("now", 3), ("NOW", 3), ("-1", -1), ("2", 2)])
def test_after_sequence_defaults_to_now(value: str | None, after: int) -> None:
    assert handlers.parse_after(value, a_run("Running", stream={"lastSequence": 3})) == after


def test_after_sequence_must_be_a_number() -> None:
    with pytest.raises(ValueError, match="after_sequence must be an integer or 'now'"):
        handlers.parse_after("soon", a_run("Running"))


def test_handlers_filter_by_status_and_workflow_name() -> None:
    data = handlers.handler_data(a_run("Running"))
    assert handlers.matches(data, None, None) and handlers.matches(data, ["running"], ["chain"])
    assert not handlers.matches(data, ["completed"], None) and not handlers.matches(data, None, ["other"])
