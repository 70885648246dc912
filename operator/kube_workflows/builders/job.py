"""WorkflowRun → the batch/v1 Job whose pod runs `kwf runner`.

Kubernetes does the retrying: `backoffLimit` caps replacement pods, a pod failure policy fails the
Job at once on the runner's permanent exit codes (workflow raised, invalid run) and does not count
disruptions, `podReplacementPolicy: Failed` starts a new pod only after the old one has stopped
(so two runners never overlap), and `activeDeadlineSeconds` enforces `spec.timeoutSeconds`.

A run can have several Jobs ("segments"): one more after each answered wait for input, and one when
the operator replaces the run's first lost pod without the Job controller's backoff.
"""

from __future__ import annotations

from typing import Any

from kube_workflows.models import GROUP, KIND, VERSION, WorkflowRunSpec, exit_codes
from kube_workflows.models.names import (
    KUEUE_PRIORITY_LABEL,
    KUEUE_QUEUE_LABEL,
    RESTARTS_BEFORE_ANNOTATION,
    bounded_name,
    run_labels,
)
from kube_workflows.models.workflowrun import CHECKPOINT_DSN_ENV, CheckpointStoreSpec, effective_spec

RUNNER_CONTAINER = "runner"
RUNNER_UID = 65532  # "nonroot" in distroless and our Dockerfile


def job_name_for(run_name: str, run_uid: str, segment: int = 1) -> str:
    """The run's first Job is named like the run (run names are unique); each later one ("segment":
    after an answered wait, or for a lost pod) adds "-<uid[:8]>-s<n>". With the run's name alone, run
    `col`'s second Job and run `col-s2`'s first would share the name `col-s2`."""
    return bounded_name(run_name, f"-{run_uid[:8]}-s{segment}" if segment > 1 else "")


def service_account_for(run_name: str) -> str:
    return bounded_name(run_name, "-runner", limit=253)


def owner_reference(run: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "name": run["metadata"]["name"],
        "uid": run["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _field_env(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def checkpoint_store_env(store: CheckpointStoreSpec | None) -> list[dict[str, Any]]:
    """The runner's env for an external Context store: the DSN straight from its Secret (the kubelet reads
    it, so neither the operator nor the runner's Role needs a right on Secrets)."""
    if store is None or store.postgres is None:
        return []
    ref = store.postgres.dsn_secret_ref
    return [{"name": CHECKPOINT_DSN_ENV, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}]


def build_runner_job(
    run: dict[str, Any],
    default_image: str,
    *,
    segment: int = 1,
    restarts_before: int = 0,
    default_store: CheckpointStoreSpec | None = None,
) -> dict[str, Any]:
    """The Job for a WorkflowRun (a dict as the API returns it): its `segment`-th, counting resumes.
    `default_store` is the install's spec.checkpoint.store, for runs that set none."""
    name = run["metadata"]["name"]
    spec = WorkflowRunSpec.model_validate(effective_spec(run))
    template = spec.template
    labels = run_labels(name)
    container: dict[str, Any] = {
        "name": RUNNER_CONTAINER,
        "image": spec.image or default_image,
        "command": ["kwf", "runner"],
        "env": [
            {"name": "KWF_RUN_NAME", "value": name},
            _field_env("KWF_RUN_NAMESPACE", "metadata.namespace"),
            _field_env("KWF_POD_NAME", "metadata.name"),
            {"name": "PYTHONUNBUFFERED", "value": "1"},
            *checkpoint_store_env(spec.checkpoint.store or default_store),
            *template.env,
        ],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            "runAsUser": RUNNER_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if template.env_from:
        container["envFrom"] = template.env_from
    if template.resources:
        container["resources"] = template.resources
    if template.volume_mounts:
        container["volumeMounts"] = template.volume_mounts
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": template.service_account_name or service_account_for(name),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUNNER_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        # The runner stops after the checkpoint in flight on SIGTERM; this bounds a slow write.
        "terminationGracePeriodSeconds": 30,
    }
    for key, value in (
        ("hostNetwork", template.host_network),
        ("nodeSelector", template.node_selector),
        ("tolerations", template.tolerations),
        ("volumes", template.volumes),
    ):
        if value:
            pod_spec[key] = value
    job_spec: dict[str, Any] = {
        # Each Job of a run gets what is left of the run's pod replacements.
        "backoffLimit": max(0, spec.retry.max_restarts - restarts_before),
        "podReplacementPolicy": "Failed",
        "podFailurePolicy": {
            "rules": [
                {
                    "action": "FailJob",
                    "onExitCodes": {
                        "containerName": RUNNER_CONTAINER,
                        "operator": "In",
                        "values": list(exit_codes.PERMANENT),
                    },
                },
                {
                    "action": "Ignore",
                    "onExitCodes": {
                        "containerName": RUNNER_CONTAINER,
                        "operator": "In",
                        "values": list(exit_codes.IGNORED),
                    },
                },
                # Evictions and preemptions are not the run's fault: they don't use up retries.
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            ]
        },
        "template": {
            "metadata": {
                "labels": {**template.labels, **labels},
                **({"annotations": template.annotations} if template.annotations else {}),
            },
            "spec": pod_spec,
        },
    }
    if spec.timeout_seconds is not None:
        job_spec["activeDeadlineSeconds"] = spec.timeout_seconds
    job_labels = dict(labels)
    if spec.queue_name:
        # Kueue admits the Job by unsuspending it; created running, its pod could start before Kueue's
        # webhook has seen it.
        job_labels[KUEUE_QUEUE_LABEL] = spec.queue_name
        if spec.priority_class:
            job_labels[KUEUE_PRIORITY_LABEL] = spec.priority_class
    if spec.suspend or spec.queue_name:
        job_spec["suspend"] = True  # created suspended: no pod until spec.suspend is false (or Kueue admits it)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name_for(name, run["metadata"]["uid"], segment),
            "namespace": run["metadata"]["namespace"],
            "labels": job_labels,
            "annotations": {RESTARTS_BEFORE_ANNOTATION: str(restarts_before)},
            "ownerReferences": [owner_reference(run)],
        },
        "spec": job_spec,
    }
