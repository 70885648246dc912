"""Watch one kind of object from a background thread, noting when each event arrived.

Object timestamps in the API have whole seconds; a watch gives the benchmarks sub-second times for
"the Job appeared", "the pod failed", "the operator's write is visible".
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes.watch.watch import iter_resp_lines

log = logging.getLogger("bench.watch")
OnEvent = Callable[[float, str, dict[str, Any]], None]
"""(local time the event arrived, ADDED/MODIFIED/DELETED, the object as a dict)."""


class EventWatch:
    """`list_call` lists the objects (a client method with its namespace bound, e.g. through
    functools.partial); `on_event` runs on the watch thread for the objects listed at start (as ADDED)
    and for every event after. Use as a context manager: the watch runs inside the block."""

    def __init__(self, list_call: Callable[..., Any], on_event: OnEvent) -> None:
        self._list = list_call
        self._on_event = on_event
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._resp: Any = None
        self._thread = threading.Thread(target=self._run, name="bench-watch", daemon=True)

    def __enter__(self) -> EventWatch:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the watch did not start within 30 s")
        return self

    def __exit__(self, *_: object) -> None:
        self._stopping.set()
        resp = self._resp
        if resp is not None:
            resp.close()  # unblocks the thread's read
        self._thread.join(10)

    def _run(self) -> None:
        version: str | None = None
        while not self._stopping.is_set():
            try:
                if version is None:
                    listed = json.loads(self._list(_preload_content=False).data)
                    now = time.time()
                    for obj in listed["items"]:
                        self._on_event(now, "ADDED", obj)
                    version = listed["metadata"]["resourceVersion"]
                    self._ready.set()
                version = self._watch(version)
            except Exception as exc:
                if self._stopping.is_set():
                    return
                log.warning("watch failed (%s); listing again", exc)
                version = None
                time.sleep(0.5)

    def _watch(self, version: str) -> str | None:
        """Events from `version` on; the version to go on from, or None to list again."""
        self._resp = self._list(
            watch=True,
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=120,
            _preload_content=False,
            _request_timeout=(10, 150),
        )
        try:
            for line in iter_resp_lines(self._resp):
                if not line.strip():
                    continue
                event = json.loads(line)
                obj = event["object"]
                if event["type"] == "ERROR":
                    return None  # 410 Gone: the version is too old
                version = obj["metadata"]["resourceVersion"]
                if event["type"] != "BOOKMARK":
                    self._on_event(time.time(), event["type"], obj)
        finally:
            self._resp.release_conn()
        return version


@dataclass(frozen=True)
class Sighting:
    at: float
    type: str
    name: str
    labels: dict[str, str]
    phase: str | None  # a pod's status.phase

    @property
    def job(self) -> str | None:
        """A pod's Job."""
        return self.labels.get("batch.kubernetes.io/job-name")


class Sightings:
    """An `OnEvent` that keeps every event of a small namespace's Jobs or pods, for timings afterwards."""

    def __init__(self) -> None:
        self._items: list[Sighting] = []
        self._lock = threading.Lock()

    def __call__(self, at: float, type: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        sighting = Sighting(at, type, meta["name"], meta.get("labels") or {}, (obj.get("status") or {}).get("phase"))
        with self._lock:
            self._items.append(sighting)

    def first(self, matches: Callable[[Sighting], bool], timeout: float = 30) -> Sighting:
        """The earliest sighting that `matches`, waiting up to `timeout` for it to arrive."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = next((s for s in self._items if matches(s)), None)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"no matching event within {timeout:.0f} s")
            time.sleep(0.01)
