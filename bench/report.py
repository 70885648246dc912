"""Rows of the bench table and their JSON form (pure: unit-tested in tests/unit/test_bench.py).

Every row is a ratio of two things measured side by side in the same run, lower is better.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Row:
    measure: str
    value: str  # ours, with its unit
    anchor: str  # what it is compared with, with its unit
    ratio: float
    target: float
    detail: str

    @property
    def ok(self) -> bool:
        return self.ratio <= self.target

    def to_json(self) -> dict[str, Any]:
        """The bench/results/latest.json form: {"measure", "ratio", "target", "detail"}."""
        return {
            "measure": self.measure,
            "ratio": self.ratio,
            "target": self.target,
            "detail": f"{self.value} vs {self.anchor}; {self.detail}",
        }


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), interpolating between the closest ranks (numpy's default)."""
    if not samples:
        raise ValueError("percentile of no samples")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def seconds(value: float) -> str:
    """A duration for the table: milliseconds below 10 s, seconds with two decimals above."""
    return f"{value * 1000:.0f} ms" if abs(value) < 10 else f"{value:.2f} s"


def format_table(rows: Sequence[Row]) -> str:
    """measure | value | anchor | ratio | target, then each row's detail indented beneath it."""
    header = ("measure", "value", "anchor", "ratio", "target", "")
    cells = [
        (r.measure, r.value, r.anchor, f"{r.ratio:.2f}", f"{r.target:.2f}", "ok" if r.ok else "over") for r in rows
    ]
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(len(header))]
    lines = []
    for i, cell in enumerate([header, *cells]):
        line = "  ".join(
            c.ljust(w) if col in (0, 5) else c.rjust(w) for col, (c, w) in enumerate(zip(cell, widths, strict=True))
        )
        lines.append(line.rstrip())
        if i:
            lines.append(f"    {rows[i - 1].detail}")
    return "\n".join(lines)


def results_json(rows: Sequence[Row]) -> str:
    return json.dumps([r.to_json() for r in rows], indent=2) + "\n"
