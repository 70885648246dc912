"""A stable key per step execution, for effectively-once side effects (payments, e-mails, API calls).

A step in flight when its pod dies runs again on the next pod. Passing `idempotency_key()` to an API
that deduplicates by key (Stripe's `Idempotency-Key`, an `INSERT ... ON CONFLICT DO NOTHING`, an S3
object name) turns that second run into a no-op: the key is the same when the step re-runs after a
crash and different for every other execution.

It is the run's uid, the step's name and the workflow library's id for this execution ("work item"),
which is part of the checkpointed Context: a restored step keeps it, a new step gets the next one.
A fork (`spec.contextFrom`) is a new run, so its steps get new keys.
"""

from __future__ import annotations

import os

# The runner exports the WorkflowRun's uid; outside a WorkflowRun (a plain in-process run) there is
# no durable identity to build on.
RUN_UID_ENV = "KWF_RUN_UID"


def step_idempotency_key() -> str:
    # The library keeps the running step's state in a context variable (not public API).
    from kube_workflows.runtime import compat

    try:
        step, work_item = compat.current_step()
    except LookupError:
        raise RuntimeError("idempotency_key() works only inside a workflow step") from None
    if not work_item:
        raise RuntimeError("idempotency_key(): this llama-index-workflows version gives steps no work item id")
    return f"{os.environ.get(RUN_UID_ENV, 'local')}/{step}/{work_item}"
