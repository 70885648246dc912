"""What a run produced that its status does not hold: one object `<run>-outputs` the run owns (pure builders).

With `spec.checkpoint.sensitive: true` the runner writes the result, the error's message and traceback,
and the questions a waiting run asks (`waiting.requests`) into the Secret `<run>-outputs`, one key each,
as JSON text. Any other run keeps a result over spec.resultLimitBytes in the ConfigMap `<run>-outputs`.
Status keeps only a pointer to each (`status.resultRef`, `status.error.detailsRef`,
`status.waiting.requestsRef`) with its size and sha256, written after the object. `inline` puts the
values back for readers allowed to get that object (the `kwf` CLI).
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from kube_workflows.checkpoint import offload
from kube_workflows.models.names import bounded_name, run_labels

RESULT_KEY = "result"
ERROR_KEY = "error"
REQUESTS_KEY = "requests"
# The error fields a sensitive run keeps in status: they name what failed, not what it said.
PUBLIC_ERROR_FIELDS = ("reason", "type", "step")


def secret_name(run_name: str) -> str:
    return bounded_name(run_name, "-outputs", limit=253)


def to_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def reference(run_name: str, key: str, text: str, kind: str = "Secret") -> dict[str, Any]:
    """The status pointer to `text` stored under `key` of the run's outputs object of `kind`."""
    return {
        "secret" if kind == "Secret" else "configMap": secret_name(run_name),
        "key": key,
        "sizeBytes": len(text.encode()),
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
    }


def outputs_object(
    kind: str, namespace: str, run_name: str, owner: dict[str, Any], texts: dict[str, str], *, attempt: int
) -> dict[str, Any]:
    """The outputs ConfigMap or Secret holding `texts` (key → JSON text) under one key `data`, as chunks
    do, so the runner's fenced chunk writes apply to it unchanged."""
    metadata = {
        "name": secret_name(run_name),
        "namespace": namespace,
        "labels": run_labels(run_name),
        "annotations": {offload.ATTEMPT_ANNOTATION: str(attempt)},
        # No blockOwnerDeletion, as for chunks (see offload.chunk_object).
        "ownerReferences": [{**owner, "blockOwnerDeletion": False}],
    }
    return offload.data_object(kind, metadata, json.dumps(texts, ensure_ascii=False))


def withheld_error(error: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    """status.error of a sensitive run: reason, type and step, and where the message and traceback are."""
    public = {k: error.get(k) for k in PUBLIC_ERROR_FIELDS}
    message = f"details withheld (spec.checkpoint.sensitive): key {ref['key']} of Secret {ref.get('secret')}"
    return {**public, "message": message, "detailsRef": ref}


def inline(status: dict[str, Any], texts: dict[str, str]) -> dict[str, Any]:
    """A copy of `status` with the values its pointers name put back, from the outputs Secret's `texts`."""
    status = copy.deepcopy(status)
    if (status.get("resultRef") or {}).get("key") in texts:
        status["result"] = json.loads(texts[status["resultRef"]["key"]])
    error = status.get("error") or {}
    if (error.get("detailsRef") or {}).get("key") in texts:
        error.update(json.loads(texts[error["detailsRef"]["key"]]))
    waiting = status.get("waiting") or {}
    if (waiting.get("requestsRef") or {}).get("key") in texts:
        waiting["requests"] = json.loads(texts[waiting["requestsRef"]["key"]])
    return status


def refs(status: dict[str, Any]) -> list[dict[str, Any]]:
    """The outputs pointers in `status`."""
    found = [
        status.get("resultRef"),
        (status.get("error") or {}).get("detailsRef"),
        (status.get("waiting") or {}).get("requestsRef"),
    ]
    return [ref for ref in found if ref]
