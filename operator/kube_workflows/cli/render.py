"""Pure formatting for the kwf run commands: plain dicts in, strings out.

Objects are WorkflowRuns and Pods as the API serves them (camelCase JSON). Nothing here talks to the
API, so every function is unit-tested without a cluster. `describe` builds the long view from these.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from kube_workflows.models import exit_codes
from kube_workflows.models.workflowrun import TERMINAL_PHASES as _TERMINAL
from kube_workflows.models.workflowrun import effective_spec

Obj = Mapping[str, Any]
Row = Sequence[str] | str  # a str row is printed as is (a separator), not aligned

TERMINAL_PHASES = tuple(str(p) for p in _TERMINAL)  # Succeeded, Failed, Cancelled
PARKED_PHASES = ("Waiting", "Suspended")  # no pod runs until someone answers or resumes
RESOURCE = "workflowrun.kube-workflows.dev"
MAX_STEP_RECORDS = 50  # status.steps keeps the last 50 (runner/patches.py)

_RUNNER_EXITS = {
    exit_codes.SUCCEEDED: "succeeded",
    exit_codes.WORKFLOW_RAISED: "workflow raised",
    exit_codes.INVALID_RUN: "run cannot work",
    exit_codes.INFRASTRUCTURE: "API unavailable",
    exit_codes.SUPERSEDED: "superseded by a newer pod",
    exit_codes.NOT_CLAIMED: "found the run finished, cancelled or suspended",
    137: "killed (SIGKILL)",
    143: "terminated (SIGTERM)",
}


# --- small pieces -------------------------------------------------------------------------
def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def human_duration(seconds: float) -> str:
    """kubectl's compact durations: 45s, 3m12s, 17m, 4h5m, 30h, 3d4h, 120d, 2y30d."""
    s = max(0, int(seconds))
    m, h, d = s // 60, s // 3600, s // 86400
    if s < 120:
        return f"{s}s"
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if h < 3:
        return f"{m}m"
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 192:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 730:
        return f"{d}d"
    y = d // 365
    return f"{y}y{d % 365}d" if y < 8 and d % 365 else f"{y}y"


def age(timestamp: Any, now: datetime) -> str:
    when = parse_time(timestamp)
    return human_duration((now - when).total_seconds()) if when else "-"


def format_ms(ms: Any) -> str:
    if ms is None:
        return "-"
    ms = int(ms)
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return human_duration(ms / 1000)


def format_bytes(n: Any) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024 or unit == "MiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} MiB"  # pragma: no cover


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False, default=str)


def table(headers: Sequence[str], rows: Iterable[Row], indent: str = "") -> str:
    """Left-aligned columns, three spaces apart, like kubectl."""
    rows = list(rows)
    widths = [len(h) for h in headers]
    for row in rows:
        if not isinstance(row, str):
            widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = []
    for row in [headers, *rows]:
        if isinstance(row, str):
            lines.append(indent + row)
        else:
            lines.append(indent + "   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def condition(status: Obj, type_: str) -> Obj:
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), {})


def status_of(run: Obj) -> Obj:
    status = run.get("status")
    return status if isinstance(status, Mapping) else {}


# --- kwf get ------------------------------------------------------------------------------
def short_outcome(status: Obj, limit: int = 50) -> str:
    """The RESULT/ERROR column: the result as compact JSON, the prompt of a waiting run, or why it ended."""
    phase = status.get("phase")
    if phase == "Succeeded":
        return shorten(compact_json(status.get("result")), limit)
    if phase == "Waiting":
        return shorten(f"waits for input: {waiting_prompt(status.get('waiting') or {})}", limit)
    error = status.get("error") or {}
    if phase in ("Failed", "Cancelled"):
        cond = condition(status, "Succeeded")
        reason = cond.get("reason") or error.get("reason") or phase
        return shorten(f"{reason}: {cond.get('message') or error.get('message') or ''}".rstrip(": "), limit)
    if error:
        return shorten(f"{error.get('reason')}: {error.get('message', '')}", limit)
    return "-"


def run_row(run: Obj, now: datetime, *, wide: bool = False, all_namespaces: bool = False) -> list[str]:
    meta = run.get("metadata") or {}
    status = status_of(run)
    checkpoint = status.get("checkpoint") or {}
    row = [
        str(meta.get("name", "")),
        str(status.get("phase") or "-"),
        str(status.get("currentStep") or checkpoint.get("step") or "-"),  # running, else last completed
        str(checkpoint.get("seq", "-")),
        str(status.get("restarts") or 0),
        age(meta.get("creationTimestamp"), now),
    ]
    if all_namespaces:
        row.insert(0, str(meta.get("namespace", "")))
    if wide:
        row += [
            str(effective_spec(run).get("workflow", "-")),
            str(status.get("attempt") or "-"),
            short_outcome(status),
        ]
    return row


