"""Pure: what the kwf commands send, and the checks made before sending it.

A spec from `kwf submit`'s flags, the JSON patch that appends an answer to spec.events, a fork of a
run from one of its checkpoints. ValueError messages name the flag to fix. No API calls here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from kube_workflows.cli.render import TERMINAL_PHASES, Obj, status_of
from kube_workflows.models import GROUP, KIND, VERSION, RunEvent
from kube_workflows.models.names import bounded_name
from kube_workflows.models.workflowrun import NAME_PATTERN

Json = dict[str, Any]
JsonPatch = list[Json]

FORKED_FROM = f"{GROUP}/forked-from"  # label (source name) and annotation (source@seq) on a fork
# What a fork keeps of its source: the workflow and how it runs. Not input (the checkpoint holds the
# state), events, suspend or cancel (they steered the source), ttlSecondsAfterFinished (the fork is a
# run of its own) or labels (a GitOps tool would take the fork for one of its own and prune it).
FORK_COPIES = (
    "workflow",
    "image",
    "template",
    "retry",
    "checkpoint",
    "timeoutSeconds",
    "stepTimeoutSeconds",
    "waitTimeoutSeconds",
)
MAX_NAME = 253
_NAME = re.compile(NAME_PATTERN)
_FLAGS = {
    "workflow": "MODULE:ATTR",
    "image": "--image",
    "input": "--input",
    "contextFrom.name": "--context-from",
    "timeoutSeconds": "--timeout",
    "stepTimeoutSeconds": "--step-timeout",
    "waitTimeoutSeconds": "--input-timeout",
    "retry.maxRestarts": "--max-restarts",
    "checkpoint.history": "--keep-checkpoints",
    "ttlSecondsAfterFinished": "--ttl",
}
_AFTER_THE_END = {
    "send-event": "a finished run takes no more events",
    "suspend": "a finished run cannot be suspended",
    "resume": "a finished run cannot be resumed",
    "cancel": "there is nothing left to cancel",
}


# --- kwf submit -----------------------------------------------------------------------------
def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _json(text: str, flag: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise ValueError(f"{flag} is not valid JSON: {exc}") from None


def parse_value(raw: str) -> Any:
    """`3` → 3, `true` → True, `{"a": 1}` → dict, anything that is not JSON → the string itself."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except ValueError:
        return raw


def parse_input(pairs: Sequence[str], json_text: str | None) -> dict[str, Any]:
    """--input-json first, then each --input KEY=VALUE on top. ValueError says which flag is wrong."""
    data: dict[str, Any] = {}
    if json_text is not None:
        value = _json(json_text, "--input-json")
        if not isinstance(value, dict):
            raise ValueError(f"--input-json must be a JSON object, e.g. '{{\"steps\": 4}}', not {json_text!r}")
        data.update(value)
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--input {pair!r}: expected KEY=VALUE, e.g. --input steps=4")
        data[key.strip()] = parse_value(raw)
    return data


def spec_errors(errors: Iterable[Mapping[str, Any]], spec: Obj) -> list[str]:
    """pydantic errors of WorkflowRunSpec → one line per field, naming the field and its flag."""
    lines = []
    for error in errors:
        loc = ".".join(str(p) for p in error.get("loc") or ())
        field = f"spec.{loc}" if loc else "spec"
        flag = _FLAGS.get(loc)
        pattern = error.get("type") == "string_pattern_mismatch"
        if loc == "workflow" and pattern:
            lines.append(
                f'spec.workflow "{spec.get("workflow")}" must be "module:Attribute", e.g. "my_package.flows:MyWorkflow"'
            )
        elif loc == "contextFrom.name" and pattern:
            lines.append(
                f'spec.contextFrom.name "{error.get("input")}" (--context-from) must be a WorkflowRun name: '
                'lowercase letters, digits, "-" and "."'
            )
        else:
            via = f" ({flag})" if flag and flag != "MODULE:ATTR" else ""
            lines.append(f"{field}{via}: {error.get('msg', 'invalid')}")
    return lines


def check_name(name: str, flag: str = "--name") -> None:
    if len(name) > MAX_NAME or not _NAME.match(name):
        raise ValueError(
            f'{flag} "{name}" is not a valid object name: lowercase letters, digits, "-" and ".", '
            "starting and ending with a letter or digit"
        )


def generate_name(workflow: str) -> str:
    """metadata.generateName from the workflow's attribute: `pkg.flows:DocumentPipeline` → `document-pipeline-`."""
    attr = workflow.rpartition(":")[2].rpartition(".")[2]
    kebab = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", attr).lower().replace("_", "-")
    kebab = re.sub(r"[^a-z0-9-]+", "", kebab)
    kebab = re.sub(r"-+", "-", kebab).strip("-")[:40].rstrip("-")
    return f"{kebab or 'run'}-"


# --- steering a run -------------------------------------------------------------------------
def refusal(run: Obj, command: str) -> str | None:
    """Why `command` (send-event, suspend, resume, cancel) cannot change the run now; None when it can."""
    name = (run.get("metadata") or {}).get("name")
    phase = status_of(run).get("phase")
    if phase in TERMINAL_PHASES:
        again = f"; to go on from one of its checkpoints: kwf fork {name} --from-seq N" if command != "cancel" else ""
        return f"WorkflowRun {name} is {phase}: {_AFTER_THE_END[command]}{again}"
    if (run.get("spec") or {}).get("cancel") and command != "cancel":
        return f"WorkflowRun {name} is being cancelled (spec.cancel is true); it takes no more changes"
    return None


