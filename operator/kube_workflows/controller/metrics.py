"""Prometheus metrics of the operator, derived from what the API already tells it.

Runs by phase come from the watch; step durations, checkpoint sizes and write latencies from the
step records the runners write into status (so runners need no metrics endpoint of their own).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import Counter, Histogram, start_http_server
from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector

from kube_workflows.models import Phase

STEP_SECONDS = Histogram(
    "kwf_step_duration_seconds",
    "Wall time of completed workflow steps, as the runner measured it.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
CHECKPOINT_BYTES = Histogram(
    "kwf_checkpoint_bytes",
    "Stored size of checkpoints (compressed).",
    buckets=(1e3, 4e3, 16e3, 64e3, 256e3, 1e6, 4e6, 16e6),
)
CHECKPOINT_WRITE_SECONDS = Histogram(
    "kwf_checkpoint_write_seconds",
    "Latency of the runner's checkpoint writes (status PATCH, chunks included).",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)
RESTARTS = Counter("kwf_run_restarts_total", "Runner pods replaced after a crash, kill or loss (resumes).")
FINISHED = Counter("kwf_runs_finished_total", "Runs that finished, by phase and reason.", ["phase", "reason"])


class RunPhases(Collector):
    """`kwf_workflowruns{phase}`: how many runs the operator sees in each phase right now."""

    def __init__(self) -> None:
        self.phases: dict[str, str] = {}
        self.steps_seen: dict[str, int] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("kwf_workflowruns", "WorkflowRuns by phase.", labels=["phase"])
        counts = dict.fromkeys((str(p) for p in Phase), 0)
        for phase in self.phases.values():
            counts[phase] = counts.get(phase, 0) + 1
        for phase, count in counts.items():
            family.add_metric([phase], count)
        yield family

    def observe(self, uid: str, status: Mapping[str, Any], deleted: bool = False) -> None:
        """Record a run's latest status; observe the step records that are new since the last call."""
        if deleted:
            self.phases.pop(uid, None)
            self.steps_seen.pop(uid, None)
            return
        self.phases[uid] = str(status.get("phase") or Phase.PENDING)
        checkpoint = status.get("checkpoint") or {}
        seen = self.steps_seen.get(uid)
        newest = int(checkpoint.get("seq") or 0)
        if seen is None:  # first sight (e.g. after an operator restart): don't count history again
            self.steps_seen[uid] = newest
            return
        if newest <= seen:
            return
        for record in status.get("steps") or []:
            if int(record.get("seq") or 0) > seen:
                if record.get("durationMs") is not None:
                    STEP_SECONDS.observe(record["durationMs"] / 1000)
                if record.get("lastWriteMs") is not None:
                    CHECKPOINT_WRITE_SECONDS.observe(record["lastWriteMs"] / 1000)
        if checkpoint.get("storedBytes") is not None:
            CHECKPOINT_BYTES.observe(checkpoint["storedBytes"])
        self.steps_seen[uid] = newest


RUNS = RunPhases()
REGISTRY.register(RUNS)


def serve(port: int) -> None:
    start_http_server(port)