def runs_table(runs: Iterable[Obj], now: datetime, *, wide: bool = False, all_namespaces: bool = False) -> str:
    headers = ["NAME", "PHASE", "STEP", "CHECKPOINT", "RESTARTS", "AGE"]
    if all_namespaces:
        headers.insert(0, "NAMESPACE")
    if wide:
        headers += ["WORKFLOW", "ATTEMPT", "RESULT/ERROR"]
    rows = [run_row(r, now, wide=wide, all_namespaces=all_namespaces) for r in runs]
    return table(headers, rows)


# --- kwf submit --wait: live progress -----------------------------------------------------
def _step_key(record: Obj) -> tuple[Any, ...]:
    return (record.get("seq"), record.get("name"), record.get("attempt"), record.get("completedAt"))


def step_line(record: Obj, *, final: bool = False) -> str:
    """`step 3 work done (12 ms) — checkpoint 3, attempt 1`."""
    took = f" ({format_ms(record['durationMs'])})" if record.get("durationMs") is not None else ""
    seq = record.get("seq", "?")
    final_note = " (final)" if final else ""
    return (
        f"step {seq} {record.get('name', '?')} done{took} — checkpoint {seq}{final_note}, "
        f"attempt {record.get('attempt', '?')}"
    )


def progress_lines(old: Obj, new: Obj) -> list[str]:
    """What happened between two observed statuses of a run, one line per event, oldest first."""
    checkpoint = new.get("checkpoint") or {}
    final_seq = checkpoint.get("seq") if checkpoint.get("final") else None
    old_attempt, new_attempt = int(old.get("attempt") or 0), int(new.get("attempt") or 0)
    seen = {_step_key(s) for s in old.get("steps") or []}
    fresh = [s for s in new.get("steps") or [] if _step_key(s) not in seen]

    def lines_for(records: Iterable[Obj]) -> list[str]:
        return [step_line(s, final=final_seq is not None and s.get("seq") == final_seq) for s in records]

    # Steps of earlier attempts, then what replaced their pod, then the new attempt's steps.
    lines = lines_for(s for s in fresh if int(s.get("attempt") or 0) < new_attempt)
    restarts = int(new.get("restarts") or 0)
    if restarts > int(old.get("restarts") or 0) and new.get("phase") not in TERMINAL_PHASES:
        lines.append(f"pod lost, resuming from checkpoint {checkpoint.get('seq', 0)} (restart {restarts})")
    if new_attempt > old_attempt:
        pod = (new.get("runner") or {}).get("pod")
        line = f"attempt {new_attempt} started" + (f" on pod {pod}" if pod else "")
        if new_attempt > 1 and checkpoint.get("seq"):
            line += f", from checkpoint {checkpoint['seq']}"
        lines.append(line)
    lines += lines_for(s for s in fresh if int(s.get("attempt") or 0) >= new_attempt)
    return _delivered_lines(old, new) + lines + _parked_lines(old, new)


def _delivered_lines(old: Obj, new: Obj) -> list[str]:
    if not old:  # the first status seen: earlier deliveries are history, not progress
        return []
    before, after = events_delivered(old), events_delivered(new)
    return [f"spec.events[{i}] delivered" for i in range(before, after)]


def _parked_lines(old: Obj, new: Obj) -> list[str]:
    """A new wait for input (with its prompt), a rejected answer, a suspension, a resume, a trip through
    Kueue's queue."""
    phase, waiting = new.get("phase"), new.get("waiting") or {}
    lines = []
    if wait_changed(old, new):
        index = waiting.get("eventIndex", "?")
        if old.get("phase") != "Waiting" or (old.get("waiting") or {}).get("eventIndex") != index:
            lines.append(f"waiting for input (spec.events[{index}]): {waiting_prompt(waiting)}")
        if waiting.get("error"):
            lines.append(f"answer not accepted: {waiting['error']}")
    if phase == "Suspended" and old.get("phase") != "Suspended":
        seq = (new.get("checkpoint") or {}).get("seq")
        lines.append(f"suspended at checkpoint {seq}" if seq else "suspended before its first checkpoint")
    if old.get("phase") == "Suspended" and phase in ("Pending", "Running"):
        lines.append("resumed")
    if phase == "Queued" and old.get("phase") != "Queued":
        lines.append(f"queued: {condition(new, 'Queued').get('message') or 'waiting for Kueue to admit its Job'}")
    if old.get("phase") == "Queued" and phase in ("Pending", "Running"):
        lines.append("admitted by Kueue")
    return lines


