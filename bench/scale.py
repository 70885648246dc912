"""Measure 5: N WorkflowRuns in flight (KWF_BENCH_RUNS, default 1000): the operator's memory ÷ 150 MB,
and its reaction time p99 ÷ 1 s, with no backlog growth; how its CPU and memory grow from 100 to N.

A real runner imports the workflow library (~60 MB a process), too much for N of them here, so the
pods are faked by the node (`--fake-run`: an annotated pod's container only sleeps) and this process
stands in for the runners: it claims each run and writes a checkpoint per "step" (the runner's own
patch) every KWF_BENCH_STEP_SECONDS (default 10) per run. The operator sees what it would see with
real runners: runs created, Jobs and pods, runners' status writes.

Reaction time: the bench edits a running run's spec (ttlSecondsAfterFinished, which the operator
acknowledges in status.observedGeneration) and times, on one watch, from the edit to the
acknowledgement. Sampled at 100 runs, then at N runs right away and after a soak
(KWF_BENCH_SOAK_SECONDS, default 60): a handler backlog would show as the later samples growing.
Memory (VmRSS) and CPU (utime + stime) of the `kwf operator` process come from /proc.
"""

from __future__ import annotations

import functools
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from bench.checkpoint_write import CheckpointWriter
from bench.cluster import WORKFLOWRUN, BenchCluster
from bench.procstat import Usage, cpu_seconds, cpu_shares, usage
from bench.report import Row, percentile, seconds
from bench.watch import EventWatch
from kube_workflows_devtools.node_env import FAKE_RUN_ANNOTATION
from support import workflow_run

RSS_TARGET_MB = 150
REACTION_TARGET = 1.0
FIRST = 100
PROBES = 100
PROBES_PER_SECOND = 5.0


def fake_run(name: str) -> dict[str, Any]:
    return workflow_run(name, "kwf_testflows.steps:StepChain", template={"annotations": {FAKE_RUN_ANNOTATION: "true"}})


class RunTracker:
    """An `OnEvent` over the runs: each one's phase, when each generation was first seen and when the
    operator's status.observedGeneration first reached it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.phases: dict[str, str | None] = {}
        self._seen: dict[tuple[str, int], float] = {}
        self._acknowledged: dict[tuple[str, int], float] = {}

    def __call__(self, at: float, type: str, obj: dict[str, Any]) -> None:
        meta, status = obj["metadata"], obj.get("status") or {}
        with self._lock:
            if type == "DELETED":
                self.phases.pop(meta["name"], None)
                return
            self.phases[meta["name"]] = status.get("phase")
            self._seen.setdefault((meta["name"], meta["generation"]), at)
            if status.get("observedGeneration") is not None:
                self._acknowledged.setdefault((meta["name"], status["observedGeneration"]), at)

    def count(self, phase: str) -> int:
        with self._lock:
            return sum(p == phase for p in self.phases.values())

    def reaction(self, name: str, generation: int) -> float | None:
        with self._lock:
            seen, done = self._seen.get((name, generation)), self._acknowledged.get((name, generation))
        return None if seen is None or done is None else done - seen


class StepWriters:
    """Stand-ins for the runners of the faked pods: a checkpoint write per run every `every` seconds,
    spread evenly over `threads` threads. `pause()` while runs are being created (to tell the CPU of
    creating runs from the CPU of following them)."""

    def __init__(self, namespace: str, every: float, threads: int = 8) -> None:
        self.namespace, self.every, self.threads = namespace, every, threads
        self._writers: dict[str, CheckpointWriter] = {}
        self._names: list[str] = []
        self._running = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.latencies: list[float] = []  # of each write so far (list.append is atomic)
        self._pool = [threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(threads)]
        for thread in self._pool:
            thread.start()

    def resume(self, names: list[str]) -> None:
        with self._lock:
            self._names = list(names)
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def stop(self) -> None:
        self._stopping.set()
        self._running.set()
        for thread in self._pool:
            thread.join(30)

    def _loop(self, index: int) -> None:
        context = {"state": {"state_data": {"_data": {"total": 0, "steps": 10, "delay": 0.0}}}}
        while not self._stopping.is_set():
            self._running.wait()
            with self._lock:
                mine = self._names[index :: self.threads]
            if not mine:
                self._stopping.wait(0.5)
                continue
            interval, started = self.every / len(mine), time.monotonic()
            for i, name in enumerate(mine):
                if self._stopping.is_set() or not self._running.is_set():
                    break
                delay = started + i * interval - time.monotonic()
                if delay > 0:
                    self._stopping.wait(delay)
                context["state"]["state_data"]["_data"]["total"] += 1
                try:
                    writer = self._writers.get(name)
                    if writer is None:
                        writer = self._writers[name] = CheckpointWriter(self.namespace, name)
                    t = time.perf_counter()
                    writer.write(context)
                    self.latencies.append(time.perf_counter() - t)
                except Exception as exc:  # a write that lost a race with the operator: skip a beat
                    print(f"  step write of {name} failed: {exc}", file=sys.stderr)
            self._stopping.wait(max(0.0, started + self.every - time.monotonic()))  # a cycle lasts `every`


def create_runs(bench: BenchCluster, namespace: str, names: list[str], threads: int = 4) -> None:
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda n: bench.create_run(namespace, fake_run(n)), names))


def wait_until(what: str, check: Callable[[], bool], timeout: float) -> float:
    """Seconds it took for `check` to hold."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.2)
    return time.monotonic() - started


