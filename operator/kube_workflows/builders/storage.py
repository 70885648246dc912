"""WorkflowRun → the ConfigMaps or Secrets its runner writes into, created empty by the operator (pure).

The runner may not create objects: RBAC cannot limit `create` to names, and a runner that may create
Secrets can create a `kubernetes.io/service-account-token` Secret for any ServiceAccount of the
namespace and read that account's token back. So the runner only gets and updates objects the
operator made, by name. When it needs more (a checkpoint grew past the chunks that exist, or a result
is to go to `<run>-outputs`) it asks in `status.runner.storageWanted`, and the operator creates them:
for a chunk count, that many chunks in every slot, so the slots that rotate in later need no request.
"""

from __future__ import annotations

from typing import Any

from kube_workflows.builders.job import owner_reference
from kube_workflows.checkpoint import offload, outputs
from kube_workflows.models import WorkflowRunSpec
from kube_workflows.models.workflowrun import effective_spec


def wanted(run: dict[str, Any]) -> tuple[int, bool]:
    """(chunks per slot, outputs object) that `status.runner.storageWanted` asks for."""
    asked = ((run.get("status") or {}).get("runner") or {}).get("storageWanted") or {}
    return int(asked.get("chunks") or 0), bool(asked.get("outputs"))


def build_run_storage(run: dict[str, Any], chunks: int, with_outputs: bool) -> list[dict[str, Any]]:
    """The empty objects that give the run `chunks` chunks per slot (never more than its
    spec.checkpoint.maxBytes can use) and, when asked, its outputs object. Each records attempt 0,
    so any runner attempt may overwrite it, and is owned by the run."""
    policy = WorkflowRunSpec.model_validate(effective_spec(run)).checkpoint
    kind = offload.storage_kind(policy.sensitive)
    name, namespace = run["metadata"]["name"], run["metadata"]["namespace"]
    owner = owner_reference(run)
    per_slot = min(chunks, offload.max_chunks(policy.max_bytes))
    objects = [
        offload.chunk_object(kind, chunk, namespace, name, owner, "", attempt=0, seq=0)
        for chunk in offload.chunk_names(name, per_slot, policy.history)
    ]
    if with_outputs:
        objects.append(outputs.outputs_object(kind, namespace, name, owner, {}, attempt=0))
    return objects
