"""`status.stream`: the newest events a run streamed, numbered, as JSON-patch operations (pure).

The runner publishes a checkpoint's events in the same fenced write as the checkpoint (see
`status_store`), so they are exactly as durable: a step re-run after a crash streams its events again
and they are numbered then, once. Sequence numbers go on across pods from `status.stream.lastSequence`.

Bounded: status keeps the newest `MAX_STREAM_EVENTS` events within `MAX_STREAM_BYTES` of JSON;
`firstSequence` says where the kept ones start, so a reader that saw `n` and now finds
`firstSequence > n + 1` knows it missed some. An event whose JSON is over `MAX_EVENT_BYTES` is kept as a
marker without its value (`truncated`, `sizeBytes`). A sensitive run's values are never kept
(`withheld`): anyone who may get the WorkflowRun could read them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

JsonPatch = list[dict[str, Any]]

MAX_STREAM_EVENTS = 100
MAX_STREAM_BYTES = 32 * 1024
MAX_EVENT_BYTES = 4 * 1024


def json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())


def stream_entry(sequence: int, record: dict[str, Any], *, withhold: bool = False) -> dict[str, Any]:
    """One event of status.stream.events: its sequence number and record, its value dropped when the run is
    sensitive or the event too large."""
    entry = {"sequence": sequence, **record}
    if withhold:
        return {**entry, "value": {}, "withheld": True}
    size = json_size(entry)
    if size > MAX_EVENT_BYTES:
        return {**entry, "value": {}, "truncated": True, "sizeBytes": size}
    return entry


@dataclass
class StreamWindow:
    """status.stream as this attempt last wrote it: enough to append to it and drop its oldest events."""

    last_sequence: int = 0
    # The JSON size of each event kept, oldest first.
    sizes: list[int] = field(default_factory=list)
    exists: bool = False
    withhold: bool = False

    @classmethod
    def from_status(cls, stream: dict[str, Any] | None, *, withhold: bool = False) -> StreamWindow:
        if not stream:
            return cls(withhold=withhold)
        events = stream.get("events") or []
        return cls(
            last_sequence=int(stream.get("lastSequence") or 0),
            sizes=[json_size(e) for e in events],
            exists=True,
            withhold=withhold,
        )

    @property
    def first_sequence(self) -> int:
        return self.last_sequence - len(self.sizes) + 1

    def publish(self, records: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> JsonPatch:
        """The operations that append `records` (numbered on from the last) and drop what the budget no
        longer holds; none for no records."""
        if not records:
            return []
        entries = [stream_entry(self.last_sequence + i, r, withhold=self.withhold) for i, r in enumerate(records, 1)]
        new_sizes = [json_size(e) for e in entries]
        sizes = self.sizes + new_sizes
        drop = 0
        total = sum(sizes)
        while len(sizes) - drop > 1 and (len(sizes) - drop > MAX_STREAM_EVENTS or total > MAX_STREAM_BYTES):
            total -= sizes[drop]
            drop += 1
        old_count = len(self.sizes)
        old_dropped = min(drop, old_count)
        kept = entries[drop - old_dropped :]
        self.last_sequence += len(entries)
        self.sizes = sizes[drop:]
        bounds = {"firstSequence": self.first_sequence, "lastSequence": self.last_sequence}
        if not self.exists:
            self.exists = True
            return [{"op": "add", "path": "/status/stream", "value": {**bounds, "events": kept}}]
        if old_dropped == old_count:
            # Every event kept before goes: one list instead of a remove per event.
            ops: JsonPatch = [{"op": "add", "path": "/status/stream/events", "value": kept}]
        else:
            ops = [{"op": "remove", "path": "/status/stream/events/0"} for _ in range(old_dropped)]
            ops += [{"op": "add", "path": "/status/stream/events/-", "value": e} for e in kept]
        ops += [{"op": "add", "path": f"/status/stream/{key}", "value": value} for key, value in bounds.items()]
        return ops
