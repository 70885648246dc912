"""Create the chunk and outputs objects a runner asks for in status.runner.storageWanted.

The runner may not create objects (builders/storage.py says why), so the operator does, once per ask:
`status.storage` records the last ask it served. A name taken by an object the run does not own fails
the run (ChildNameConflict) rather than let the runner write into someone else's ConfigMap or Secret;
one left by a deleted run of the same name is waited for (the runner asks again until it is gone).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import kopf

from kube_workflows.builders.storage import build_run_storage, wanted
from kube_workflows.controller import actions, children
from kube_workflows.models import TERMINAL_PHASES
from kube_workflows.models.workflowrun import effective_spec

log = logging.getLogger(__name__)
STORAGE_REFUSED = "StorageRefused"
SECRETS_HINT = (
    "spec.checkpoint.sensitive keeps the run's checkpoints and outputs in Secrets, and the operator may not "
    "manage Secrets in this namespace (the chart's rbac.secretNamespaces lists where it may)"
)


def unserved(status: Mapping[str, Any], **_: Any) -> bool:
    """Whether the run's runner asked for storage the operator has not served yet (kopf `when` filter)."""
    asked = ((status.get("runner") or {}).get("storageWanted") or {}).get("askedAt")
    return (
        bool(asked)
        and asked != (status.get("storage") or {}).get("askedAt")
        and status.get("phase") not in TERMINAL_PHASES
    )


def serve(run: dict[str, Any]) -> None:
    """Create what the ask names that is missing, then record the ask as served."""
    namespace, name = run["metadata"]["namespace"], run["metadata"]["name"]
    chunks, with_outputs = wanted(run)
    try:
        for obj in build_run_storage(run, chunks, with_outputs):
            children.create_child(obj)
    except children.ChildNameConflict as exc:
        actions.fail_running(run, children.CHILD_NAME_CONFLICT, str(exc))
        return
    except kopf.PermanentError as exc:  # e.g. 403: the operator may not manage Secrets in this namespace
        sensitive = (effective_spec(run).get("checkpoint") or {}).get("sensitive") is True
        why = SECRETS_HINT if sensitive else "cannot create the runner's checkpoint objects"
        actions.fail_running(run, STORAGE_REFUSED, f"{why}: {exc}")
        return
    except kopf.TemporaryError as exc:
        log.info("%s/%s: storage not created yet (%s); the runner asks again", namespace, name, exc)
        return
    asked = run["status"]["runner"]["storageWanted"]
    served = {"chunks": chunks, "outputs": with_outputs, "askedAt": asked.get("askedAt")}
    actions.patch_run_status(namespace, name, {"storage": served})
