"""Chaos at CI size on the real node: runner containers SIGKILLed through the runtime at random moments
(some during a checkpoint write). Every run succeeds with the uninterrupted result and no step whose
checkpoint was written runs again. Size as tests/e2e/test_chaos.py: KWF_CHAOS_RUNS (4),
KWF_CHAOS_STEPS (12), KWF_CHAOS_KILLS_PER_RUN (2), KWF_CHAOS_SEED."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

from realnode_support import RealNodeCluster

from support import OperatorProcess, count_reruns, workflow_run

RUNS = int(os.environ.get("KWF_CHAOS_RUNS", "4"))
KILLS_PER_RUN = int(os.environ.get("KWF_CHAOS_KILLS_PER_RUN", "2"))
SEED = int(os.environ.get("KWF_CHAOS_SEED", str(int(time.time()))))
STEPS = int(os.environ.get("KWF_CHAOS_STEPS", "12"))
DELAY = 0.1


def test_runtime_kills_lose_no_run_and_rerun_no_completed_step(
    real_cluster: RealNodeCluster, real_operator: OperatorProcess, real_namespace: str, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    print(f"chaos: {RUNS} runs, up to {KILLS_PER_RUN} kills each, seed {SEED}")
    names = [f"chaos-{i}" for i in range(RUNS)]
    for name in names:
        run = workflow_run(
            name,
            "kwf_testflows.steps:StepChain",
            {"steps": STEPS, "delay": DELAY, "record": str(tmp_path / name)},
            retry={"maxRestarts": KILLS_PER_RUN + 2},
        )
        del run["spec"]["image"]
        real_cluster.apply(real_cluster.on_node(run, host_dirs=(tmp_path,)), real_namespace)
    kills = dict.fromkeys(names, 0)
    deadline = time.monotonic() + 180 + RUNS * KILLS_PER_RUN * 10
    while time.monotonic() < deadline:
        runs = real_cluster.custom.list_namespaced_custom_object(
            "kube-workflows.dev", "v1alpha1", real_namespace, "workflowruns"
        )["items"]
        phases = {r["metadata"]["name"]: (r.get("status") or {}).get("phase") for r in runs}
        if all(phases.get(n) in ("Succeeded", "Failed") for n in names):
            break
        # Runs whose current runner has written at least one step checkpoint (so kills land mid-run).
        running = {
            p.metadata.labels.get("kube-workflows.dev/run"): p.metadata.name
            for p in real_cluster.core.list_namespaced_pod(real_namespace).items
            if p.status.phase == "Running"
        }
        victims = [n for n in names if phases.get(n) == "Running" and kills[n] < KILLS_PER_RUN and n in running]
        for name in rng.sample(victims, k=(len(victims) + 1) // 2):
            time.sleep(rng.uniform(0, 0.2))
            try:
                real_cluster.kill_runner(real_namespace, running[name])
                kills[name] += 1
            except (LookupError, ValueError, ProcessLookupError):
                pass  # the container had just finished, or was not started yet
        time.sleep(rng.uniform(0.2, 0.6))

    replayed_completed, rerun_in_flight = 0, 0
    for name in names:
        status = real_cluster.wait_phase(real_namespace, name, "Succeeded", "Failed", timeout=180)["status"]
        assert status["phase"] == "Succeeded", (name, status.get("error"), status.get("conditions"))
        assert status["result"] == {"steps": STEPS, "total": STEPS * (STEPS + 1) // 2}, name
        completed, in_flight = count_reruns(status, tmp_path / name, STEPS)
        replayed_completed += completed
        rerun_in_flight += in_flight
    total_kills = sum(kills.values())
    print(
        f"chaos: {RUNS} runs x {STEPS} steps, {total_kills} runner containers SIGKILLed -> {rerun_in_flight} "
        f"in-flight steps re-run, {replayed_completed} completed steps re-run, 0 runs lost"
    )
    assert replayed_completed == 0
    assert total_kills >= max(2, RUNS // 2), f"the chaos loop only managed {total_kills} kills"
