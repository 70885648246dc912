"""Generate the CustomResourceDefinitions (WorkflowRun, CronWorkflowRun) from the pydantic models.

Pydantic's JSON Schema is turned into a Kubernetes structural schema: references inlined,
`Optional[X]` made `nullable`, free-form objects marked `x-kubernetes-preserve-unknown-fields`,
titles and defaults dropped (the runtime applies defaults, so GitOps tools see no server-side
defaulting drift).
"""

from __future__ import annotations

from typing import Any

import yaml

from kube_workflows.models import cronworkflowrun as cron
from kube_workflows.models import resource as r
from kube_workflows.models import workflowrun as m
from kube_workflows.models import workflowtemplate as tpl

_DROP = {"title", "default", "examples"}
_CRON_PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Schedule", "type": "string", "jsonPath": ".spec.schedule"},
    {"name": "TimeZone", "type": "string", "jsonPath": ".spec.timeZone"},
    {"name": "Suspend", "type": "boolean", "jsonPath": ".spec.suspend"},
    {"name": "Last Schedule", "type": "date", "jsonPath": ".status.lastScheduleTime"},
    {"name": "Next", "type": "date", "jsonPath": ".status.nextScheduleTime", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]
_TEMPLATE_PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Workflow", "type": "string", "jsonPath": ".spec.workflow"},
    {"name": "Image", "type": "string", "jsonPath": ".spec.image"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]
_PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Step", "type": "string", "jsonPath": ".status.currentStep"},
    {"name": "Checkpoint", "type": "integer", "jsonPath": ".status.checkpoint.seq"},
    {"name": "Restarts", "type": "integer", "jsonPath": ".status.restarts"},
    {"name": "Workflow", "type": "string", "jsonPath": ".spec.workflow", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]
# Spec fields that define what the run *is*; changing them under a running workflow would mix two runs.
# Also what its pods are pinned to: a resumed Job from an edited image or template would run other code,
# and the runner's Role names its checkpoint chunks (kind, count, slots) from spec.checkpoint at creation.
_IMMUTABLE = (
    "workflow",
    "templateRef",
    "input",
    "contextFrom",
    "image",
    "template",
    "checkpoint",
    "queueName",
    "priorityClass",
)


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_structural(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        return _structural({**target, **{k: v for k, v in node.items() if k != "$ref"}}, defs)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        nullable = len(options) < len(node["anyOf"])
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        if len(options) == 1:
            merged: dict[str, Any] = _structural({**options[0], **rest}, defs)
        else:
            merged = {**_structural(rest, defs), "x-kubernetes-preserve-unknown-fields": True}
        if nullable:
            merged["nullable"] = True
        return merged
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP or key == "$defs":
            continue
        if key == "properties":
            out[key] = {name: _structural(v, defs) for name, v in value.items()}
        elif key == "additionalProperties" and value is True:
            out["x-kubernetes-preserve-unknown-fields"] = True
        elif key == "additionalProperties" and value is False:
            continue  # structural schemas reject unknown fields by pruning / strict field validation
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            # JSON Schema 2020 puts the bound here; OpenAPI v3.0 wants minimum + a boolean flag.
            out[key.replace("exclusiveM", "m")] = value
            out[key] = True
        elif key == "description":
            out[key] = " ".join(value.split())
        else:
            out[key] = _structural(value, defs)
    if node.get("format") == "date-time":
        out["format"] = "date-time"
    if "type" not in out and "properties" not in out and "x-kubernetes-preserve-unknown-fields" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True  # `Any`
    if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def _object_schema(model: type[Any], spec_name: str, status_name: str) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True)
    defs = raw.get("$defs", {})
    spec = _structural(defs[spec_name], defs)
    status = _structural(defs[status_name], defs)
    status.pop("required", None)
    return {
        "type": "object",
        "description": raw.get("description", ""),
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }


def openapi_schema() -> dict[str, Any]:
    """The structural OpenAPI v3 schema of a WorkflowRun."""
    schema = _object_schema(m.WorkflowRun, "WorkflowRunSpec", "WorkflowRunStatus")
    schema["properties"]["spec"]["x-kubernetes-validations"] = (
        [
            {
                "rule": "has(self.workflow) || has(self.templateRef)",
                "message": "spec.workflow is required (or spec.templateRef, naming a WorkflowTemplate that sets it)",
                "fieldPath": ".workflow",
                "reason": "FieldValueRequired",
            },
            {
                "rule": "!has(self.priorityClass) || has(self.queueName)",
                "message": "spec.priorityClass needs spec.queueName: only Kueue reads it",
                "fieldPath": ".priorityClass",
                "reason": "FieldValueRequired",
            },
        ]
        + [
            {
                "rule": f"has(self.{f}) == has(oldSelf.{f}) && (!has(self.{f}) || self.{f} == oldSelf.{f})",
                "message": f"spec.{f} is immutable: create a new WorkflowRun instead",
                "fieldPath": f".{f}",
            }
            for f in _IMMUTABLE
        ]
        + [
            {
                "rule": "!has(oldSelf.cancel) || !oldSelf.cancel || (has(self.cancel) && self.cancel)",
                "message": "spec.cancel cannot be undone: a cancelled run stays Cancelled; create a new WorkflowRun",
                "fieldPath": ".cancel",
            }
        ]
    )
    return schema


def _crd(
    kind: str,
    plural: str,
    singular: str,
    short_names: list[str],
    columns: list[dict[str, Any]],
    schema: dict[str, Any],
) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{r.GROUP}",
            "labels": {
                "app.kubernetes.io/name": "kube-workflows",
                "app.kubernetes.io/part-of": "kube-workflows",
            },
        },
        "spec": {
            "group": r.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": singular,
                "shortNames": short_names,
                "categories": r.CATEGORIES,
            },
            "versions": [
                {
                    "name": r.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def workflowrun_crd() -> dict[str, Any]:
    """The CustomResourceDefinition manifest for WorkflowRun."""
    return _crd(r.KIND, r.PLURAL, r.SINGULAR, r.SHORT_NAMES, _PRINTER_COLUMNS, openapi_schema())


def cronworkflowrun_crd() -> dict[str, Any]:
    """The CustomResourceDefinition manifest for CronWorkflowRun."""
    schema = _object_schema(cron.CronWorkflowRun, "CronWorkflowRunSpec", "CronWorkflowRunStatus")
    return _crd(cron.KIND, cron.PLURAL, cron.SINGULAR, cron.SHORT_NAMES, _CRON_PRINTER_COLUMNS, schema)


def workflowtemplate_crd() -> dict[str, Any]:
    """The CustomResourceDefinition manifest for WorkflowTemplate."""
    schema = _object_schema(tpl.WorkflowTemplate, "WorkflowTemplateSpec", "WorkflowTemplateStatus")
    return _crd(tpl.KIND, tpl.PLURAL, tpl.SINGULAR, tpl.SHORT_NAMES, _TEMPLATE_PRINTER_COLUMNS, schema)


CRDS = {r.PLURAL: workflowrun_crd, cron.PLURAL: cronworkflowrun_crd, tpl.PLURAL: workflowtemplate_crd}


def render_crd_yaml(plural: str | None = None) -> str:
    """One CRD (by plural), or all of them as a multi-document stream."""
    header = "# Generated from kube_workflows.models by `kwf crd`; do not edit. `make crds` regenerates it.\n"
    chosen = [CRDS[plural]] if plural else list(CRDS.values())
    return header + "---\n".join(yaml.safe_dump(build(), sort_keys=False, width=120) for build in chosen)