def parse_event(data_text: str, event_type: str | None) -> Json:
    """A spec.events entry from --data (a JSON object) and --type; ValueError names the flag."""
    data = _json(data_text, "--data")
    if not isinstance(data, dict):
        raise ValueError(f'--data must be a JSON object, e.g. \'{{"response": "yes"}}\', not {data_text!r}')
    event: Json = {"data": data}
    if event_type is not None:
        event["type"] = event_type
    try:
        RunEvent.model_validate(event)
    except ValidationError:
        raise ValueError(
            f'--type "{event_type}" must be "module:Class", e.g. "workflows.events:HumanResponseEvent"'
        ) from None
    return event


def event_patch(run: Obj, event: Json) -> tuple[JsonPatch, int | None]:
    """The JSON patch that sends `event` to `run`, and the spec.events index it takes (None: the end of
    the list, as the patched object shows).

    It appends (`add /spec/events/-`), so senders at the same time each get an entry. An answer the
    run rejected is replaced instead: the runner retries the entry at status.waiting.eventIndex on the
    next edit, so another one after it would never be read. `test` ops turn a concurrent change into a
    failed patch (422), to be read again and retried, rather than one overwriting the other.
    """
    sent = (run.get("spec") or {}).get("events")
    meta, status = run.get("metadata") or {}, status_of(run)
    waiting = (status.get("waiting") or {}) if status.get("phase") == "Waiting" else {}
    index = waiting.get("eventIndex")
    rejected_now = waiting.get("error") and waiting.get("rejectedGeneration") == meta.get("generation")
    if rejected_now and sent and isinstance(index, int) and index < len(sent):
        path = f"/spec/events/{index}"
        return [
            {"op": "test", "path": path, "value": sent[index]},
            {"op": "replace", "path": path, "value": event},
        ], index
    if sent is None:  # `add /spec/events` replaces a list: only onto the version read
        version = {"op": "test", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")}
        return [version, {"op": "add", "path": "/spec/events", "value": [event]}], 0
    return [{"op": "add", "path": "/spec/events/-", "value": event}], None


def event_outcome(run: Obj, index: int, generation: int | None) -> str | None:
    """Where spec.events[index], sent at metadata.generation `generation`, stands: None until the run has
        settled after it, then "delivered" (it waits for a later answer), "rejected" (status.waiting.error says
    why) or "finished"."""
    status = status_of(run)
    waiting = (status.get("waiting") or {}) if status.get("phase") == "Waiting" else {}
    waits_for = waiting.get("eventIndex")
    # A rejected answer keeps the wait at its index; one that woke no step is delivered, then rejected.
    if (
        waiting.get("error")
        and generation is not None
        and int(waiting.get("rejectedGeneration") or 0) >= generation
        and waits_for in (index, index + 1)
    ):
        return "rejected"
    # Settled: it asks the next question, or it ended (a run busy with the answer is neither yet).
    if isinstance(waits_for, int) and waits_for > index:
        return "delivered"
    if status.get("phase") in TERMINAL_PHASES:
        return "finished"
    return None


# --- kwf fork --------------------------------------------------------------------------------
def fork_seqs(run: Obj) -> list[int]:
    """The checkpoints a new run can fork from: status.history's and the current one, ascending."""
    status = status_of(run)
    seqs = {record.get("seq") for record in status.get("history") or []}
    seqs.add((status.get("checkpoint") or {}).get("seq"))
    return sorted(s for s in seqs if isinstance(s, int))


def check_fork_seq(run: Obj, seq: int) -> None:
    """ValueError unless `seq` is a checkpoint `run` still keeps, listing the ones it does."""
    seqs = fork_seqs(run)
    if seq in seqs:
        return
    name = (run.get("metadata") or {}).get("name")
    if not seqs:
        raise ValueError(f"--from-seq {seq}: {name} has no checkpoint yet (none until its first step completes)")
    current = (status_of(run).get("checkpoint") or {}).get("seq")
    kept = ", ".join(f"{s} (current)" if s == current else str(s) for s in seqs)
    keep = ((run.get("spec") or {}).get("checkpoint") or {}).get("history") or 0
    raise ValueError(
        f"--from-seq {seq}: {name} does not keep checkpoint {seq}; it keeps {kept}. A run keeps its last K "
        f"checkpoints to fork from when created with spec.checkpoint.history: K (kwf submit --keep-checkpoints K); "
        f"{name} has {keep}"
    )


def fork_name(source: str, seq: int) -> str:
    """`<source>-fork-<seq>`, the source part shortened (with a hash) to fit 253 characters."""
    suffix = f"-fork-{seq}"
    return bounded_name(source, limit=MAX_NAME - len(suffix)) + suffix


def build_fork(source: Obj, seq: int, *, name: str | None = None, image: str | None = None) -> Json:
    """A new WorkflowRun that continues `source` from its checkpoint `seq` (spec.contextFrom {name, seq}),
    with the source's workflow and run settings (FORK_COPIES) and a note of where it came from."""
    source_name = str(source["metadata"]["name"])
    source_spec = source.get("spec") or {}
    spec: Json = {key: source_spec[key] for key in FORK_COPIES if source_spec.get(key) is not None}
    if image:
        spec["image"] = image
    spec["contextFrom"] = {"name": source_name, "seq": seq}
    metadata: Json = {
        "name": name or fork_name(source_name, seq),
        "labels": {FORKED_FROM: bounded_name(source_name)},
        "annotations": {FORKED_FROM: f"{source_name}@{seq}"},
    }
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": metadata, "spec": spec}
