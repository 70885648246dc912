"""Measure 4: a runner pod killed (SIGKILL, behind the API's back) → the next step starts on a new pod
÷ a fresh start (apply → first step starts) of the same run. Target ≤ 1.2. And restoring a 1 MB
Context (`restore_context`, chunks read from the API) as a fraction of that resume: target < 0.1.

Where a resume's time goes: the node reports the pod Failed; a replacement pod is created, by the
Job controller after its pod-failure backoff (10 s after a first failure) or by the operator in a
new Job of the run; the node starts it; the runner starts (imports, claim) and restores.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

from bench.cluster import BenchCluster
from bench.report import Row, median, seconds
from bench.stamps import WORKFLOW, wait_for_stamp
from bench.watch import EventWatch, Sightings
from kube_workflows.models.names import RUN_LABEL
from kube_workflows.runner.loader import load_workflow
from kube_workflows.runner.reporter import Reporter
from kube_workflows.runner.restore import restore_context
from kube_workflows_devtools.node import kill_pod_processes
from support import wait_for, workflow_run

TARGET = 1.2
RESTORE_TARGET = 0.1
BIG_WORKFLOW = "kwf_testflows.big_state:BigState"


@dataclass(frozen=True)
class Resume:
    """Seconds: a fresh start (apply → first step); from the kill to: the old pod seen Failed, the new pod
    seen, its process forked, the next step begun. Whether the new pod is in a new Job."""

    fresh: float
    failed: float
    replaced: float
    process: float
    next_step: float
    new_job: bool


def kill_and_resume(bench: BenchCluster, namespace: str, name: str, pods: Sightings) -> Resume:
    stamps = bench.scratch / f"{namespace}-{name}.stamps"
    t0 = time.time()
    bench.create_run(namespace, workflow_run(name, WORKFLOW, {"stamps": str(stamps), "steps": 6, "delay": 0.3}))
    first = wait_for_stamp(stamps, lambda s: s.step == 0)
    wait_for_stamp(stamps, lambda s: s.step == 2)  # mid-run, checkpoints behind it
    (pod,) = [p.metadata.name for p in bench.cluster.runner_pods(namespace, name)]
    killed = time.time()
    kill_pod_processes(bench.cluster.node_dir, namespace, pod)
    resumed = wait_for_stamp(stamps, lambda s: s.pid != first.pid)
    old = pods.first(lambda s: s.name == pod)
    failed = pods.first(lambda s: s.name == pod and s.phase == "Failed")
    replaced = pods.first(lambda s: s.labels.get(RUN_LABEL) == name and s.name != pod)
    bench.cluster.wait_phase(namespace, name, "Succeeded")
    return Resume(
        fresh=first.at - t0,
        failed=failed.at - killed,
        replaced=replaced.at - killed,
        process=resumed.process_started - killed,
        next_step=resumed.at - killed,
        new_job=replaced.job != old.job,
    )


@dataclass(frozen=True)
class Restore:
    seconds: float
    context_bytes: int
    stored_bytes: int
    chunks: int


def restore_1mb(bench: BenchCluster, namespace: str, repeats: int = 5) -> Restore:
    """`restore_context` in this process, as the runner calls it, on a run whose last checkpoint holds a
    1 MB Context (offloaded to ConfigMaps): median of `repeats`."""

    name, release = "big", bench.scratch / f"{namespace}-big.release"
    bench.create_run(namespace, workflow_run(name, BIG_WORKFLOW, {"size_mb": 1, "release": str(release)}))

    def checkpointed() -> dict[str, Any] | None:
        run = bench.cluster.run(namespace, name)
        return run if (run.get("status") or {}).get("checkpoint") else None

    run = wait_for("the 1 MB checkpoint", checkpointed, timeout=120)
    workflow = load_workflow(BIG_WORKFLOW)
    reporter = Reporter(namespace, name)
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        ctx = restore_context(workflow, run, reporter).ctx
        samples.append(time.perf_counter() - t)
        assert ctx is not None
    release.touch()
    bench.cluster.wait_phase(namespace, name, "Succeeded")
    checkpoint = run["status"]["checkpoint"]
    chunks = len(checkpoint.get("chunks") or [])
    return Restore(median(samples), checkpoint["sizeBytes"], checkpoint["storedBytes"], chunks)


def run(bench: BenchCluster, repeats: int = 3) -> list[Row]:
    namespace = bench.namespace("resume")
    pods = Sightings()
    with EventWatch(functools.partial(bench.cluster.core.list_namespaced_pod, namespace), pods):
        samples = [kill_and_resume(bench, namespace, f"resume-{i}", pods) for i in range(repeats)]
    restore = restore_1mb(bench, namespace)
    bench.delete_namespace(namespace)
    fresh = median([s.fresh for s in samples])
    resumed = median([s.next_step for s in samples])
    waited = median([s.replaced - s.failed for s in samples])
    by = {True: "the operator (a new Job)", False: "the Job controller (after its backoff)"}
    replaced_by = " or ".join(sorted({by[s.new_job] for s in samples}))
    return [
        Row(
            measure="resume",
            value=seconds(resumed),
            anchor=seconds(fresh),
            ratio=resumed / fresh,
            target=TARGET,
            detail=f"pod killed -> next step starts / fresh start (apply -> first step starts): medians of {repeats}; "
            f"from the kill: pod seen Failed "
            f"{seconds(median([s.failed for s in samples]))}, "
            f"then until the replacement pod, made by {replaced_by}, {seconds(waited)} "
            f"({waited / resumed:.0%} of the resume), then node -> process "
            f"{seconds(median([s.process - s.replaced for s in samples]))}, runner start -> next step "
            f"{seconds(median([s.next_step - s.process for s in samples]))}",
        ),
        Row(
            measure="restoring a 1 MB Context / the resume",
            value=seconds(restore.seconds),
            anchor=seconds(resumed),
            ratio=restore.seconds / resumed,
            target=RESTORE_TARGET,
            detail=f"restore_context (read {restore.chunks} ConfigMap chunks, decode, Context.from_dict) of a "
            f"{restore.context_bytes / 1e6:.2f} MB Context stored as {restore.stored_bytes / 1e6:.2f} MB, median of 5",
        ),
    ]
