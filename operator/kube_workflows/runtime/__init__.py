"""Durable llama-index-workflows runs: a checkpoint after every completed step, resumed after a crash.

    from kube_workflows.runtime import DurableRuntime, SqliteStore

    runtime = DurableRuntime(SqliteStore("runs.db"))
    result = await runtime.run(MyWorkflow(runtime=runtime), "order-42", **start)

`DurableRuntime` is a llama-index-workflows runtime plugin (`Workflow(runtime=...)`) that writes
through a `CheckpointStore`: `SqliteStore` in-process, `PostgresStore` (the `postgres` extra) for many
runs or many machines, the WorkflowRun's status in a kube-workflows
pod (the runner uses this same runtime). Write your own store by implementing the four methods of
`CheckpointStore`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kube_workflows.runtime.durable import DurableRuntime, IncompatibleCheckpoint, restore
    from kube_workflows.runtime.library_version import UnsupportedLibrary
    from kube_workflows.runtime.postgres import PostgresStore
    from kube_workflows.runtime.sqlite import SqliteStore
    from kube_workflows.runtime.store import Checkpoint, CheckpointStore, SavedCheckpoint, Superseded

# Lazy, so `kube_workflows.runtime.library_version` can check the installed library before anything
# imports the library internals `compat` relies on.
_HOMES = {
    "Checkpoint": "store",
    "CheckpointStore": "store",
    "DurableRuntime": "durable",
    "IncompatibleCheckpoint": "durable",
    "PostgresStore": "postgres",  # needs the `postgres` extra (psycopg); importing this package does not
    "SavedCheckpoint": "store",
    "SqliteStore": "sqlite",
    "Superseded": "store",
    "UnsupportedLibrary": "library_version",
    "restore": "durable",
}
__all__ = [
    "Checkpoint",
    "CheckpointStore",
    "DurableRuntime",
    "IncompatibleCheckpoint",
    "PostgresStore",
    "SavedCheckpoint",
    "SqliteStore",
    "Superseded",
    "UnsupportedLibrary",
    "restore",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
