"""bench/results/per_step.png: per-step cost against step number, one line per way of running the same
loop workflow (from the timestamps it writes every 100 steps)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path


def per_step_curve(stamps: Mapping[int, float]) -> tuple[list[int], list[float]]:
    """(step, milliseconds per step over the 100 steps before it), from "every 100 steps" stamps."""
    steps = sorted(stamps)
    pairs = [(b, (stamps[b] - stamps[a]) / (b - a) * 1000) for a, b in itertools.pairwise(steps)]
    return [step for step, _ in pairs], [ms for _, ms in pairs]


def draw(curves: Mapping[str, Mapping[int, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 4.5), dpi=110)
    for label, stamps in curves.items():
        steps, ms = per_step_curve(stamps)
        axes.plot(steps, ms, label=label, linewidth=1.2)
    axes.set_xlabel("step")
    axes.set_ylabel("ms per step (over the last 100 steps)")
    axes.set_title("A one-step loop workflow, a checkpoint after every step")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
