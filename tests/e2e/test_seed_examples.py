"""The durable-workflows guide's three examples, as WorkflowRuns, give the guide's outputs."""

from __future__ import annotations

from pathlib import Path

from support import Cluster, OperatorProcess

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def results(cluster: Cluster, namespace: str, *names: str) -> list[object]:
    return [cluster.wait_phase(namespace, n, "Succeeded", timeout=120)["status"]["result"] for n in names]


def test_instance_state_is_per_pod(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    cluster.apply((EXAMPLES / "01-instance-state.yaml").read_text(), namespace)
    # In one process the guide counts 1, 2, 3; every WorkflowRun is a new process, so each starts at 1.
    assert results(cluster, namespace, "instance-state-1", "instance-state-2") == [
        "The step ran 1 times",
        "The step ran 1 times",
    ]


def test_context_store_carries_into_the_next_run(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    cluster.apply((EXAMPLES / "02-context-store.yaml").read_text(), namespace)
    assert results(cluster, namespace, "counter-a", "counter-b") == [
        "The step ran 1 times",
        "The step ran 2 times",
    ]


def test_checkpointing_examples(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    manifest = (EXAMPLES / "03-checkpointing.yaml").read_text().replace("documents: 20", "documents: 5")
    manifest = manifest.replace("seconds_per_document: 0.5", "seconds_per_document: 0.05")
    cluster.apply(manifest, namespace)
    assert results(cluster, namespace, "sqlite-a", "sqlite-b") == [
        "The step ran 1 times",
        "The step ran 2 times",
    ]
    documents = results(cluster, namespace, "documents")[0]
    assert isinstance(documents, dict)
    assert documents["documents"] == 5 and documents["last_processed"] == 4
    assert sum(documents["processed_by_pod"].values()) == 5
    run = cluster.run(namespace, "documents")
    assert run["status"]["checkpoint"]["stepsCompleted"] == 6  # start + 5 documents