def failure_lines(run: Obj) -> list[str]:
    """Why a run failed or was cancelled, for stderr: reason and message (and the step and exception, when
    it raised)."""
    status = status_of(run)
    error = status.get("error") or {}
    cond = condition(status, "Succeeded")
    head = "Cancelled" if status.get("phase") == "Cancelled" else "Failed"
    reason = cond.get("reason") or error.get("reason") or head
    message = cond.get("message") or ""
    if not message and error:
        where = f" in step {error['step']}" if error.get("step") else ""
        message = f"{error.get('type') or error.get('reason')}{where}: {error.get('message', '')}"
    because = message if reason == head else f"{reason}: {message}"
    lines = [f"{head}: {because}".rstrip(": ")]
    if error.get("traceback"):
        tail = [ln for ln in str(error["traceback"]).splitlines() if ln.strip()][-1:]
        if tail and str(error.get("message") or tail[0]) not in message:
            lines.append(f"  {tail[0].strip()}")
    return lines


def success_line(run: Obj) -> str:
    status = status_of(run)
    checkpoint = status.get("checkpoint") or {}
    start, end = parse_time(status.get("startTime")), parse_time(status.get("completionTime"))
    took = f" in {human_duration((end - start).total_seconds())}" if start and end else ""
    restarts = int(status.get("restarts") or 0)
    return (
        f"Succeeded{took}: {checkpoint.get('stepsCompleted', len(status.get('steps') or []))} steps, "
        f"{status.get('attempt') or 1} attempt(s), {restarts} restart{'s' if restarts != 1 else ''}"
    )


# --- waiting for input ------------------------------------------------------------------------
PROMPT_FIELDS = ("prefix", "prompt", "message", "question", "text")  # where InputRequiredEvents put the question


def events_delivered(status: Obj) -> int:
    return int((status.get("checkpoint") or {}).get("eventsDelivered") or 0)


def run_ref(run: Obj) -> str:
    """`NAME -n NAMESPACE`, to put in a kwf command line."""
    meta = run.get("metadata") or {}
    return f"{meta.get('name') or 'RUN'}" + (f" -n {meta['namespace']}" if meta.get("namespace") else "")


def _class_name(name: str) -> str:
    return name.rpartition(":")[2].rpartition(".")[2]


def event_type(name: str) -> str:
    """An event class as spec.events[].type spells it: `workflows.events.HumanResponseEvent` (as status
    names it) → `workflows.events:HumanResponseEvent`."""
    if ":" in name:
        return name
    module, _, cls = name.rpartition(".")
    return f"{module}:{cls}" if module else name


def waiting_prompt(waiting: Obj) -> str:
    """What a waiting run asks, in one line: the first request's question (quoted), else its fields as
    JSON, else the event classes it waits for."""
    requests = [r for r in waiting.get("requests") or [] if isinstance(r, Mapping)]
    if not requests:
        expects = ", ".join(_class_name(str(e)) for e in waiting.get("expects") or [])
        return f"(no prompt; waits for {expects or 'an event'})"
    first = requests[0]
    text = next((first[k] for k in PROMPT_FIELDS if isinstance(first.get(k), str) and first[k].strip()), None)
    if text is not None:
        shown = json.dumps(" ".join(text.split()), ensure_ascii=False)
    else:
        shown = compact_json({k: v for k, v in first.items() if k != "type"})
    return shown + (f" (+{len(requests) - 1} more)" if len(requests) > 1 else "")


def answer_hint(run: Obj) -> str:
    """The command that answers a waiting run, e.g. `kwf send-event chat -n ns --data '{"response": "..."}'`."""
    expects = [str(e) for e in (status_of(run).get("waiting") or {}).get("expects") or []]
    command = f"kwf send-event {run_ref(run)}"
    if len(expects) > 1:  # the runner cannot tell which class is meant
        return f"{command} --type {'|'.join(event_type(e) for e in expects)} --data '{{...}}'"
    if expects and _class_name(expects[0]) != "HumanResponseEvent":
        return f"{command} --data '{{...}}' (the fields of {_class_name(expects[0])})"
    return f'{command} --data \'{{"response": "..."}}\''


def wait_changed(old: Obj, new: Obj) -> bool:
    """`new` waits for input and that is news: a new wait, or the answer to it was just rejected."""
    if new.get("phase") != "Waiting":
        return False
    was, now = old.get("waiting") or {}, new.get("waiting") or {}
    return old.get("phase") != "Waiting" or any(
        was.get(k) != now.get(k) for k in ("eventIndex", "error", "rejectedGeneration")
    )


