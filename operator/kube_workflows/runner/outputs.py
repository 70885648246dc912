"""Write what status does not hold into the run's outputs object (see `checkpoint.outputs`)."""

from __future__ import annotations

from typing import Any

from kube_workflows.checkpoint import offload, outputs
from kube_workflows.runner.reporter import Reporter


def withhold(
    reporter: Reporter, owner: dict[str, Any], key: str, value: Any, *, sensitive: bool = True
) -> dict[str, Any]:
    """Store `value` (JSON-able) under `key` of the run's outputs object (a Secret when `sensitive`, else a
    ConfigMap), fenced by attempt like a chunk; return the pointer status carries instead. Blocking: call
    it from a worker thread."""
    text = outputs.to_text(value)
    run_name, kind = owner["name"], offload.storage_kind(sensitive)
    body = outputs.outputs_object(kind, reporter.namespace, run_name, owner, {key: text}, attempt=reporter.attempt)
    reporter.put_chunk(body, outputs=True)
    return outputs.reference(run_name, key, text, kind)
