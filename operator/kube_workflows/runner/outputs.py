"""Write what a sensitive run produced into its outputs Secret (see `checkpoint.outputs`)."""

from __future__ import annotations

from typing import Any

from kube_workflows.checkpoint import outputs
from kube_workflows.runner.reporter import Reporter


def withhold(reporter: Reporter, owner: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """Store `value` (JSON-able) under `key` of the run's outputs Secret, fenced by attempt like a chunk;
    return the pointer status carries instead. Blocking: call it from a worker thread."""
    text = outputs.to_text(value)
    run_name = owner["name"]
    body = outputs.secret_object(reporter.namespace, run_name, owner, {key: text}, attempt=reporter.attempt)
    reporter.put_chunk(body)
    return outputs.reference(run_name, key, text)
