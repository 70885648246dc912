"""kopf handlers for CronWorkflowRun: a timer reads the cron and its runs, schedule.decide says what to do."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from kube_workflows import kube
from kube_workflows.controller import schedule
from kube_workflows.controller.handlers import plain
from kube_workflows.models import GROUP, VERSION
from kube_workflows.models.cronworkflowrun import PLURAL

log = logging.getLogger(__name__)
# How often each cron is looked at: the finest a schedule acts (six-field schedules have seconds).
TICK_SECONDS = float(os.environ.get("KWF_CRON_TICK_SECONDS", "1"))


@kopf.index("kube-workflows.dev", "v1alpha1", "workflowruns", labels={schedule.CRON_LABEL: kopf.PRESENT})  # type: ignore[arg-type]
def runs_by_cron(namespace: str, body: kopf.Body, **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """The runs each cron owns, by (namespace, cron uid): what decide needs of each, no checkpoint data."""
    owner = next((r for r in body["metadata"].get("ownerReferences") or [] if r.get("controller")), None)
    if owner is None or owner.get("kind") != "CronWorkflowRun":
        return {}
    status = body.get("status") or {}
    return {
        (namespace, owner["uid"]): {
            "metadata": {
                "name": body["metadata"]["name"],
                "uid": body["metadata"]["uid"],
                "annotations": plain(body["metadata"].get("annotations") or {}),
                "creationTimestamp": body["metadata"].get("creationTimestamp"),
            },
            "spec": {"cancel": bool((body.get("spec") or {}).get("cancel"))},
            "status": {"phase": status.get("phase"), "completionTime": status.get("completionTime")},
        }
    }


@kopf.timer(GROUP, VERSION, PLURAL, interval=TICK_SECONDS)  # type: ignore[arg-type]
def tick(
    body: kopf.Body,
    namespace: str,
    name: str,
    patch: kopf.Patch,
    runs_by_cron: kopf.Index[tuple[str, str], dict[str, Any]],
    **_: Any,
) -> None:
    """Create, cancel and delete runs as the schedule says, then record it in status."""
    cron = plain(body)
    runs = [dict(r) for r in runs_by_cron.get((namespace, cron["metadata"]["uid"]), [])]
    verdict = schedule.decide(cron, runs, datetime.now(UTC))
    for active in verdict.cancel:
        _patch_run(namespace, active, {"spec": {"cancel": True}})
        kopf.event(body, type="Normal", reason="Replaced", message=f"cancelled {active} (concurrencyPolicy Replace)")
    if verdict.create_for is not None:
        run = schedule.build_run(cron, verdict.create_for)
        created, refusal = _create_run(run)
        if created:
            kopf.event(body, type="Normal", reason="Created", message=f"created WorkflowRun {run['metadata']['name']}")
        elif refusal:
            kopf.event(body, type="Warning", reason="CreateFailed", message=refusal)
    if verdict.skipped:
        kopf.event(
            body, type="Warning" if "missed" in verdict.skipped else "Normal", reason="Skipped", message=verdict.skipped
        )
    for finished in verdict.delete:
        _delete_run(namespace, finished)
    for key, value in verdict.status.items():
        if (cron.get("status") or {}).get(key) != value:
            patch.status[key] = value


def _create_run(run: dict[str, Any]) -> tuple[bool, str | None]:
    """Create the scheduled run: (created, why not). Not created and no reason: it exists already
    (created before an operator restart, or by another replica)."""
    namespace, name = run["metadata"]["namespace"], run["metadata"]["name"]
    try:
        kube.discard(
            kube.custom_objects().create_namespaced_custom_object(
                namespace=namespace, body=run, _preload_content=False, **kube.WORKFLOWRUN
            )
        )
        return True, None
    except ApiException as exc:
        if exc.status == 409:
            return False, None
        if exc.status in (400, 403, 422):  # admission or the schema: the next scheduled time tries again
            return False, f"WorkflowRun {name} was refused: {kube.api_message(exc)}"
        raise


def _patch_run(namespace: str, name: str, body: dict[str, Any]) -> None:
    try:
        kube.custom_objects().patch_namespaced_custom_object(
            namespace=namespace, name=name, body=body, **kube.WORKFLOWRUN
        )
    except ApiException as exc:
        if exc.status != 404:
            raise


def _delete_run(namespace: str, name: str) -> None:
    try:
        kube.custom_objects().delete_namespaced_custom_object(
            namespace=namespace, name=name, propagation_policy="Background", **kube.WORKFLOWRUN
        )
    except ApiException as exc:
        if exc.status != 404:
            raise
