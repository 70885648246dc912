"""Human in the loop with no pod while waiting, and a Context too large for status, on the real node."""

from __future__ import annotations

import json
from pathlib import Path

from realnode_support import RealNodeCluster

from support import OperatorProcess, wait_for, workflow_run


def waiting_for(cluster: RealNodeCluster, namespace: str, name: str, index: int) -> dict[str, object] | None:
    run = cluster.run(namespace, name)
    status = run.get("status") or {}
    return (
        run if status.get("phase") == "Waiting" and (status.get("waiting") or {}).get("eventIndex") == index else None
    )


def test_questions_park_with_no_pod_and_resume_per_answer(
    real_cluster: RealNodeCluster, real_operator: OperatorProcess, real_namespace: str, tmp_path: Path
) -> None:
    record = tmp_path / "record"
    run = workflow_run("chat", "kwf_testflows.questions:Questions", {"record": str(record)})
    del run["spec"]["image"]
    real_cluster.apply(real_cluster.on_node(run, host_dirs=(tmp_path,)), real_namespace)
    wait_for("the first question", lambda: waiting_for(real_cluster, real_namespace, "chat", 0), timeout=180)
    wait_for("no pod while waiting", lambda: not real_cluster.runner_pods(real_namespace, "chat"), timeout=90)
    # Nothing of it runs on the node either (stopped sandboxes linger until the kubelet's GC).
    wait_for(
        "no running sandbox of the parked run",
        lambda: (
            not real_cluster.node.crictl("pods", "-q", "--state=Ready", f"--namespace={real_namespace}").stdout.split()
        ),
        timeout=60,
    )
    sent = real_cluster.kwf("send-event", "chat", "-n", real_namespace, "--data", json.dumps({"response": "Ada"}))
    assert sent.returncode == 0, sent.stderr
    wait_for("the second question", lambda: waiting_for(real_cluster, real_namespace, "chat", 1), timeout=180)
    sent = real_cluster.kwf("send-event", "chat", "-n", real_namespace, "--data", json.dumps({"response": "green"}))
    assert sent.returncode == 0, sent.stderr
    status = real_cluster.wait_phase(real_namespace, "chat", "Succeeded", "Failed", timeout=180)["status"]
    assert status["phase"] == "Succeeded", status.get("conditions")
    assert status["result"] == {"name": "Ada", "colour": "green", "answer": "Ada likes green"}
    assert [line.split()[0] for line in record.read_text().splitlines()] == ["greet", "ask_color", "finish"]


def test_a_5mb_context_offloaded_to_configmaps_survives_a_runtime_kill(
    real_cluster: RealNodeCluster, real_operator: OperatorProcess, real_namespace: str, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    run = workflow_run("big", "kwf_testflows.big_state:BigState", {"size_mb": 5, "release": str(release)})
    del run["spec"]["image"]
    real_cluster.apply(real_cluster.on_node(run, host_dirs=(tmp_path,)), real_namespace)
    wait_for(
        "the 5 MB checkpoint",
        lambda: (real_cluster.run(real_namespace, "big").get("status") or {}).get("checkpoint"),
        timeout=180,
    )
    checkpoint = real_cluster.run(real_namespace, "big")["status"]["checkpoint"]
    assert checkpoint["storage"] == "ConfigMap" and len(checkpoint["chunks"]) >= 2
    real_cluster.kill_runner(real_namespace, real_cluster.runner_pods(real_namespace, "big")[0].metadata.name)
    release.touch()
    status = real_cluster.wait_phase(real_namespace, "big", "Succeeded", "Failed", timeout=240)["status"]
    assert status["phase"] == "Succeeded", status.get("error")
    assert status["result"] == 5 * 1024 * 1024  # the blob came back whole from the chunks
    assert status["restarts"] == 1 and [s["name"] for s in status["steps"]] == ["fill", "finish"]
