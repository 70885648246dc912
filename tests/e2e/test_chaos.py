"""Chaos: many runs, runner pods SIGKILLed at random moments (some during a checkpoint write).

Every run must succeed with the uninterrupted result, and no step whose checkpoint was written may
run again. Size: KWF_CHAOS_RUNS (CI: 4; `make chaos`: 50), KWF_CHAOS_STEPS (12; `make chaos`: 40;
at most 49, so that status.steps holds every step),
KWF_CHAOS_KILLS_PER_RUN (2), KWF_CHAOS_SEED.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

from support import Cluster, OperatorProcess, count_reruns, workflow_run

RUNS = int(os.environ.get("KWF_CHAOS_RUNS", "4"))
KILLS_PER_RUN = int(os.environ.get("KWF_CHAOS_KILLS_PER_RUN", "2"))
SEED = int(os.environ.get("KWF_CHAOS_SEED", str(int(time.time()))))
STEPS = int(os.environ.get("KWF_CHAOS_STEPS", "12"))
# Short steps make the checkpoint write a large share of each step, so many kills land inside one.
DELAY = 0.05


def test_random_kills_lose_no_run_and_rerun_no_completed_step(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    print(f"chaos: {RUNS} runs, up to {KILLS_PER_RUN} kills each, seed {SEED}")
    names = [f"chaos-{i}" for i in range(RUNS)]
    for name in names:
        cluster.apply(
            workflow_run(
                name,
                "kwf_testflows.steps:StepChain",
                {"steps": STEPS, "delay": DELAY, "record": str(tmp_path / name)},
                retry={"maxRestarts": KILLS_PER_RUN + 2},
            ),
            namespace,
        )
    kills = dict.fromkeys(names, 0)
    deadline = time.monotonic() + 120 + RUNS * KILLS_PER_RUN * 5
    while time.monotonic() < deadline:
        runs = cluster.custom.list_namespaced_custom_object(
            "kube-workflows.dev", "v1alpha1", namespace, "workflowruns"
        )["items"]
        phases = {r["metadata"]["name"]: (r.get("status") or {}).get("phase") for r in runs}
        if all(phases.get(n) in ("Succeeded", "Failed") for n in names):
            break
        running = {
            p.metadata.labels.get("kube-workflows.dev/run"): p.metadata.name
            for p in cluster.core.list_namespaced_pod(namespace).items
            if p.status.phase == "Running"
        }
        victims = [n for n in names if phases.get(n) == "Running" and kills[n] < KILLS_PER_RUN and n in running]
        # A random quarter of the running runs lose their pod at a random moment, all at once.
        for name in rng.sample(victims, k=(len(victims) + 3) // 4):
            time.sleep(rng.uniform(0, 0.05))
            try:
                cluster.crash_pod(namespace, running[name], signal.SIGKILL)
                kills[name] += 1
            except LookupError:
                pass  # the pod had just finished
        time.sleep(rng.uniform(0.05, 0.3))

    replayed_completed, rerun_in_flight = 0, 0
    for name in names:
        status = cluster.wait_phase(namespace, name, "Succeeded", "Failed", timeout=120)["status"]
        assert status["phase"] == "Succeeded", (name, status.get("error"), status.get("conditions"))
        assert status["result"] == {"steps": STEPS, "total": STEPS * (STEPS + 1) // 2}, name
        completed, in_flight = count_reruns(status, tmp_path / name, STEPS)
        replayed_completed += completed
        rerun_in_flight += in_flight
    total_kills = sum(kills.values())
    print(
        f"chaos: {RUNS} runs x {STEPS} steps, {total_kills} runner pods SIGKILLed -> {rerun_in_flight} in-flight "
        f"steps re-run, {replayed_completed} completed steps re-run, 0 runs lost"
    )
    assert replayed_completed == 0
    # Not vacuous: most runs lost a pod at least once (runs that finish first can escape).
    assert total_kills >= max(2, RUNS // 2), f"the chaos loop only managed {total_kills} kills"
