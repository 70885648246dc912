"""Runner containers killed through the runtime, and pods deleted through the kubelet: the run resumes
on a new pod from its last checkpoint and no completed step runs twice."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from realnode_support import RealNodeCluster

from support import OperatorProcess, wait_for, workflow_run

STEPS = 10
UNINTERRUPTED = {"steps": STEPS, "total": sum(range(1, STEPS + 1))}


def recorded_steps(record: Path) -> list[int]:
    return [int(line.split()[1]) for line in record.read_text().splitlines()] if record.exists() else []


def start_held_chain(cluster: RealNodeCluster, namespace: str, shared: Path) -> str:
    """A StepChain that holds in step 5 until `shared/release` exists; returns its first pod's name."""
    record, release = shared / "record", shared / "release"
    run = workflow_run(
        "chain",
        "kwf_testflows.steps:StepChain",
        {"steps": STEPS, "record": str(record), "hold_at": 5, "release": str(release), "delay": 0.02},
    )
    del run["spec"]["image"]  # the operator's runner image: the test workflows image
    cluster.apply(cluster.on_node(run, host_dirs=(shared,)), namespace)
    wait_for("steps 1-4 to be recorded", lambda: recorded_steps(record) == [1, 2, 3, 4], timeout=180)
    wait_for(
        "checkpoint of step 4",
        lambda: (cluster.run(namespace, "chain").get("status") or {}).get("checkpoint", {}).get("stepsCompleted") == 5,
    )
    return str(cluster.runner_pods(namespace, "chain")[0].metadata.name)


def assert_resumed_once(cluster: RealNodeCluster, namespace: str, shared: Path, first_pod: str) -> dict[str, object]:
    (shared / "release").touch()
    status = cluster.wait_phase(namespace, "chain", "Succeeded", "Failed", timeout=240)["status"]
    assert status["phase"] == "Succeeded", status.get("error")
    assert status["result"] == UNINTERRUPTED
    assert status["restarts"] == 1
    record = shared / "record"
    assert Counter(recorded_steps(record)) == Counter(range(1, STEPS + 1)), "a step's side effect repeated"
    pods = {line.split()[2] for line in record.read_text().splitlines()}
    assert len(pods) == 2 and first_pod in pods
    return dict(status)


def test_runner_container_killed_by_the_runtime_resumes(
    real_cluster: RealNodeCluster, real_operator: OperatorProcess, real_namespace: str, tmp_path: Path
) -> None:
    first_pod = start_held_chain(real_cluster, real_namespace, tmp_path)
    print(f"\n$ crictl ps (before the kill)\n{real_cluster.node.crictl('ps').stdout}")
    real_cluster.kill_runner(real_namespace, first_pod)
    status = assert_resumed_once(real_cluster, real_namespace, tmp_path, first_pod)
    print(f"$ crictl ps -a (after the resume)\n{real_cluster.node.crictl('ps', '-a').stdout}")
    steps = status["steps"]
    assert isinstance(steps, list)
    assert [s["name"] for s in steps][:5] == ["begin", "work", "work", "work", "work"]
    assert {s["attempt"] for s in steps[5:]} == {2}, "steps after the kill ran on the second pod"
    first = real_cluster.core.read_namespaced_pod_status(first_pod, real_namespace)
    terminated = first.status.container_statuses[0].state.terminated
    assert terminated is not None and terminated.exit_code == 137


def test_pod_delete_sigterms_pid_1_which_checkpoints_within_grace(
    real_cluster: RealNodeCluster, real_operator: OperatorProcess, real_namespace: str, tmp_path: Path
) -> None:
    first_pod = start_held_chain(real_cluster, real_namespace, tmp_path)
    real_cluster.core.delete_namespaced_pod(first_pod, real_namespace)
    # The kubelet sends SIGTERM to the container's PID 1 (`kwf runner`, the image's entrypoint).
    wait_for(
        "the runner to log SIGTERM",
        lambda: "SIGTERM" in real_cluster.kubectl("logs", "-n", real_namespace, first_pod, check=False).stdout,
        timeout=60,
    )
    status = assert_resumed_once(real_cluster, real_namespace, tmp_path, first_pod)
    steps = status["steps"]
    assert isinstance(steps, list)
    # The step in flight at SIGTERM finished on the first pod and was checkpointed before it exited.
    assert steps[5]["attempt"] == 1
    assert {s["attempt"] for s in steps[6:]} == {2}
