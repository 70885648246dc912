"""WorkflowRun → the ServiceAccount, Role and RoleBinding its runner pod uses.

Least privilege: the runner may read its own WorkflowRun (and the run it continues), write its own
status, and get and update its own checkpoint chunks and outputs object by name, nothing else. It may
create nothing: the operator creates those objects for it (see builders/storage.py). Each object is
owned by the run and deleted with it.
"""

from __future__ import annotations

from typing import Any

from kube_workflows.builders.job import owner_reference, service_account_for
from kube_workflows.checkpoint import offload, outputs
from kube_workflows.models import GROUP, PLURAL, WorkflowRunSpec
from kube_workflows.models.names import run_labels
from kube_workflows.models.workflowrun import CheckpointPolicy, effective_spec


def build_runner_identity(run: dict[str, Any], source: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """[ServiceAccount, Role, RoleBinding] for the run's pod (empty when the user brings their own SA).

    `source` is spec.contextFrom's run, when known: its checkpoint policy says where its chunks can be.
    """
    if (effective_spec(run).get("template") or {}).get("serviceAccountName"):
        return []
    name = run["metadata"]["name"]
    namespace = run["metadata"]["namespace"]
    account = service_account_for(name)
    metadata = {
        "name": account,
        "namespace": namespace,
        "labels": run_labels(name),
        "ownerReferences": [owner_reference(run)],
    }
    source_name = (run["spec"].get("contextFrom") or {}).get("name")
    readable = [name] + ([source_name] if source_name else [])
    policy = WorkflowRunSpec.model_validate(effective_spec(run)).checkpoint
    chunk_kind = "secrets" if policy.sensitive else "configmaps"
    own_chunks = [*offload.all_chunk_names(name, policy.max_bytes, policy.history), outputs.secret_name(name)]
    source_chunks: list[str] = []
    source_kinds = ["configmaps", "secrets"]
    if source_name:
        # Without the source's spec, assume either kind and the largest cap.
        source_policy = (
            WorkflowRunSpec.model_validate(effective_spec(source)).checkpoint
            if source
            else CheckpointPolicy(max_bytes=64 << 20)
        )
        source_chunks = offload.all_chunk_names(source_name, source_policy.max_bytes, source_policy.history)
        if source:  # only its kind: no Secret rights needed to continue a run that is not sensitive
            source_kinds = ["secrets" if source_policy.sensitive else "configmaps"]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": metadata,
            "rules": [
                {"apiGroups": [GROUP], "resources": [PLURAL], "resourceNames": readable, "verbs": ["get"]},
                {
                    "apiGroups": [GROUP],
                    "resources": [f"{PLURAL}/status"],
                    "resourceNames": [name],
                    "verbs": ["get", "patch"],
                },
                # Large checkpoints and outputs: its own objects, by name, which the operator creates.
                {"apiGroups": [""], "resources": [chunk_kind], "resourceNames": own_chunks, "verbs": ["get", "update"]},
                *(
                    [
                        {
                            "apiGroups": [""],
                            "resources": source_kinds,
                            "resourceNames": source_chunks,
                            "verbs": ["get"],
                        }
                    ]
                    if source_chunks
                    else []
                ),
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": metadata,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        },
    ]
