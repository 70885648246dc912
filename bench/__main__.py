"""`make bench` = `python -m bench [MEASURE ...]`: start a dev cluster and the operator, run the measures
(all by default, in this order; scale last, as it leaves the most behind), print the table and
write bench/results/latest.json (a list of {"measure", "ratio", "target", "detail"}, lower is better).

Machines here are noisy, so every figure is a ratio of two things measured side by side.
Environment: KWF_BENCH_RUNS (scale: runs in flight, default 1000), KWF_BENCH_KEEP_DATA=1 (keep the
cluster's data dir and logs).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench import (
    checkpoint_write,
    compression,
    long_run,
    postgres_store,
    resume,
    scale,
    start,
    step_overhead,
    vs_dbos,
)
from bench.cluster import BenchCluster
from bench.report import Row, format_table, results_json

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
MEASURES: dict[str, Callable[[BenchCluster], list[Row]]] = {
    "checkpoint_write": checkpoint_write.run,
    "step_overhead": step_overhead.run,
    "compression": compression.run,
    "start": start.run,
    "resume": resume.run,
    "long_run": long_run.run,
    "vs_dbos": vs_dbos.run,
    "postgres_store": postgres_store.run,
    "scale": scale.run,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("measures", nargs="*", metavar="MEASURE", help=f"any of {', '.join(MEASURES)} (default: all)")
    chosen = set(parser.parse_args(argv).measures) or set(MEASURES)
    if chosen - set(MEASURES):
        parser.error(f"unknown measure {', '.join(sorted(chosen - set(MEASURES)))}; choose from {', '.join(MEASURES)}")
    rows: list[Row] = []
    with BenchCluster() as bench:
        for name, measure in MEASURES.items():
            if name not in chosen:
                continue
            print(f"{name} ...", file=sys.stderr, flush=True)
            t = time.monotonic()
            rows += measure(bench)
            print(f"{name}: {time.monotonic() - t:.0f} s", file=sys.stderr, flush=True)
    print()
    print(format_table(rows))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(results_json(rows))
    print(f"\nwritten to {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")


if __name__ == "__main__":
    main()
