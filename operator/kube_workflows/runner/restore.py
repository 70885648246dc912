"""Where a run resumes from: its latest intact checkpoint, or spec.contextFrom's run.

A checkpoint is read from status (or its chunks) and checked against its sha256 before use. When the
latest one is damaged (a chunk edited or deleted by someone else; the runner's own writes are fenced),
the newest intact older one that status still points at is used instead: status.previousCheckpoint or
status.history. The steps completed after it run again, which beats losing the run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from workflows import Context, Workflow

from kube_workflows.checkpoint import CheckpointError, decode_checkpoint, offload
from kube_workflows.models import Phase, exit_codes
from kube_workflows.models.workflowrun import CHECKPOINT_DSN_ENV, effective_spec
from kube_workflows.restclient import ApiError
from kube_workflows.runner.context_store import ContextStore, run_key
from kube_workflows.runner.reporter import Reporter
from kube_workflows.runtime import compat
from kube_workflows.runtime.durable import IncompatibleCheckpoint, restore

log = logging.getLogger("kube_workflows.runner")


class RunFailure(Exception):
    """The run cannot go on; `reason` and the message go into status.error."""

    def __init__(self, reason: str, message: str, exit_code: int = exit_codes.INVALID_RUN) -> None:
        super().__init__(message)
        self.reason = reason
        self.exit_code = exit_code


@dataclass(frozen=True)
class Restored:
    """What the runner resumes from: the Context, the checkpoint it came from, and why an older one
    was used (the latest was damaged), if it was."""

    ctx: Context | None
    resuming: bool
    checkpoint: dict[str, Any] | None = None
    recovered_from: dict[str, Any] | None = None


def restore_context(
    workflow: Workflow, run: dict[str, Any], reporter: Reporter, contexts: ContextStore | None = None
) -> Restored:
    """The last checkpoint of this run (else the newest intact older one), or spec.contextFrom's."""
    status = run.get("status") or {}
    checkpoint = status.get("checkpoint")
    source = f"WorkflowRun {run['metadata']['name']}"
    key = run_key(run)
    recovered_from = None
    if not checkpoint:
        context_from = run["spec"].get("contextFrom")
        if not context_from:
            return Restored(None, False)
        other = reporter.read(context_from["name"])
        checkpoint = source_checkpoint(other, context_from.get("seq"))
        source = f"spec.contextFrom WorkflowRun {context_from['name']}"
        data = load_checkpoint(reporter, checkpoint, source, contexts, run_key(other))
    else:
        try:
            data = load_checkpoint(reporter, checkpoint, source, contexts, key)
        except RunFailure as damaged:
            # Not this run's own doing (its writes are fenced): someone changed or deleted a chunk. An
            # older intact checkpoint loses the steps since, which run again; failing would lose them all.
            for older in older_checkpoints(status):
                try:
                    data = load_checkpoint(reporter, older, source, contexts, key)
                except RunFailure:
                    continue
                log.warning("%s; resuming from the older checkpoint %s", damaged, older["seq"])
                recovered_from = {"seq": older["seq"], "damagedSeq": checkpoint.get("seq"), "reason": str(damaged)}
                checkpoint = older
                break
            else:
                raise
    try:
        ctx = restore(workflow, data, f"{source}: the checkpoint")
    except IncompatibleCheckpoint as exc:
        raise RunFailure("CheckpointIncompatible", str(exc)) from exc
    return Restored(ctx, compat.is_running(data), checkpoint, recovered_from)


def load_checkpoint(
    reporter: Reporter,
    checkpoint: dict[str, Any],
    source: str,
    contexts: ContextStore | None = None,
    key: str = "",
) -> dict[str, Any]:
    """A checkpoint's Context, read from status, its chunks or `contexts` (run `key`'s), and checked
    against its sha256."""
    seq = checkpoint.get("seq")
    try:
        encoded = checkpoint.get("data", "")
        if checkpoint.get("storage") == offload.POSTGRES:
            encoded = _stored_context(contexts, key, int(seq or 0), source)
        elif checkpoint.get("chunks"):
            kind = checkpoint.get("storage", "ConfigMap")
            encoded = "".join(reporter.read_chunk(kind, name) for name in checkpoint["chunks"])
        return decode_checkpoint(encoded, encoding=checkpoint.get("encoding", ""), sha256=checkpoint.get("sha256"))
    except CheckpointError as exc:
        raise RunFailure("CheckpointCorrupt", f"{source}: checkpoint {seq}: {exc}") from exc
    except ApiError as exc:
        if exc.status != 404:
            raise
        raise RunFailure("CheckpointCorrupt", f"{source}: checkpoint {seq}: chunk missing: {exc.reason}") from exc


def _stored_context(contexts: ContextStore | None, key: str, seq: int, source: str) -> str:
    if contexts is None:
        raise RunFailure(
            "CheckpointStoreMissing",
            f"{source}: checkpoint {seq} is in PostgreSQL, but this pod has no {CHECKPOINT_DSN_ENV}: set "
            "spec.checkpoint.store.postgres (or the install's runner.checkpointStore) back",
        )
    found = contexts.read(key, seq)
    if found is None:
        raise RunFailure("CheckpointCorrupt", f"{source}: checkpoint {seq}: not in the checkpoint database")
    return found[0]


def older_checkpoints(status: dict[str, Any]) -> list[dict[str, Any]]:
    """Checkpoints older than status.checkpoint that status still points at, newest first."""
    latest = int((status.get("checkpoint") or {}).get("seq") or 0)
    kept = {
        int(c["seq"]): dict(c)
        for c in [status.get("previousCheckpoint"), *(status.get("history") or [])]
        if c and c.get("seq") and int(c["seq"]) < latest and c.get("storage") != offload.OMITTED
    }
    return [kept[seq] for seq in sorted(kept, reverse=True)]


def source_checkpoint(other: dict[str, Any], seq: int | None) -> dict[str, Any]:
    """The checkpoint of spec.contextFrom's run: its final one, or (fork) the one numbered `seq`."""
    name, status = other["metadata"]["name"], other.get("status") or {}
    checkpoint = status.get("checkpoint") or {}
    if seq is None:
        if status.get("phase") != Phase.SUCCEEDED or not checkpoint.get("final"):
            raise RunFailure(
                "ContextSourceNotSucceeded",
                f"spec.contextFrom WorkflowRun {name} is {status.get('phase') or 'not started'}; "
                "only a Succeeded run's Context can be continued (or fork one of its checkpoints with "
                "spec.contextFrom.seq)",
            )
        return _kept_context(name, dict(checkpoint))
    kept = {int(c["seq"]): c for c in [*(status.get("history") or []), checkpoint] if c.get("seq")}
    if seq not in kept:
        keep = (effective_spec(other).get("checkpoint") or {}).get("history") or 0
        raise RunFailure(
            "ContextSeqNotKept",
            f"spec.contextFrom.seq {seq}: WorkflowRun {name} keeps checkpoints {sorted(kept) or 'none'} "
            f"(its spec.checkpoint.history is {keep})",
        )
    return _kept_context(name, dict(kept[seq]))


def _kept_context(run_name: str, checkpoint: dict[str, Any]) -> dict[str, Any]:
    if checkpoint.get("storage") == offload.OMITTED:
        raise RunFailure(
            "ContextNotKept",
            f"spec.contextFrom: WorkflowRun {run_name} finished with a Context over its spec.checkpoint.maxBytes, "
            "so it was not kept",
        )
    return checkpoint
