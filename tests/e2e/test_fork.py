"""A new run can fork from any kept checkpoint of another run (spec.contextFrom {name, seq})."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from support import Cluster, OperatorProcess, workflow_run

STEPS = 6
RESULT = {"steps": STEPS, "total": sum(range(1, STEPS + 1))}


def test_fork_from_a_kept_checkpoint_reruns_only_what_came_after(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    record = tmp_path / "record"
    original = workflow_run(
        "original", "kwf_testflows.steps:StepChain", {"steps": STEPS, "record": str(record)}, checkpoint={"history": 4}
    )
    cluster.apply(original, namespace)
    status = cluster.wait_phase(namespace, "original", "Succeeded", "Failed")["status"]
    assert status["result"] == RESULT
    assert [c["seq"] for c in status["history"]] == [4, 5, 6, 7]
    # Kept checkpoints live in owned ConfigMaps, a ring of history + 1.
    config_maps = cluster.core.list_namespaced_config_map(namespace, label_selector="kube-workflows.dev/run=original")
    assert len(config_maps.items) == 5

    record.write_text("")
    forked = cluster.kwf("fork", "original", "--from-seq", "5", "-n", namespace, "--name", "what-if", "--wait")
    assert forked.returncode == 0, forked.stderr + forked.stdout
    status = cluster.wait_phase(namespace, "what-if", "Succeeded", "Failed")["status"]
    assert status["phase"] == "Succeeded" and status["result"] == RESULT
    # Checkpoint 5 was taken after step 4: the fork ran steps 5 and 6 only, each once.
    assert Counter(int(line.split()[1]) for line in record.read_text().splitlines()) == Counter([5, 6])
    spec = cluster.run(namespace, "what-if")["spec"]
    assert spec["contextFrom"] == {"name": "original", "seq": 5}


def test_fork_from_a_checkpoint_not_kept_fails_clearly(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    cluster.apply(workflow_run("short", "kwf_testflows.steps:StepChain", {"steps": 3}), namespace)
    cluster.wait_phase(namespace, "short", "Succeeded", "Failed")
    refused = cluster.kwf("fork", "short", "--from-seq", "2", "-n", namespace)
    assert refused.returncode != 0 and "history" in refused.stderr

    # Applied directly, the runner refuses it with the reason in the run's conditions.
    fork = workflow_run("old-seq", "kwf_testflows.steps:StepChain", contextFrom={"name": "short", "seq": 2})
    cluster.apply(fork, namespace)
    status = cluster.wait_phase(namespace, "old-seq", "Failed", "Succeeded")["status"]
    condition = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert condition["reason"] == "ContextSeqNotKept"
    assert "keeps checkpoints [4]" in condition["message"]
