"""The events a run streamed (`status.stream`) as `kwf logs --events` and `kwf watch` print them (pure)."""

from __future__ import annotations

import json
from typing import Any

from kube_workflows.cli.render import format_bytes, parse_time

Obj = dict[str, Any]


def unseen(stream: Obj | None, after: int) -> tuple[list[Obj], tuple[int, int] | None]:
    """The events of `stream` after sequence `after`, and the range (first, last) of those that came
    after it but are no longer kept (the window moved on before they were read), if any."""
    if not stream:
        return [], None
    events = [e for e in stream.get("events") or [] if int(e.get("sequence") or 0) > after]
    first = int(stream.get("firstSequence") or 1)
    missed = (after + 1, first - 1) if first > after + 1 else None
    return events, missed


def missed_line(missed: tuple[int, int]) -> str:
    first, last = missed
    which = f"event {first}" if first == last else f"events {first}-{last}"
    return f"({which} no longer kept: status.stream holds the newest 100, 32 KiB)"


def _value_text(value: Obj) -> str:
    return " ".join(f"{key}={json.dumps(item, ensure_ascii=False, default=str)}" for key, item in value.items())


def event_line(event: Obj) -> str:
    """`[3] 03:50:36.078 work ProgressEvent msg="step 1 part 1"`."""
    when = parse_time(event.get("timestamp"))
    clock = when.strftime("%H:%M:%S.%f")[:-3] if when else "?"
    cls = str(event.get("type") or "?").rpartition(".")[2]
    words = [f"[{event.get('sequence', '?')}]", clock, str(event.get("step") or "-"), cls]
    if event.get("withheld"):
        words.append("(value withheld: sensitive run)")
    elif event.get("truncated"):
        words.append(f"(value not kept: {format_bytes(event.get('sizeBytes'))} of JSON, over 4 KiB)")
    elif event.get("value"):
        words.append(_value_text(event["value"]))
    return " ".join(words)


def event_lines(stream: Obj | None, after: int) -> tuple[str | None, list[str], int]:
    """For the events after `after`: a note when some were missed (else None), a line per event, and the
    last sequence seen."""
    events, missed = unseen(stream, after)
    last = max([after, *(int(e.get("sequence") or 0) for e in events)])
    return (missed_line(missed) if missed else None), [event_line(e) for e in events], last
