"""Measure 3: apply a WorkflowRun → its first step starts ÷ create a Job of the same pod → its container
process starts. Target ≤ 1.15.

The anchor is the Job the operator would build for the run (`build_runner_job`, identity objects
created beforehand), unowned, with the container's command replaced by one that only records when
its process was forked: the Kubernetes part of a start with nothing of ours in it. Ours adds the
operator (run → Job) and the runner's start (process → first step: imports, claim, load, restore).
Samples alternate, one at a time; the table shows medians.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client

from bench.cluster import BenchCluster
from bench.report import Row, median, seconds
from bench.stamps import WORKFLOW, wait_for_stamp
from bench.watch import EventWatch, Sightings
from kube_workflows.builders import build_runner_identity, build_runner_job
from kube_workflows.models.names import MANAGED_BY
from support import wait_for, workflow_run

TARGET = 1.15


def anchor_objects(namespace: str, name: str, stamps: Path) -> list[dict[str, Any]]:
    """The ServiceAccount, Role, RoleBinding and Job the operator builds for a run `name`, owned by
    nothing (there is no run) and out of the operator's sight, the container only stamping its start."""

    run = {**workflow_run(name, WORKFLOW), "metadata": {"name": name, "namespace": namespace, "uid": "none"}}
    objects = [*build_runner_identity(run), build_runner_job(run, "local")]
    for obj in objects:
        obj["metadata"] = {k: v for k, v in obj["metadata"].items() if k != "ownerReferences"}
    job = objects[-1]
    job["metadata"]["labels"] = {k: v for k, v in job["metadata"]["labels"].items() if k not in MANAGED_BY}
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["command"] = ["python", "-m", "kwf_testflows.stamps", str(stamps)]
    return objects


def create_objects(bench: BenchCluster, namespace: str, objects: list[dict[str, Any]]) -> None:
    rbac = client.RbacAuthorizationV1Api(bench.cluster.api)
    create = {
        "ServiceAccount": bench.cluster.core.create_namespaced_service_account,
        "Role": rbac.create_namespaced_role,
        "RoleBinding": rbac.create_namespaced_role_binding,
        "Job": bench.cluster.batch.create_namespaced_job,
    }
    for obj in objects:
        create[obj["kind"]](namespace, obj, _preload_content=False)


@dataclass(frozen=True)
class Start:
    """Seconds from the create call: the Job seen, its process forked, the first step begun (the anchor has
    no steps: it only starts)."""

    job: float
    process: float
    first_step: float


def start_anchor(bench: BenchCluster, namespace: str, name: str, jobs: Sightings) -> Start:
    stamps = bench.scratch / f"{namespace}-{name}.stamps"
    *identity, job = anchor_objects(namespace, name, stamps)
    create_objects(bench, namespace, identity)
    t0 = time.time()
    create_objects(bench, namespace, [job])
    started = wait_for_stamp(stamps, lambda s: s.step == -1)
    seen = jobs.first(lambda s: s.name == name)
    wait_for(
        f"Job {name} to succeed", lambda: bench.cluster.batch.read_namespaced_job(name, namespace).status.succeeded
    )
    return Start(seen.at - t0, started.process_started - t0, started.process_started - t0)


def start_ours(bench: BenchCluster, namespace: str, name: str, jobs: Sightings) -> Start:
    stamps = bench.scratch / f"{namespace}-{name}.stamps"
    t0 = time.time()
    bench.create_run(namespace, workflow_run(name, WORKFLOW, {"stamps": str(stamps), "steps": 1}))
    first = wait_for_stamp(stamps, lambda s: s.step == 0)
    seen = jobs.first(lambda s: s.name == name)
    bench.cluster.wait_phase(namespace, name, "Succeeded")
    return Start(seen.at - t0, first.process_started - t0, first.at - t0)


def run(bench: BenchCluster, repeats: int = 5) -> list[Row]:
    namespace = bench.namespace("start")
    jobs = Sightings()
    anchors: list[Start] = []
    ours: list[Start] = []
    with EventWatch(functools.partial(bench.cluster.batch.list_namespaced_job, namespace), jobs):
        for i in range(repeats):
            anchors.append(start_anchor(bench, namespace, f"anchor-{i}", jobs))
            time.sleep(1)  # let the Job finish and the cluster settle between samples
            ours.append(start_ours(bench, namespace, f"ours-{i}", jobs))
            time.sleep(1)
    bench.delete_namespace(namespace)
    anchor = median([a.process for a in anchors])
    first_step = median([o.first_step for o in ours])
    operator = median([o.job for o in ours])
    kubernetes = median([o.process - o.job for o in ours])
    runner = median([o.first_step - o.process for o in ours])
    return [
        Row(
            measure="start",
            value=seconds(first_step),
            anchor=seconds(anchor),
            ratio=first_step / anchor,
            target=TARGET,
            detail="apply WorkflowRun -> first step starts / create Job of the same pod -> container starts: "
            f"medians of {repeats}, alternating; ours = operator (run -> Job) {seconds(operator)} "
            f"+ Kubernetes (Job -> process) {seconds(kubernetes)} "
            f"(the anchor's: {seconds(median([a.process - a.job for a in anchors]))}) "
            f"+ runner start (process -> first step: imports, claim, load, restore) {seconds(runner)}",
        )
    ]
