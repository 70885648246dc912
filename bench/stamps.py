"""The timestamp lines `kwf_testflows.stamps` writes (a step began; when its process was forked)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

WORKFLOW = "kwf_testflows.stamps:StampChain"


@dataclass(frozen=True)
class Stamp:
    step: int  # -1: a process that only starts (the anchors)
    at: float  # when the step began, epoch seconds
    pid: int
    process_started: float  # when that process was forked, epoch seconds (to 1/CLK_TCK)


def parse_stamps(text: str) -> list[Stamp]:
    """Complete lines only: a line still being written has no newline yet."""
    stamps = []
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            break
        step, at, pid, started = line.split()
        stamps.append(Stamp(int(step), float(at), int(pid), float(started)))
    return stamps


def wait_for_stamp(path: Path, matches: Callable[[Stamp], bool], timeout: float = 120) -> Stamp:
    """The first stamp in `path` that `matches`, polling the file every 10 ms."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            found = next((s for s in parse_stamps(path.read_text()) if matches(s)), None)
            if found is not None:
                return found
        time.sleep(0.01)
    raise TimeoutError(f"no matching timestamp in {path} after {timeout:.0f} s")
