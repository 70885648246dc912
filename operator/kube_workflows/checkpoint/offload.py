"""Checkpoints too large for status: chunked into owned ConfigMaps or Secrets (pure builders).

Two slots, "a" and "b", alternate: a new checkpoint is written into the slot the current status does
not point at, and only then does status switch to it. A pod dying half-way through writing chunks
leaves the previous checkpoint intact. The objects are owned by the WorkflowRun and deleted with it.

With `spec.checkpoint.history: K`, every checkpoint is offloaded into a ring of K+1 slots ("h0", "h1",
...): the K latest stay readable for forks, and the slot being written is never one status points at.
"""

from __future__ import annotations

from typing import Any

from kube_workflows.builders.names import bounded_name, run_labels

# ConfigMaps and Secrets hold at most 1 MiB each; leave room for metadata.
CHUNK_BYTES = 700 * 1024
SLOTS = ("a", "b")
DATA_KEY = "data"


def storage_kind(sensitive: bool) -> str:
    return "Secret" if sensitive else "ConfigMap"


def max_chunks(max_bytes: int) -> int:
    return -(-max_bytes // CHUNK_BYTES)


def chunk_name(run_name: str, slot: str, index: int) -> str:
    return bounded_name(run_name, f"-ckpt-{slot}-{index}", limit=253)


def history_slot(seq: int, keep: int) -> str:
    return f"h{seq % (keep + 1)}"


def all_chunk_names(run_name: str, max_bytes: int, history: int = 0) -> list[str]:
    """Every name a run's checkpoint chunks can have (its runner's Role lists exactly these)."""
    slots = [*SLOTS, *(history_slot(seq, history) for seq in range(history + 1) if history)]
    return [chunk_name(run_name, slot, i) for slot in slots for i in range(max_chunks(max_bytes))]


def next_slot(current: dict[str, Any] | None) -> str:
    """The slot the current checkpoint does not use."""
    names = (current or {}).get("chunks") or []
    in_use = names[0].rsplit("-", 2)[-2] if names else None
    return "b" if in_use == "a" else "a"


def split(data: str) -> list[str]:
    return [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)] or [""]


def chunk_object(
    kind: str, name: str, namespace: str, run_name: str, owner: dict[str, Any], payload: str
) -> dict[str, Any]:
    metadata = {
        "name": name,
        "namespace": namespace,
        "labels": {**run_labels(run_name), "kube-workflows.dev/checkpoint": "true"},
        "ownerReferences": [owner],
    }
    if kind == "Secret":
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata,
            "type": "Opaque",
            "stringData": {DATA_KEY: payload},
        }
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {DATA_KEY: payload}}
