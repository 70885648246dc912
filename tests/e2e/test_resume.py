"""A run whose pod dies resumes on a new pod from its last checkpoint; no completed step runs twice."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from support import Cluster, OperatorProcess, wait_for, workflow_run

STEPS = 10
UNINTERRUPTED = {"steps": STEPS, "total": sum(range(1, STEPS + 1))}


def recorded_steps(record: Path) -> list[int]:
    return [int(line.split()[1]) for line in record.read_text().splitlines()] if record.exists() else []


@pytest.mark.parametrize("how", ["sigkill", "delete"])
def test_pod_death_after_step_4_resumes_on_a_new_pod(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path, how: str
) -> None:
    record, release = tmp_path / "record", tmp_path / "release"
    # Step 5 waits for `release` before doing its work, so the pod dies with steps 1-4 checkpointed
    # and step 5 in flight but without its side effect.
    cluster.apply(
        workflow_run(
            "chain",
            "kwf_testflows.steps:StepChain",
            {
                "steps": STEPS,
                "record": str(record),
                "hold_at": 5,
                "release": str(release),
                "delay": 0.02,
            },
        ),
        namespace,
    )
    wait_for("steps 1-4 to be recorded", lambda: recorded_steps(record) == [1, 2, 3, 4], timeout=120)
    run = wait_for(
        "checkpoint of step 4",
        lambda: (lambda r: r if (r.get("status") or {}).get("checkpoint", {}).get("stepsCompleted") == 5 else None)(
            cluster.run(namespace, "chain")
        ),
    )
    assert run["status"]["phase"] == "Running"
    first_pod = cluster.runner_pods(namespace, "chain")[0].metadata.name
    if how == "sigkill":
        cluster.crash_pod(namespace, first_pod)
    else:
        cluster.core.delete_namespaced_pod(first_pod, namespace)
        wait_for(
            "the runner to get SIGTERM",
            lambda: "SIGTERM" in cluster.kubectl("logs", "-n", namespace, first_pod, check=False).stdout,
        )
    release.touch()

    done = cluster.wait_phase(namespace, "chain", "Succeeded", "Failed", timeout=180)
    status = done["status"]
    assert status["phase"] == "Succeeded", status.get("error")
    assert status["result"] == UNINTERRUPTED
    assert status["restarts"] == 1
    assert Counter(recorded_steps(record)) == Counter(range(1, STEPS + 1)), "a step's side effect repeated"
    pods = {line.split()[2] for line in record.read_text().splitlines()}
    assert len(pods) == 2 and first_pod in pods
    assert status["attempt"] == 2
    assert [s["name"] for s in status["steps"]][:5] == ["begin", "work", "work", "work", "work"]
    if how == "delete":
        # A deleted pod gets SIGTERM: the runner lets the step in flight finish and checkpoint first.
        assert status["steps"][5]["attempt"] == 1
        assert {s["attempt"] for s in status["steps"][6:]} == {2}
    else:
        assert {s["attempt"] for s in status["steps"][5:]} == {2}
    events = cluster.kubectl(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        "involvedObject.name=chain",
        "-o",
        "jsonpath={.items[*].reason}",
    ).stdout.split()
    assert {"Started", "Running", "Checkpointed", "PodLost", "Succeeded"} <= set(events)
    # at most one Checkpointed Event per run per 30 s, not one per step
    assert events.count("Checkpointed") < STEPS


def test_checkpoint_policy_every_n_steps(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    record, release = tmp_path / "record", tmp_path / "release"
    spec = {"steps": STEPS, "record": str(record), "hold_at": 7, "release": str(release), "delay": 0.02}
    cluster.apply(
        workflow_run("sparse", "kwf_testflows.steps:StepChain", spec, checkpoint={"everySteps": 4}), namespace
    )
    wait_for("steps 1-6 to be recorded", lambda: recorded_steps(record) == [1, 2, 3, 4, 5, 6], timeout=120)
    run = wait_for("checkpoint 1", lambda: (cluster.run(namespace, "sparse").get("status") or {}).get("checkpoint"))
    assert run["seq"] == 1 and run["stepsCompleted"] == 4  # begin + steps 1-3; steps 4-6 are not written yet
    (pod,) = [p.metadata.name for p in cluster.runner_pods(namespace, "sparse")]
    cluster.crash_pod(namespace, pod)
    release.touch()
    status = cluster.wait_phase(namespace, "sparse", "Succeeded", "Failed", timeout=180)["status"]
    assert status["phase"] == "Succeeded" and status["result"] == UNINTERRUPTED
    # Steps 4-6 completed after the last checkpoint: the new pod ran them again, and nothing earlier.
    assert Counter(recorded_steps(record)) == Counter([*range(1, STEPS + 1), 4, 5, 6])
