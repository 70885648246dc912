"""WorkflowRuns as WorkflowServer handlers, and the client's events as spec entries (pure).

The shapes are llama-agents-client 0.4.1's (`HandlerData`, `EventEnvelopeWithMetadata`, `EventEnvelope`).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from kube_workflows.models import GROUP, KIND, TERMINAL_PHASES, VERSION

Json = dict[str, Any]
Status = Literal["running", "completed", "failed", "cancelled"]

# The client knows four statuses; every phase before an outcome (Waiting and Suspended included) is
# "running" to it. The phase itself goes along in `phase`.
_STATUS_OF_PHASE: dict[str, Status] = {"Succeeded": "completed", "Failed": "failed", "Cancelled": "cancelled"}
STOP_EVENT = "workflows.events.StopEvent"
# Upstream's default (WorkflowServer's sse_heartbeat_interval): an SSE comment when nothing else was sent.
SSE_HEARTBEAT_SECONDS = 25.0


def handler_status(phase: str | None) -> Status:
    return _STATUS_OF_PHASE.get(phase or "", "running")


def workflow_name(run: Json) -> str:
    """The template a run was made from, else its `spec.workflow`."""
    spec = run.get("spec") or {}
    return str((spec.get("templateRef") or {}).get("name") or spec.get("workflow") or "")


def stop_envelope(result: Any) -> Json:
    return {"value": {"result": result}, "qualified_name": STOP_EVENT, "type": "StopEvent", "types": None}


def handler_data(run: Json) -> Json:
    """`HandlerData` for a WorkflowRun, plus `phase` (its Kubernetes phase)."""
    meta, status = run.get("metadata") or {}, run.get("status") or {}
    phase = status.get("phase") or "Pending"
    state = handler_status(phase)
    error = status.get("error") or {}
    message = None
    if state == "failed":
        message = f"{error.get('reason') or 'Failed'}: {error.get('message') or ''}".rstrip(": ")
    done = state != "running"
    return {
        "handler_id": meta.get("name"),
        "workflow_name": workflow_name(run),
        "run_id": meta.get("uid"),
        "error": message,
        "result": stop_envelope(status.get("result")) if state == "completed" else None,
        "status": state,
        "phase": phase,
        "started_at": status.get("startTime") or meta.get("creationTimestamp") or "",
        "updated_at": _last_change(status),
        "completed_at": status.get("completionTime") if done else None,
    }


def _last_change(status: Json) -> str | None:
    times = [c.get("lastTransitionTime") for c in status.get("conditions") or []]
    times += [(status.get("checkpoint") or {}).get("time")]
    known = [t for t in times if t]
    return max(known) if known else None


def http_status(handler: Json) -> int:
    """The code upstream answers a handler with: 202 while running, 200 completed, 500 failed or cancelled."""
    return {"running": 202, "completed": 200}.get(handler["status"], 500)


def result_view(handler: Json) -> Json:
    """`GET /results/{id}` (deprecated upstream): the handler with the StopEvent's bare result."""
    result = handler["result"]
    return {**handler, "result": result["value"].get("result") if result else None}


def start_input(body: Json) -> Json:
    """`spec.input` from a run request: the start event's fields. `run` sends the event bare,
    `run-nowait` as an envelope `{value, type}`; a StartEvent keeps its extra fields under `_data`."""
    start = body.get("start_event", body.get("kwargs")) or {}
    if not isinstance(start, dict):
        raise ValueError("start_event must be a JSON object")
    if "value" in start and ("type" in start or "qualified_name" in start):
        start = start["value"] or {}
        if not isinstance(start, dict):
            raise ValueError("start_event.value must be a JSON object")
    extra = start.get("_data") or {}
    if not isinstance(extra, dict):
        raise ValueError("start_event._data must be a JSON object")
    return {**{k: v for k, v in start.items() if k != "_data"}, **extra}


def answer_entry(body: Json, run: Json) -> Json:
    """The `spec.events` entry for `POST /events/{id}`'s envelope `{event: {value, type, qualified_name}}`
    (the client's), or `{event: "<that envelope as JSON>"}` with `data` for `value` (the debugger's).

    The client names an event class by its bare name (`type`): the entry names it as `pkg.mod:Class`
    when the run waits for a class of that name or the envelope gives the qualified name; else it names
    none, and the runner builds the class the run waits for.
    """
    event = body.get("event")
    if isinstance(event, str):
        # The debugger sends the envelope as a JSON string, `{"type": ..., "data": {...}}` (upstream takes both).
        try:
            event = json.loads(event)
        except json.JSONDecodeError:
            raise ValueError("event must be an envelope {value, type}, or that envelope as a JSON string") from None
    if not isinstance(event, dict) or not event:
        raise ValueError("event is required: an envelope {value, type}")
    value = event.get("value", event.get("data"))
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ValueError("event.value must be a JSON object (the event's fields)")
    extra = value.get("_data") or {}
    if not isinstance(extra, dict):
        raise ValueError("event.value._data must be a JSON object")
    entry: Json = {"data": {**{k: v for k, v in value.items() if k != "_data"}, **extra}}
    qualified = event.get("qualified_name") or _waited_class(run, event.get("type"))
    if qualified:
        module, _, cls = str(qualified).rpartition(".")
        entry["type"] = f"{module}:{cls}"
    return entry


def _waited_class(run: Json, short: Any) -> str | None:
    expects = ((run.get("status") or {}).get("waiting") or {}).get("expects") or []
    matches = [q for q in expects if short and str(q).rpartition(".")[2] == short]
    return str(matches[0]) if len(matches) == 1 else None


def envelope(event: Json) -> Json:
    """`EventEnvelopeWithMetadata` for an event of `status.stream`."""
    qualified = str(event.get("type") or "")
    return {
        "value": event.get("value") or {},
        "qualified_name": qualified,
        "type": qualified.rpartition(".")[2],
        "types": event.get("types"),
    }


def new_events(run: Json, after: int) -> list[tuple[int, Json]]:
    """(sequence, envelope) of the run's streamed events after `after`, and, once it succeeded, its
    StopEvent as the sequence after the last (the upstream stream ends with it)."""
    status = run.get("status") or {}
    stream = status.get("stream") or {}
    found = [(int(e["sequence"]), envelope(e)) for e in stream.get("events") or [] if int(e["sequence"]) > after]
    stop = int(stream.get("lastSequence") or 0) + 1
    if status.get("phase") == "Succeeded" and stop > after:
        found.append((stop, stop_envelope(status.get("result"))))
    return found


def finished(run: Json) -> bool:
    return (run.get("status") or {}).get("phase") in TERMINAL_PHASES


def last_sequence(run: Json) -> int:
    return int(((run.get("status") or {}).get("stream") or {}).get("lastSequence") or 0)


def parse_after(value: str | None, run: Json) -> int:
    """`after_sequence`: an integer, or "now" (the default upstream): after what the run streamed so far."""
    if value is None or value.lower() == "now":
        return last_sequence(run)
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"after_sequence must be an integer or 'now', not {value!r}") from None


def run_manifest(template: str, input: Json, name: str | None) -> Json:
    """The WorkflowRun a run request creates; without a handler_id the API server picks the name."""
    meta: Json = {"name": name} if name else {"generateName": f"{template[:50]}-"}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": meta,
        "spec": {"templateRef": {"name": template}, "input": input},
    }


def matches(handler: Json, statuses: list[str] | None, names: list[str] | None) -> bool:
    return (not statuses or handler["status"] in statuses) and (not names or handler["workflow_name"] in names)
