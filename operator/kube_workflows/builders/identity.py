"""WorkflowRun → the ServiceAccount, Role and RoleBinding its runner pod uses.

Least privilege: the runner may read its own WorkflowRun (and the run it continues) and write its
own status, nothing else. Each object is owned by the run and deleted with it.
"""

from __future__ import annotations

from typing import Any

from kube_workflows.builders.job import owner_reference, service_account_for
from kube_workflows.checkpoint import offload, outputs
from kube_workflows.models import GROUP, PLURAL, WorkflowRunSpec
from kube_workflows.models.names import run_labels
from kube_workflows.models.workflowrun import CheckpointPolicy


def build_runner_identity(run: dict[str, Any], source: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """[ServiceAccount, Role, RoleBinding] for the run's pod (empty when the user brings their own SA).

    `source` is spec.contextFrom's run, when known: its checkpoint policy says where its chunks can be.
    """
    if (run["spec"].get("template") or {}).get("serviceAccountName"):
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
    policy = WorkflowRunSpec.model_validate(run["spec"]).checkpoint
    chunk_kind = "secrets" if policy.sensitive else "configmaps"
    own_chunks = offload.all_chunk_names(name, policy.max_bytes, policy.history)
    if policy.sensitive:
        own_chunks.append(outputs.secret_name(name))
    source_chunks: list[str] = []
    if source_name:
        # The source may have offloaded to either kind; without its spec, assume the largest cap.
        source_policy = (
            WorkflowRunSpec.model_validate(source["spec"]).checkpoint
            if source
            else CheckpointPolicy(max_bytes=64 << 20)
        )
        source_chunks = offload.all_chunk_names(source_name, source_policy.max_bytes, source_policy.history)
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
                # Large checkpoints: its own chunk objects, by name. RBAC cannot limit `create` to names,
                # so creating ConfigMaps (or Secrets) is allowed in the namespace; reading others' is not.
                {"apiGroups": [""], "resources": [chunk_kind], "resourceNames": own_chunks, "verbs": ["get", "update"]},
                {"apiGroups": [""], "resources": [chunk_kind], "verbs": ["create"]},
                *(
                    [
                        {
                            "apiGroups": [""],
                            "resources": ["configmaps", "secrets"],
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
