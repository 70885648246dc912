"""The guide's three examples, applied from examples/*.yaml, run as real containers from the examples image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from realnode_support import RealNodeCluster

from support import OperatorProcess

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLES_IMAGE = "ghcr.io/kube-workflows/kube-workflows-examples:0.1.0"


def apply_example(cluster: RealNodeCluster, namespace: str, name: str, **replace: str) -> None:
    text = (EXAMPLES / name).read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    runs: list[dict[str, Any]] = [doc for doc in yaml.safe_load_all(text) if doc]
    for run in runs:
        assert run["spec"]["image"] == EXAMPLES_IMAGE, f"{name}: {run['metadata']['name']} names no examples image"
        cluster.apply(cluster.on_node(run), namespace)


def results(cluster: RealNodeCluster, namespace: str, *names: str) -> list[object]:
    return [cluster.wait_phase(namespace, n, "Succeeded", timeout=180)["status"]["result"] for n in names]


def test_instance_state_is_per_pod(
    real_cluster: RealNodeCluster, real_operator: OperatorProcess, real_namespace: str
) -> None:
    apply_example(real_cluster, real_namespace, "01-instance-state.yaml")
    assert results(real_cluster, real_namespace, "instance-state-1", "instance-state-2") == [
        "The step ran 1 times",
        "The step ran 1 times",
    ]
    # A real container: the image's user, PID 1, and its log through the kubelet.
    pod = real_cluster.runner_pods(real_namespace, "instance-state-1")[0]
    assert pod.status.container_statuses[0].image == EXAMPLES_IMAGE
    assert pod.status.container_statuses[0].container_id.startswith("containerd://")
    log = real_cluster.kubectl("logs", "-n", real_namespace, pod.metadata.name).stdout
    assert log.strip(), "kubectl logs through the kubelet returned nothing"


def test_context_store_carries_into_the_next_run(
    real_cluster: RealNodeCluster, real_operator: OperatorProcess, real_namespace: str
) -> None:
    apply_example(real_cluster, real_namespace, "02-context-store.yaml")
    assert results(real_cluster, real_namespace, "counter-a", "counter-b") == [
        "The step ran 1 times",
        "The step ran 2 times",
    ]


def test_checkpointing_examples(
    real_cluster: RealNodeCluster, real_operator: OperatorProcess, real_namespace: str
) -> None:
    apply_example(
        real_cluster,
        real_namespace,
        "03-checkpointing.yaml",
        **{"documents: 20": "documents: 5", "seconds_per_document: 0.5": "seconds_per_document: 0.05"},
    )
    assert results(real_cluster, real_namespace, "sqlite-a", "sqlite-b") == [
        "The step ran 1 times",
        "The step ran 2 times",
    ]
    documents = results(real_cluster, real_namespace, "documents")[0]
    assert isinstance(documents, dict)
    assert documents["documents"] == 5 and documents["last_processed"] == 4
    assert real_cluster.run(real_namespace, "documents")["status"]["checkpoint"]["stepsCompleted"] == 6
