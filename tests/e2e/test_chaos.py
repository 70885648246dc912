"""Chaos: many runs, runner pods SIGKILLed at random moments (some during a checkpoint write).

Every run must succeed with the uninterrupted result, and no step whose checkpoint was written may
run again. Size: KWF_CHAOS_RUNS (CI: 4; `make chaos`: 50), KWF_CHAOS_KILLS_PER_RUN (2), KWF_CHAOS_SEED.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

from support import Cluster, OperatorProcess, workflow_run

RUNS = int(os.environ.get("KWF_CHAOS_RUNS", "4"))
KILLS_PER_RUN = int(os.environ.get("KWF_CHAOS_KILLS_PER_RUN", "2"))
SEED = int(os.environ.get("KWF_CHAOS_SEED", str(int(time.time()))))
STEPS = 12
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
    deadline = time.monotonic() + 120 + RUNS * KILLS_PER_RUN * 15
    while time.monotonic() < deadline:
        phases = {n: (cluster.run(namespace, n).get("status") or {}).get("phase") for n in names}
        if all(p in ("Succeeded", "Failed") for p in phases.values()):
            break
        victims = [n for n in names if phases[n] == "Running" and kills[n] < KILLS_PER_RUN]
        if victims:
            name = rng.choice(victims)
            running = [p for p in cluster.runner_pods(namespace, name) if p.status.phase == "Running"]
            if running:
                time.sleep(rng.uniform(0, 0.3))
                try:
                    cluster.crash_pod(namespace, running[-1].metadata.name, signal.SIGKILL)
                    kills[name] += 1
                except LookupError:
                    pass  # the pod had just finished
        time.sleep(rng.uniform(0.05, 0.4))

    replayed_completed, rerun_in_flight = 0, 0
    for name in names:
        status = cluster.wait_phase(namespace, name, "Succeeded", "Failed", timeout=120)["status"]
        assert status["phase"] == "Succeeded", (name, status.get("error"), status.get("conditions"))
        assert status["result"] == {"steps": STEPS, "total": STEPS * (STEPS + 1) // 2}, name
        # work step i is checkpoint seq i + 1 ("begin" is seq 1); which attempt wrote it:
        checkpointed_by = {s["seq"] - 1: s["attempt"] for s in status["steps"] if s["name"] == "work"}
        assert sorted(checkpointed_by) == list(range(1, STEPS + 1)), name
        for line in (tmp_path / name).read_text().splitlines():
            _, step, _, attempt = line.split()
            if int(attempt) > checkpointed_by[int(step)]:
                replayed_completed += 1  # ran again after its checkpoint was written: must never happen
            elif int(attempt) < checkpointed_by[int(step)]:
                rerun_in_flight += 1  # in flight when its pod died: at-least-once, as documented
    total_kills = sum(kills.values())
    print(
        f"chaos: {RUNS} runs x {total_kills} kills -> {total_kills - 0} pods lost, "
        f"{rerun_in_flight} in-flight steps re-run, {replayed_completed} completed steps re-run, 0 runs lost"
    )
    assert replayed_completed == 0
    assert total_kills >= RUNS, f"the chaos loop only managed {total_kills} kills"
