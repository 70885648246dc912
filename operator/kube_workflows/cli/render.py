"""Pure formatting and parsing for `kwf submit|get|describe|logs`: plain dicts in, strings out.

Objects are WorkflowRuns, Jobs, Pods and Events as the API serves them (camelCase JSON). Nothing
here talks to the API, so every function is unit-tested without a cluster.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from kube_workflows.runner import exit_codes

Obj = Mapping[str, Any]
Row = Sequence[str] | str  # a str row is printed as is (a separator), not aligned

TERMINAL_PHASES = ("Succeeded", "Failed")
RESOURCE = "workflowrun.kube-workflows.dev"
MAX_STEP_RECORDS = 50  # status.steps keeps the last 50 (runner/patches.py)

_RUNNER_EXITS = {
    exit_codes.SUCCEEDED: "succeeded",
    exit_codes.WORKFLOW_RAISED: "workflow raised",
    exit_codes.INVALID_RUN: "run cannot work",
    exit_codes.INFRASTRUCTURE: "API unavailable",
    exit_codes.SUPERSEDED: "superseded by a newer pod",
    137: "killed (SIGKILL)",
    143: "terminated (SIGTERM)",
}
_FLAGS = {
    "workflow": "MODULE:ATTR",
    "image": "--image",
    "input": "--input",
    "contextFrom": "--context-from",
    "timeoutSeconds": "--timeout",
    "stepTimeoutSeconds": "--step-timeout",
    "retry.maxRestarts": "--max-restarts",
    "ttlSecondsAfterFinished": "--ttl",
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


def _status(run: Obj) -> Obj:
    status = run.get("status")
    return status if isinstance(status, Mapping) else {}


# --- kwf get ------------------------------------------------------------------------------
def short_outcome(status: Obj, limit: int = 50) -> str:
    """The RESULT/ERROR column: the result as compact JSON, or the failure reason and message."""
    phase = status.get("phase")
    if phase == "Succeeded":
        return shorten(compact_json(status.get("result")), limit)
    error = status.get("error") or {}
    if phase == "Failed":
        cond = condition(status, "Succeeded")
        reason = cond.get("reason") or error.get("reason") or "Failed"
        return shorten(f"{reason}: {cond.get('message') or error.get('message') or ''}".rstrip(": "), limit)
    if error:
        return shorten(f"{error.get('reason')}: {error.get('message', '')}", limit)
    return "-"


def run_row(run: Obj, now: datetime, *, wide: bool = False, all_namespaces: bool = False) -> list[str]:
    meta = run.get("metadata") or {}
    status = _status(run)
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
            str((run.get("spec") or {}).get("workflow", "-")),
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
    return lines


def failure_lines(run: Obj) -> list[str]:
    """Why a run failed, for stderr: reason and message (and the step and exception, when it raised)."""
    status = _status(run)
    error = status.get("error") or {}
    cond = condition(status, "Succeeded")
    reason = cond.get("reason") or error.get("reason") or "Failed"
    message = cond.get("message") or ""
    if not message and error:
        where = f" in step {error['step']}" if error.get("step") else ""
        message = f"{error.get('type') or error.get('reason')}{where}: {error.get('message', '')}"
    lines = [f"Failed: {reason}: {message}".rstrip(": ")]
    if error.get("traceback"):
        tail = [ln for ln in str(error["traceback"]).splitlines() if ln.strip()][-1:]
        if tail and str(error.get("message") or tail[0]) not in message:
            lines.append(f"  {tail[0].strip()}")
    return lines


def success_line(run: Obj) -> str:
    status = _status(run)
    checkpoint = status.get("checkpoint") or {}
    start, end = parse_time(status.get("startTime")), parse_time(status.get("completionTime"))
    took = f" in {human_duration((end - start).total_seconds())}" if start and end else ""
    restarts = int(status.get("restarts") or 0)
    return (
        f"Succeeded{took}: {checkpoint.get('stepsCompleted', len(status.get('steps') or []))} steps, "
        f"{status.get('attempt') or 1} attempt(s), {restarts} restart{'s' if restarts != 1 else ''}"
    )


# --- kwf describe -------------------------------------------------------------------------
def _kv(label: str, value: Any, width: int = 15) -> str:
    return f"{label + ':':<{width}}{value}"


def timeline(status: Obj) -> list[str]:
    """The step timeline from status.steps, marking where a new attempt (pod) took over."""
    steps = list(status.get("steps") or [])
    if not steps:
        return ["  (no completed steps yet)"]
    rows: list[Row] = []
    first_seq = steps[0].get("seq")
    if isinstance(first_seq, int) and first_seq > 1:
        rows.append(f"… {first_seq - 1} earlier step(s) not kept (status keeps the last {MAX_STEP_RECORDS})")
    previous_attempt = None
    for record in steps:
        attempt = record.get("attempt")
        if previous_attempt is not None and attempt != previous_attempt:
            rows.append(f"— pod lost, resumed on attempt {attempt} —")
        previous_attempt = attempt
        rows.append(
            [
                str(record.get("seq", "?")),
                str(record.get("name", "?")),
                str(attempt if attempt is not None else "?"),
                str(record.get("completedAt") or "-"),
                format_ms(record.get("durationMs")),
            ]
        )
    checkpoint = status.get("checkpoint") or {}
    in_flight = status.get("phase") == "Running" and not checkpoint.get("final")
    current = status.get("currentStep") or ("(next step)" if in_flight else None)
    if current and status.get("phase") not in TERMINAL_PHASES:
        attempt = status.get("attempt")
        if previous_attempt is not None and attempt is not None and attempt != previous_attempt:
            rows.append(f"— pod lost, resumed on attempt {attempt} —")
        rows.append(["→", str(current), str(attempt or "?"), "in progress", "-"])
    return table(["SEQ", "STEP", "ATTEMPT", "COMPLETED", "DURATION"], rows, indent="  ").splitlines()


def checkpoint_lines(checkpoint: Obj, now: datetime) -> list[str]:
    if not checkpoint:
        return [_kv("Checkpoint", "none yet (no step has completed)")]
    final = " (final Context)" if checkpoint.get("final") else ""
    after = f" after step {checkpoint['step']}" if checkpoint.get("step") else ""
    written = f", written by attempt {checkpoint['attempt']}" if checkpoint.get("attempt") else ""
    lines = [
        _kv(
            "Checkpoint", f"{checkpoint.get('seq', '?')}{final}{after}{written}, {age(checkpoint.get('time'), now)} ago"
        ),
        _kv("  Steps done", checkpoint.get("stepsCompleted", "-")),
    ]
    size, stored = checkpoint.get("sizeBytes"), checkpoint.get("storedBytes")
    ratio = f" ({size / stored:.1f}x compression)" if size and stored else ""
    lines.append(_kv("  Size", f"{format_bytes(size)} JSON, {format_bytes(stored)} stored{ratio}"))
    storage = str(checkpoint.get("storage") or "Inline")
    chunks = checkpoint.get("chunks") or []
    where = "in status (inline)" if storage == "Inline" else f"in {storage} {', '.join(map(str, chunks)) or '-'}"
    lines.append(_kv("  Stored", where))
    if checkpoint.get("encoding") or checkpoint.get("sha256"):
        sha = str(checkpoint.get("sha256") or "")[:16]
        lines.append(_kv("  Encoding", f"{checkpoint.get('encoding', '-')}, sha256 {sha}…"))
    lines.append(_kv("  Time", checkpoint.get("time", "-")))
    return lines


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


def pods_table(pods: Sequence[Obj], now: datetime) -> str:
    rows = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        state, code = container_state(pod)
        rows.append(
            [
                str(meta.get("name", "")),
                str((pod.get("status") or {}).get("phase") or "-"),
                state,
                code,
                age(meta.get("creationTimestamp"), now),
            ]
        )
    return table(["NAME", "PHASE", "RUNNER", "EXIT", "AGE"], rows, indent="  ")


def _event_time(event: Obj) -> datetime:
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        when = parse_time(event.get(key))
        if when:
            return when
    return parse_time((event.get("metadata") or {}).get("creationTimestamp")) or datetime.min.replace(tzinfo=UTC)


def events_table(events: Sequence[Obj], now: datetime, limit: int = 20) -> str:
    ordered = sorted(events, key=_event_time)[-limit:]
    rows = []
    for event in ordered:
        count = int(event.get("count") or 1)
        obj = event.get("involvedObject") or {}
        rows.append(
            [
                human_duration((now - _event_time(event)).total_seconds()) + (f" (x{count})" if count > 1 else ""),
                str(event.get("type") or "-"),
                str(event.get("reason") or "-"),
                f"{obj.get('kind', '?')}/{obj.get('name', '?')}",
                shorten(str(event.get("message") or ""), 160),
            ]
        )
    return table(["AGE", "TYPE", "REASON", "OBJECT", "MESSAGE"], rows, indent="  ")


def job_line(job: Obj | None, job_name: str | None) -> str:
    if job is None:
        return _kv("Job", f"{job_name} (not found)" if job_name else "none yet")
    status = job.get("status") or {}
    done = [c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"]
    counts = f"active {status.get('active') or 0}, succeeded {status.get('succeeded') or 0}, "
    counts += f"failed {status.get('failed') or 0}"
    return _kv("Job", f"{(job.get('metadata') or {}).get('name')} ({counts})" + (f" {', '.join(done)}" if done else ""))


def _indented_json(value: Any, max_lines: int = 40) -> list[str]:
    lines = json.dumps(value, indent=2, ensure_ascii=False, default=str).splitlines()
    if len(lines) > max_lines:
        lines = [*lines[:max_lines], f"… {len(lines) - max_lines} more lines (kwf get RUN -o json)"]
    return ["  " + line for line in lines]


def describe(
    run: Obj,
    *,
    job: Obj | None,
    pods: Sequence[Obj] | None,
    events: Sequence[Obj] | None,
    now: datetime,
) -> str:
    """`kwf describe`: spec, phase and conditions, checkpoint, step timeline, outcome, Job, pods, Events.

    `pods` / `events` None means they could not be read (shown as such).
    """
    meta = run.get("metadata") or {}
    spec = run.get("spec") or {}
    status = _status(run)
    out = [
        _kv("Name", meta.get("name")),
        _kv("Namespace", meta.get("namespace")),
        _kv("Workflow", spec.get("workflow")),
        _kv("Image", spec.get("image") or "(the operator's default runner image)"),
        _kv("Input", compact_json(spec.get("input") or {})),
    ]
    if spec.get("contextFrom"):
        out.append(_kv("Context from", spec["contextFrom"]))
    limits = []
    if spec.get("timeoutSeconds"):
        limits.append(f"run {spec['timeoutSeconds']}s")
    if spec.get("stepTimeoutSeconds"):
        limits.append(f"workflow timeout {spec['stepTimeoutSeconds']}s per pod")
    if limits:
        out.append(_kv("Timeouts", ", ".join(limits)))
    out.append(_kv("Max restarts", (spec.get("retry") or {}).get("maxRestarts", 3)))
    if spec.get("ttlSecondsAfterFinished") is not None:
        out.append(_kv("TTL", f"deleted {spec['ttlSecondsAfterFinished']}s after it finished"))
    out.append(_kv("Created", f"{meta.get('creationTimestamp')} ({age(meta.get('creationTimestamp'), now)} ago)"))
    start, end = parse_time(status.get("startTime")), parse_time(status.get("completionTime"))
    if end:
        took = f" (took {human_duration((end - start).total_seconds())})" if start else ""
        out.append(_kv("Completed", f"{status['completionTime']}{took}"))
    out.append("")

    if not status:
        out.append(_kv("Phase", "- (no status yet: is the operator running?)"))
    else:
        restarts = int(status.get("restarts") or 0)
        out.append(
            _kv(
                "Phase",
                f"{status.get('phase') or '-'} (attempt {status.get('attempt') or 0}, "
                f"{restarts} restart{'s' if restarts != 1 else ''})",
            )
        )
        if status.get("currentStep") and status.get("phase") not in TERMINAL_PHASES:
            out.append(_kv("Current step", status["currentStep"]))
        runner = status.get("runner") or {}
        if runner.get("pod") and status.get("phase") not in TERMINAL_PHASES:
            out.append(_kv("Runner pod", f"{runner['pod']} (attempt {runner.get('attempt', '?')})"))
        conditions = status.get("conditions") or []
        if conditions:
            out.append("Conditions:")
            rows = [
                [
                    str(c.get("type")),
                    str(c.get("status")),
                    str(c.get("reason") or "-"),
                    age(c.get("lastTransitionTime"), now),
                    str(c.get("message") or ""),
                ]
                for c in conditions
            ]
            out.append(table(["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"], rows, indent="  "))
    out.append("")
    out += checkpoint_lines(status.get("checkpoint") or {}, now)
    out.append("")
    steps = status.get("steps") or []
    out.append(f"Step timeline ({len(steps)} recorded):")
    out += timeline(status)

    if status.get("phase") == "Succeeded" or status.get("result") is not None:
        out += ["", "Result:", *_indented_json(status.get("result"))]
    error = status.get("error") or {}
    if error:
        out += ["", _kv("Error", error.get("reason", "-"))]
        for label, key in (("  Type", "type"), ("  Step", "step"), ("  Message", "message")):
            if error.get(key):
                out.append(_kv(label, error[key]))
        tb = [ln for ln in str(error.get("traceback") or "").splitlines() if ln.strip()]
        if tb:
            out.append(f"  Traceback (last {min(len(tb), 12)} lines):")
            out += ["    " + ln for ln in tb[-12:]]
    elif status.get("phase") == "Failed":
        out += ["", *failure_lines(run)]

    out.append("")
    out.append(job_line(job, status.get("jobName")))
    if pods is None:
        out.append("Pods:          (cannot list pods: forbidden)")
    elif pods:
        out.append("Pods:")
        out.append(pods_table(pods, now))
    else:
        out.append(_kv("Pods", "none"))
    out.append("")
    if events is None:
        out.append("Events:        (cannot list events: forbidden)")
    elif events:
        out.append("Events:")
        out.append(events_table(events, now))
    else:
        out.append(_kv("Events", "none"))
    return "\n".join(out) + "\n"


# --- kwf logs -----------------------------------------------------------------------------
def log_header(pod: Obj, index: int, total: int) -> str:
    """`==> pod r-abc (pod 1 of 2, Failed, exit 137 killed (SIGKILL)) <==`."""
    meta = pod.get("metadata") or {}
    phase = (pod.get("status") or {}).get("phase") or "-"
    _, code = container_state(pod)
    exit_note = f", exit {code}" if code != "-" else ""
    return f"==> pod {meta.get('name')} (pod {index} of {total}, {phase}{exit_note}) <=="


# --- kwf submit: input and validation -----------------------------------------------------
def _reject_constant(name: str) -> Any:
    raise ValueError(name)


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
        try:
            value = json.loads(json_text, parse_constant=_reject_constant)
        except ValueError as exc:
            raise ValueError(f"--input-json is not valid JSON: {exc}") from None
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
        elif loc == "contextFrom" and pattern:
            lines.append(
                f'spec.contextFrom "{spec.get("contextFrom")}" (--context-from) must be a WorkflowRun name: '
                'lowercase letters, digits, "-" and "."'
            )
        else:
            via = f" ({flag})" if flag and flag != "MODULE:ATTR" else ""
            lines.append(f"{field}{via}: {error.get('msg', 'invalid')}")
    return lines


def generate_name(workflow: str) -> str:
    """metadata.generateName from the workflow's attribute: `pkg.flows:DocumentPipeline` → `document-pipeline-`."""
    attr = workflow.rpartition(":")[2].rpartition(".")[2]
    kebab = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", attr).lower().replace("_", "-")
    kebab = re.sub(r"[^a-z0-9-]+", "", kebab)
    kebab = re.sub(r"-+", "-", kebab).strip("-")[:40].rstrip("-")
    return f"{kebab or 'run'}-"
