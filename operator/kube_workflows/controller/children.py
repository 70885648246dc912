"""Create a run's child objects (ServiceAccount, Role, RoleBinding, Job, checkpoint chunks and outputs),
and never adopt one that is not the run's own.

Creating is idempotent because a restarted operator creates again what it created before: a 409
for an object the run controls is fine. A 409 for anything else means the name belongs to someone
else (another run's Job, a user's ServiceAccount); using it would run the run as, or wait forever
for, an object that is not its own, so the run fails instead (reason ChildNameConflict).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from kube_workflows import kube

CHILD_NAME_CONFLICT = "ChildNameConflict"


class ChildNameConflict(Exception):
    """A child's name is taken by an object the run does not control; the message says by whom."""


def conflict(obj: dict[str, Any], existing: dict[str, Any]) -> str | None:
    """Why `existing` (what a create of `obj` found under its name) is not the run's own child, or
    None when it is: its controller ownerReference has the uid `obj`'s has (pure)."""
    ours = _controller(obj)
    theirs = _controller(existing)
    if ours is not None and theirs is not None and theirs.get("uid") == ours.get("uid"):
        return None
    kind, name = obj["kind"], obj["metadata"]["name"]
    by = (
        f"is controlled by {theirs.get('kind')} {theirs.get('name')} (uid {theirs.get('uid')}), not by this run"
        if theirs
        else "is not controlled by any object"
    )
    return (
        f"{kind} {name} already exists and {by}; the run does not adopt it. "
        f"Delete or rename that {kind}, or create the run under another name"
    )


def left_by_earlier_run(obj: dict[str, Any], existing: dict[str, Any]) -> bool:
    """`existing` belongs to a deleted run of the same name (run names are unique, so one with another
    uid is gone): garbage collection removes it soon, and the new run waits rather than fail (pure)."""
    ours, theirs = _controller(obj), _controller(existing)
    return (
        ours is not None
        and theirs is not None
        and theirs.get("kind") == ours.get("kind")
        and theirs.get("name") == ours.get("name")
        and theirs.get("uid") != ours.get("uid")
    )


def _controller(obj: dict[str, Any]) -> dict[str, Any] | None:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return next((dict(r) for r in refs if r.get("controller")), None)


def _api(kind: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """(create, read) for a child kind."""
    if kind == "ServiceAccount":
        return kube.core().create_namespaced_service_account, kube.core().read_namespaced_service_account
    if kind == "Role":
        return kube.rbac().create_namespaced_role, kube.rbac().read_namespaced_role
    if kind == "RoleBinding":
        return kube.rbac().create_namespaced_role_binding, kube.rbac().read_namespaced_role_binding
    if kind == "Job":
        return kube.batch().create_namespaced_job, kube.batch().read_namespaced_job
    if kind == "ConfigMap":
        return kube.core().create_namespaced_config_map, kube.core().read_namespaced_config_map
    if kind == "Secret":
        return kube.core().create_namespaced_secret, kube.core().read_namespaced_secret
    raise ValueError(f"not a child kind: {kind}")


def create_child(obj: dict[str, Any]) -> bool:
    """Create `obj` (owned by its run); False when the run's own already exists. Raises
    ChildNameConflict when the name is someone else's, kopf.PermanentError when the API refuses
    the object itself (422, 403)."""
    kind, namespace, name = obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"]
    create, read = _api(kind)
    for _ in range(3):  # a taken name can be freed between the create and the read
        try:
            # Unparsed: turning each response into client model objects only costs memory and CPU.
            kube.discard(create(namespace=namespace, body=obj, _preload_content=False))
            return True
        except ApiException as exc:
            if exc.status in (422, 403):
                raise kopf.PermanentError(f"cannot create {kind} {name}: {exc.reason}: {exc.body}") from exc
            if exc.status != 409:
                raise
        try:
            existing = json.loads(read(name, namespace, _preload_content=False).data)
        except ApiException as exc:
            if exc.status == 404:
                continue
            raise
        if left_by_earlier_run(obj, existing):
            raise kopf.TemporaryError(
                f"{kind} {name} of an earlier WorkflowRun of this name is still there; "
                "waiting for garbage collection to remove it",
                delay=2,
            )
        why = conflict(obj, existing)
        if why is not None:
            raise ChildNameConflict(why)
        return False
    raise kopf.TemporaryError(f"{kind} {name} keeps appearing and disappearing", delay=2)
