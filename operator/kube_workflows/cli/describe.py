"""Pure: the `kwf describe` view of a WorkflowRun with its Job, pods and Events (plain dicts in, text out)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from kube_workflows.cli.render import (
    MAX_STEP_RECORDS,
    PARKED_PHASES,
    TERMINAL_PHASES,
    Obj,
    Row,
    age,
    answer_hint,
    compact_json,
    container_state,
    events_delivered,
    failure_lines,
    format_bytes,
    format_ms,
    human_duration,
    parse_time,
    shorten,
    status_of,
    table,
    waiting_prompt,
)
from kube_workflows.cli.specs import fork_seqs
from kube_workflows.cli.stream import event_line


def _kv(label: str, value: Any, width: int = 15) -> str:
    return f"{label + ':':<{width}}{value}"


def timeline(status: Obj) -> list[str]:
    """The step timeline from status.steps, marking where a new attempt (pod) took over."""
    steps = list(status.get("steps") or [])
    if not steps:
        return ["  (no completed steps yet)"]
    # A new attempt (pod) follows a lost pod, an answered wait for input or a resume after suspension:
    # only restarts in a run that never waited say which.
    waited = any(c.get("type") == "Waiting" for c in status.get("conditions") or [])
    lost = int(status.get("restarts") or 0) > 0 and not waited
    marker = "— pod lost, resumed on attempt {} —" if lost else "— resumed on attempt {} (a new pod) —"
    rows: list[Row] = []
    first_seq = steps[0].get("seq")
    if isinstance(first_seq, int) and first_seq > 1:
        rows.append(f"… {first_seq - 1} earlier step(s) not kept (status keeps the last {MAX_STEP_RECORDS})")
    previous_attempt = None
    for record in steps:
        attempt = record.get("attempt")
        if previous_attempt is not None and attempt != previous_attempt:
            rows.append(marker.format(attempt))
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
            rows.append(marker.format(attempt))
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


def context_source(source: Any) -> str:
    """spec.contextFrom for humans: `a (its final Context)`, `chat, checkpoint 3 (a fork: continues from there)`."""
    if not isinstance(source, Mapping):
        return str(source)
    if source.get("seq") is not None:
        return f"{source.get('name')}, checkpoint {source['seq']} (a fork: continues from there)"
    return f"{source.get('name')} (starts from its final Context)"


def _spec_lines(run: Obj, now: datetime) -> list[str]:
    meta, spec, status = run.get("metadata") or {}, run.get("spec") or {}, status_of(run)
    out = [
        _kv("Name", meta.get("name")),
        _kv("Namespace", meta.get("namespace")),
        _kv("Workflow", spec.get("workflow")),
        _kv("Image", spec.get("image") or "(the operator's default runner image)"),
        _kv("Input", compact_json(spec.get("input") or {})),
    ]
    if spec.get("contextFrom"):
        out.append(_kv("Context from", context_source(spec["contextFrom"])))
    limits = []
    if spec.get("timeoutSeconds"):
        limits.append(f"run {spec['timeoutSeconds']}s")
    if spec.get("stepTimeoutSeconds"):
        limits.append(f"workflow timeout {spec['stepTimeoutSeconds']}s per pod")
    if spec.get("waitTimeoutSeconds"):
        limits.append(f"waiting for input {spec['waitTimeoutSeconds']}s")
    if limits:
        out.append(_kv("Timeouts", ", ".join(limits)))
    out.append(_kv("Max restarts", (spec.get("retry") or {}).get("maxRestarts", 3)))
    if spec.get("ttlSecondsAfterFinished") is not None:
        out.append(_kv("TTL", f"deleted {spec['ttlSecondsAfterFinished']}s after it finished"))
    if spec.get("suspend"):
        out.append(_kv("Suspend", f"requested (kwf resume {meta.get('name')} lets it go on)"))
    if spec.get("cancel"):
        out.append(_kv("Cancel", "requested (cannot be undone)"))
    out.append(_kv("Created", f"{meta.get('creationTimestamp')} ({age(meta.get('creationTimestamp'), now)} ago)"))
    start, end = parse_time(status.get("startTime")), parse_time(status.get("completionTime"))
    if end:
        took = f" (took {human_duration((end - start).total_seconds())})" if start else ""
        out.append(_kv("Completed", f"{status['completionTime']}{took}"))
    return out


def _phase_lines(status: Obj, now: datetime) -> list[str]:
    if not status:
        return [_kv("Phase", "- (no status yet: is the operator running?)")]
    phase = status.get("phase")
    restarts = int(status.get("restarts") or 0)
    jobs = f", {status['segment']} jobs" if int(status.get("segment") or 0) > 1 else ""
    out = [
        _kv(
            "Phase",
            f"{phase or '-'} (attempt {status.get('attempt') or 0}, "
            f"{restarts} restart{'s' if restarts != 1 else ''}{jobs})",
        )
    ]
    running = phase not in (*TERMINAL_PHASES, *PARKED_PHASES)
    if status.get("currentStep") and running:
        out.append(_kv("Current step", status["currentStep"]))
    runner = status.get("runner") or {}
    if runner.get("pod") and running:
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
    return out


def waiting_lines(run: Obj, now: datetime) -> list[str]:
    """What a Waiting run asks, what it accepts, and how to answer it."""
    status, spec = status_of(run), run.get("spec") or {}
    waiting = status.get("waiting") or {}
    if status.get("phase") != "Waiting" or not waiting:
        return []
    since = waiting.get("since")
    answer = f"spec.events[{waiting.get('eventIndex', '?')}]"
    out = [
        _kv("Waiting", f"for input since {since} ({age(since, now)} ago), answered by {answer}"),
        _kv("  Prompt", waiting_prompt(waiting)),
    ]
    for request in waiting.get("requests") or []:
        out.append(_kv("  Request", compact_json(request)))
    if waiting.get("expects"):
        out.append(_kv("  Expects", ", ".join(map(str, waiting["expects"]))))
    started = parse_time(since)
    if spec.get("waitTimeoutSeconds") and started:
        left = (started + timedelta(seconds=int(spec["waitTimeoutSeconds"])) - now).total_seconds()
        out.append(_kv("  Times out", f"in {human_duration(left)} (spec.waitTimeoutSeconds)"))
    if waiting.get("error"):
        out.append(_kv("  Rejected", waiting["error"]))
    out.append(_kv("  Answer", answer_hint(run)))
    return out


def _event_state(index: int, status: Obj) -> str:
    waiting = (status.get("waiting") or {}) if status.get("phase") == "Waiting" else {}
    if index < events_delivered(status):
        return "delivered"
    if status.get("phase") in TERMINAL_PHASES:
        return "not delivered (the run finished)"
    if index == waiting.get("eventIndex"):
        return "rejected (see Waiting above)" if waiting.get("error") else "being delivered"
    return "pending"


def input_events_lines(run: Obj) -> list[str]:
    """spec.events, each delivered, pending or not accepted (status.checkpoint.eventsDelivered, status.waiting)."""
    sent = (run.get("spec") or {}).get("events") or []
    if not sent:
        return []
    status = status_of(run)
    rows: list[Row] = [
        [
            str(i),
            str(event.get("type") or "(the awaited class)"),
            shorten(compact_json(event.get("data") or {}), 60),
            _event_state(i, status),
        ]
        for i, event in enumerate(sent)
    ]
    head = f"Input events (spec.events, {min(events_delivered(status), len(sent))} of {len(sent)} delivered):"
    return [head, table(["#", "TYPE", "DATA", "STATE"], rows, indent="  ")]


def fork_points_line(run: Obj) -> list[str]:
    """The checkpoints a new run can fork from (`kwf fork`), and how many spec.checkpoint.history keeps."""
    seqs = fork_seqs(run)
    if not seqs:
        return []
    keep = ((run.get("spec") or {}).get("checkpoint") or {}).get("history") or 0
    name = (run.get("metadata") or {}).get("name")
    return [
        _kv(
            "Fork points",
            f"{', '.join(map(str, seqs))} (spec.checkpoint.history keeps {keep}); kwf fork {name} --from-seq N",
        )
    ]


def stream_lines(run: Obj, last: int = 5) -> list[str]:
    """How many events the workflow streamed, and the newest few (all of them: `kwf logs --events`)."""
    stream = status_of(run).get("stream") or {}
    if not stream:
        return []
    events = stream.get("events") or []
    first, newest = stream.get("firstSequence"), stream.get("lastSequence")
    name = (run.get("metadata") or {}).get("name")
    head = f"Streamed events ({newest}, {first}-{newest} kept; kwf logs {name} --events):"
    return [head, *(f"  {event_line(e)}" for e in events[-last:])]


def _outcome_lines(run: Obj) -> list[str]:
    status = status_of(run)
    out: list[str] = []
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
    elif status.get("phase") in ("Failed", "Cancelled"):
        out += ["", *failure_lines(run)]
    return out


def _children_lines(
    status: Obj, job: Obj | None, pods: Sequence[Obj] | None, events: Sequence[Obj] | None, now: datetime
) -> list[str]:
    out = [job_line(job, status.get("jobName"))]
    if pods is None:
        out.append("Pods:          (cannot list pods: forbidden)")
    elif pods:
        out += ["Pods:", pods_table(pods, now)]
    else:
        out.append(_kv("Pods", "none"))
    out.append("")
    if events is None:
        out.append("Events:        (cannot list events: forbidden)")
    elif events:
        out += ["Events:", events_table(events, now)]
    else:
        out.append(_kv("Events", "none"))
    return out


def describe(
    run: Obj,
    *,
    job: Obj | None,
    pods: Sequence[Obj] | None,
    events: Sequence[Obj] | None,
    now: datetime,
) -> str:
    """`kwf describe`: spec, phase and conditions, what it waits for, input events, checkpoint, step
    timeline, the newest streamed events, outcome, Job, pods, Events.

    `pods` / `events` None means they could not be read (shown as such).
    """
    status = status_of(run)
    out = [*_spec_lines(run, now), "", *_phase_lines(status, now)]
    for section in (waiting_lines(run, now), input_events_lines(run)):
        if section:
            out += ["", *section]
    out += ["", *checkpoint_lines(status.get("checkpoint") or {}, now), *fork_points_line(run)]
    steps = status.get("steps") or []
    out += ["", f"Step timeline ({len(steps)} recorded):", *timeline(status)]
    if streamed := stream_lines(run):
        out += ["", *streamed]
    out += _outcome_lines(run)
    out += ["", *_children_lines(status, job, pods, events, now)]
    return "\n".join(out) + "\n"