def waiting_lines(run: Obj) -> list[str]:
    """A waiting run's prompt, why its last answer was not accepted (if so) and how to answer."""
    waiting = status_of(run).get("waiting") or {}
    name = (run.get("metadata") or {}).get("name")
    lines = [f"{name} waits for input (spec.events[{waiting.get('eventIndex', '?')}]): {waiting_prompt(waiting)}"]
    if waiting.get("error"):
        lines.append(f"  answer not accepted: {waiting['error']}")
    lines.append(f"  answer: {answer_hint(run)}")
    return lines


def state_line(run: Obj) -> str:
    """Where a run is now, in one line (after a send-event, suspend, resume or cancel)."""
    status = status_of(run)
    name = (run.get("metadata") or {}).get("name")
    phase = status.get("phase") or "Pending"
    if phase == "Waiting":
        return waiting_lines(run)[0]
    if phase in ("Failed", "Cancelled"):
        return f"{name}: {failure_lines(run)[0]}"
    seq = (status.get("checkpoint") or {}).get("seq")
    at = f" at checkpoint {seq}" if seq else ""
    step = f", step {status['currentStep']}" if phase == "Running" and status.get("currentStep") else ""
    return f"{name} is {phase}{at}{step}"


# --- pods ---------------------------------------------------------------------------------------
def container_state(pod: Obj, container: str = "runner") -> tuple[str, str]:
    """(state, exit) of a pod's container: ("Terminated", "137 killed (SIGKILL)"), ("Running", "-")."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    cs = next((c for c in statuses if c.get("name") == container), statuses[0] if statuses else None)
    if not cs:
        return "-", "-"
    state = cs.get("state") or {}
    if "terminated" in state:
        term = state["terminated"] or {}
        code = term.get("exitCode")
        meaning = (_RUNNER_EXITS.get(int(code)) if code is not None else None) or term.get("reason") or ""
        return "Terminated", f"{code} {meaning}".strip()
    if "running" in state:
        return "Running", "-"
    waiting = state.get("waiting") or {}
    return f"Waiting ({waiting['reason']})" if waiting.get("reason") else "Waiting", "-"


def log_header(pod: Obj, index: int, total: int) -> str:
    """`==> pod r-abc (pod 1 of 2, Failed, exit 137 killed (SIGKILL)) <==`."""
    meta = pod.get("metadata") or {}
    phase = (pod.get("status") or {}).get("phase") or "-"
    _, code = container_state(pod)
    exit_note = f", exit {code}" if code != "-" else ""
    return f"==> pod {meta.get('name')} (pod {index} of {total}, {phase}{exit_note}) <=="


# --- kwf send-event / suspend / resume / cancel ------------------------------------------------
_STEERED = {
    "suspend": "suspend requested: it stops after the current step's checkpoint and stays Suspended, with no "
    "pod, until kwf resume {ref}",
    "resume": "resume requested: it goes on from {where}",
    "cancel": "cancel requested: its pod is stopped and it ends Cancelled; this cannot be undone",
}
_UNCHANGED = {
    "suspend": "unchanged: spec.suspend is already true ({phase}); kwf resume {ref} lets it go on",
    "resume": "unchanged: spec.suspend is not true ({phase}); there is nothing to resume",
    "cancel": "unchanged: spec.cancel is already true ({phase})",
}


def steer_line(run: Obj, command: str, *, unchanged: bool = False) -> str:
    """What `kwf suspend|resume|cancel` did to the run and what happens next."""
    status = status_of(run)
    seq = (status.get("checkpoint") or {}).get("seq")
    text = (_UNCHANGED if unchanged else _STEERED)[command].format(
        ref=run_ref(run), phase=status.get("phase") or "Pending", where=f"checkpoint {seq}" if seq else "its start"
    )
    return f"{RESOURCE}/{(run.get('metadata') or {}).get('name')} {text}"


def sent_line(run: Obj, index: int, *, replaced: bool = False) -> str:
    """Where an event just sent stands: `sent as spec.events[1] to chat; it answers: "What is your name?"`."""
    name = (run.get("metadata") or {}).get("name")
    status = status_of(run)
    waiting = (status.get("waiting") or {}) if status.get("phase") == "Waiting" else {}
    waits_for = waiting.get("eventIndex")
    head = (
        f"replaced the rejected spec.events[{index}] of {name}"
        if replaced
        else f"sent as spec.events[{index}] to {name}"
    )
    if waits_for == index:
        return f"{head}; it answers: {waiting_prompt(waiting)}"
    if isinstance(waits_for, int) and waits_for < index:
        return f"{head}; queued: {name} waits for spec.events[{waits_for}] first"
    return f"{head}; {name} is {status.get('phase') or 'Pending'}: it answers the run's next wait for input"
