"""Checkpoints too large for status: chunked into owned ConfigMaps or Secrets (pure builders).

Three slots, "a", "b" and "c", rotate: a new checkpoint is written into the slot that neither the
current checkpoint nor the one before it (status.previousCheckpoint) uses, and only then does status
switch to it. A pod dying half-way through writing chunks leaves both intact, so the previous one is
still there to resume from should the current one's chunks be damaged. The objects are owned by the
WorkflowRun and deleted with it.
Each chunk records the attempt that wrote it, and the runner replaces a chunk only under its
resourceVersion and never one a newer attempt wrote: a stale pod's chunk writes are refused like its
status writes, so the chunks status points at stay what their sha256 says.

With `spec.checkpoint.history: K`, every checkpoint is offloaded into a ring of K+1 slots ("h0", "h1",
...): the K latest stay readable for forks, and the slot being written is never one status points at.
"""

from __future__ import annotations

from typing import Any

from kube_workflows.models.names import bounded_name, run_labels

# ConfigMaps and Secrets hold at most 1 MiB each; leave room for metadata.
CHUNK_BYTES = 700 * 1024
SLOTS = ("a", "b", "c")
DATA_KEY = "data"
# The runner attempt that wrote a chunk: a lower attempt (a stale pod) never overwrites it.
ATTEMPT_ANNOTATION = "kube-workflows.dev/attempt"
SEQ_ANNOTATION = "kube-workflows.dev/seq"
# status.checkpoint.storage of a final checkpoint whose Context was over spec.checkpoint.maxBytes.
OMITTED = "Omitted"
# status.checkpoint.storage of one whose Context is in spec.checkpoint.store.postgres's database.
POSTGRES = "PostgreSQL"


def storage_kind(sensitive: bool) -> str:
    return "Secret" if sensitive else "ConfigMap"


def max_chunks(max_bytes: int) -> int:
    return -(-max_bytes // CHUNK_BYTES)


def chunk_name(run_name: str, slot: str, index: int) -> str:
    return bounded_name(run_name, f"-ckpt-{slot}-{index}", limit=253)


def history_slot(seq: int, keep: int) -> str:
    return f"h{seq % (keep + 1)}"


def slots(history: int = 0) -> list[str]:
    """The slots a run's checkpoints use: the ring of `history` + 1 when it keeps history, else a, b, c."""
    return [history_slot(seq, history) for seq in range(history + 1)] if history else list(SLOTS)


def chunk_names(run_name: str, per_slot: int, history: int = 0) -> list[str]:
    """The names of the first `per_slot` chunks of every slot a run's checkpoints can use."""
    return [chunk_name(run_name, slot, i) for slot in slots(history) for i in range(per_slot)]


def all_chunk_names(run_name: str, max_bytes: int, history: int = 0) -> list[str]:
    """Every name a run's checkpoint chunks can have (its runner's Role lists exactly these)."""
    return chunk_names(run_name, max_chunks(max_bytes), history)


def chunk_index(name: str) -> int:
    return int(name.rsplit("-", 1)[-1])


def slot_of(checkpoint: dict[str, Any] | None) -> str | None:
    names = (checkpoint or {}).get("chunks") or []
    return str(names[0]).rsplit("-", 2)[-2] if names else None


def next_slot(current: dict[str, Any] | None, previous: dict[str, Any] | None = None) -> str:
    """The first slot that neither the current checkpoint nor the previous one uses."""
    in_use = {slot_of(current), slot_of(previous)}
    return next(slot for slot in SLOTS if slot not in in_use)


def written_by(chunk: dict[str, Any]) -> int:
    """The attempt that wrote a chunk object (0 for one written before chunks were annotated)."""
    value = ((chunk.get("metadata") or {}).get("annotations") or {}).get(ATTEMPT_ANNOTATION)
    return int(value) if value and str(value).isdigit() else 0


def split(data: str) -> list[str]:
    return [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)] or [""]


def chunk_object(
    kind: str,
    name: str,
    namespace: str,
    run_name: str,
    owner: dict[str, Any],
    payload: str,
    *,
    attempt: int,
    seq: int,
) -> dict[str, Any]:
    metadata = {
        "name": name,
        "namespace": namespace,
        "labels": {**run_labels(run_name), "kube-workflows.dev/checkpoint": "true"},
        "annotations": {ATTEMPT_ANNOTATION: str(attempt), SEQ_ANNOTATION: str(seq)},
        # No blockOwnerDeletion: setting it takes `update` on workflowruns/finalizers (admission plugin
        # OwnerReferencesPermissionEnforcement), which would let a runner block its run's deletion.
        "ownerReferences": [{**owner, "blockOwnerDeletion": False}],
    }
    return data_object(kind, metadata, payload)


def data_object(kind: str, metadata: dict[str, Any], payload: str) -> dict[str, Any]:
    """A ConfigMap or (Opaque) Secret holding `payload` under the key `data`."""
    if kind == "Secret":
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata,
            "type": "Opaque",
            "stringData": {DATA_KEY: payload},
        }
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {DATA_KEY: payload}}