def probe_reactions(bench: BenchCluster, namespace: str, names: list[str], runs: RunTracker) -> list[float]:
    """Edit the spec of PROBES running runs, PROBES_PER_SECOND a second; the operator's reaction times."""
    import json

    sent: list[tuple[str, int]] = []
    for i, name in enumerate(random.sample(names, min(PROBES, len(names)))):
        resp = bench.cluster.custom.patch_namespaced_custom_object(
            namespace=namespace,
            name=name,
            body={"spec": {"ttlSecondsAfterFinished": 86400 + i}},
            _preload_content=False,
            **WORKFLOWRUN,
        )
        sent.append((name, json.loads(resp.data)["metadata"]["generation"]))
        time.sleep(1 / PROBES_PER_SECOND)
    wait_until("the operator to acknowledge every edit", lambda: all(runs.reaction(*s) is not None for s in sent), 120)
    return [r for s in sent if (r := runs.reaction(*s)) is not None]


@dataclass(frozen=True)
class Stage:
    """The operator once `runs` runs are in flight."""

    runs: int
    usage: Usage  # after following them
    added: int = 0  # runs created for this stage
    create_cpu: float = 0.0  # CPU seconds it spent while they were created and started
    settle: float = 0.0  # seconds from their first create to all of them Running
    steady_cpu: float = 0.0  # share of a core it used while following the runs' steps
    write_rate: float = 0.0  # checkpoint writes per second the stand-in runners achieved meanwhile
    write_p50: float = 0.0  # and how long one took
    reactions: tuple[float, ...] = ()
    cpu: tuple[tuple[str, float], ...] = ()  # share of a core of each process (and the machine) meanwhile


@dataclass
class Scene:
    bench: BenchCluster
    namespace: str
    pid: int
    runs: RunTracker
    writers: StepWriters

    def grow(self, names: list[str], added: list[str]) -> Stage:
        """Create `added` (step writers paused), wait until `names` are all Running, then follow them."""
        self.writers.pause()
        before, started = usage(self.pid), time.monotonic()
        create_runs(self.bench, self.namespace, added)
        wait_until(f"{len(names)} runs Running", lambda: self.runs.count("Running") >= len(names), 120 + len(added))
        settle = time.monotonic() - started
        time.sleep(2)  # the last events' handling
        create_cpu = usage(self.pid).cpu_seconds - before.cpu_seconds
        self.writers.resume(names)
        return replace(self.follow(names), added=len(added), create_cpu=create_cpu, settle=settle)

    def follow(self, names: list[str]) -> Stage:
        """Probe reaction times while the stand-in runners write; the CPU of everyone meanwhile."""
        processes = self.bench.processes()
        cpu_before, writes, started = cpu_seconds(processes), len(self.writers.latencies), time.monotonic()
        reactions = probe_reactions(self.bench, self.namespace, names, self.runs)
        elapsed = time.monotonic() - started
        shares = cpu_shares(cpu_before, cpu_seconds(processes), elapsed)
        latencies = self.writers.latencies[writes:]
        return Stage(
            len(names),
            usage(self.pid),
            steady_cpu=shares.get("operator", 0.0),
            write_rate=len(latencies) / elapsed,
            write_p50=percentile(latencies, 50) if latencies else 0.0,
            reactions=tuple(reactions),
            cpu=tuple(sorted(shares.items(), key=lambda item: -item[1])),
        )


def run(bench: BenchCluster) -> list[Row]:
    total = int(os.environ.get("KWF_BENCH_RUNS") or 1000)
    every = float(os.environ.get("KWF_BENCH_STEP_SECONDS") or 10)
    soak = float(os.environ.get("KWF_BENCH_SOAK_SECONDS") or 60)
    names = [f"run-{i:04d}" for i in range(total)]
    first = names[: min(FIRST, total)]
    bench.wait_namespaces_gone()  # the fresh operator's memory should not hold earlier measures' runs
    operator = bench.restart_operator()
    assert operator.proc is not None
    namespace = bench.namespace("scale")
    scene = Scene(bench, namespace, operator.proc.pid, RunTracker(), StepWriters(namespace, every))
    watch = functools.partial(bench.cluster.custom.list_namespaced_custom_object, namespace=namespace, **WORKFLOWRUN)
    try:
        with EventWatch(watch, scene.runs):
            time.sleep(5)  # the operator's start-up (imports, first listings) is not what this measures
            idle = Stage(0, usage(scene.pid))
            at_first = scene.grow(first, first)
            at_total = scene.grow(names, names[len(first) :]) if total > len(first) else at_first
            time.sleep(soak)
            end = scene.follow(names)
    finally:
        scene.writers.stop()
        bench.delete_namespace(namespace)
    return rows(idle, at_first, at_total, end, every, soak)


def stage_summary(stage: Stage) -> str:
    """One stage of the operator, for the table: its memory, the CPU of creating and of following runs."""
    create_ms = stage.create_cpu / max(stage.added, 1) * 1000
    return (
        f"{stage.runs} runs: RSS {stage.usage.rss_mb:.0f} MB ({stage.usage.threads} threads), creating {stage.added} "
        f"took {create_ms:.0f} ms CPU per run (all Running after {stage.settle:.0f} s), "
        f"following them {stage.steady_cpu:.0%} of a core at {stage.write_rate:.1f} checkpoint writes/s "
        f"(p50 {seconds(stage.write_p50)} each)"
    )


def cpu_summary(stage: Stage) -> str:
    """Who used the machine's CPU while `stage` was followed, busiest first (in % of one core)."""
    return ", ".join(f"{name} {share:.0%}" for name, share in stage.cpu if share >= 0.005)


def growth(small: Stage, large: Stage) -> str:
    """How the operator grew from `small` to `large` runs in flight."""
    if large.runs <= small.runs:
        return stage_summary(small)
    per_run = (large.usage.rss_mb - small.usage.rss_mb) * 1000 / (large.runs - small.runs)
    return f"{stage_summary(small)}; {stage_summary(large)}; RSS {per_run:+.0f} KB per run in between"


def summary(reactions: tuple[float, ...]) -> str:
    return f"{seconds(percentile(reactions, 50))}/{seconds(percentile(reactions, 99))} (n={len(reactions)})"


def rows(idle: Stage, at_first: Stage, at_total: Stage, end: Stage, every: float, soak: float) -> list[Row]:
    """RSS ÷ 150 MB and reaction p99 ÷ 1 s with all runs in flight, and how both grew on the way."""
    rss = max(at_total.usage.rss_mb, end.usage.rss_mb)
    p99 = percentile([*at_total.reactions, *end.reactions], 99)
    backlog = percentile(end.reactions, 50) / percentile(at_total.reactions, 50)
    return [
        Row(
            measure=f"operator_rss_{end.runs}",
            value=f"{rss:.0f} MB",
            anchor=f"{RSS_TARGET_MB} MB",
            ratio=rss / RSS_TARGET_MB,
            target=1.0,
            detail=f"operator RSS with {end.runs} runs in flight / 150 MB: idle {idle.usage.rss_mb:.0f} MB; "
            f"{growth(at_first, at_total)}; {end.usage.rss_mb:.0f} MB "
            f"after a {soak:.0f} s soak (a checkpoint per run every {every:g} s)",
        ),
        Row(
            measure=f"operator reaction p99 (spec edit -> status.observedGeneration), {end.runs} runs / 1 s",
            value=seconds(p99),
            anchor=seconds(REACTION_TARGET),
            ratio=p99 / REACTION_TARGET,
            target=1.0,
            detail=f"p50/p99 at {at_first.runs} runs {summary(at_first.reactions)}; at {end.runs}: once all "
            f"Running {summary(at_total.reactions)}, after the soak {summary(end.reactions)} "
            f"(backlog growth: p50 after/before the soak {backlog:.2f}); CPU meanwhile, in % of one of the "
            f"{os.cpu_count()} cores: "
            f"{cpu_summary(end)}",
        ),
    ]
