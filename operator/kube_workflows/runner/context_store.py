"""Where a pod keeps its Contexts when spec.checkpoint.store (or the install's default) names a database.

The operator gives the runner the DSN as KWF_CHECKPOINT_DSN, from the Secret. Status then keeps each
checkpoint's seq, sha256 and sizes (storage "PostgreSQL"); the Context goes into `PostgresStore`'s
`kwf_contexts` under the run's key, in a transaction that checks the pod's attempt (the one its status
claim got), so a stale pod's Context write is refused there as its status write is by the API server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from kube_workflows.checkpoint import EncodedCheckpoint
from kube_workflows.models.workflowrun import CHECKPOINT_DSN_ENV
from kube_workflows.runner.reporter import ApiUnavailable, Superseded


class ContextStore(Protocol):
    """A pod's Contexts by seq (`PostgresContexts`, or a dict in unit tests)."""

    def write(self, seq: int, encoded: EncodedCheckpoint, *, keep: int) -> None:
        """Store checkpoint `seq`'s Context, keeping the `keep` before it; Superseded under a later attempt."""
        ...

    def read(self, key: str, seq: int) -> tuple[str, str] | None:
        """The encoded Context and sha256 of run `key`'s checkpoint `seq`; None when not kept."""
        ...


def run_key(run: dict[str, Any]) -> str:
    """The run's row: by uid too, so a new run of the same name never sees an old one's Contexts."""
    meta = run["metadata"]
    return f"{meta['namespace']}/{meta['name']}/{meta.get('uid') or ''}"


class PostgresContexts:
    """A ContextStore over `PostgresStore`, for one run at one attempt."""

    def __init__(self, dsn: str, key: str, attempt: int) -> None:
        from kube_workflows.runtime.postgres import PostgresStore  # only pods whose run uses it need psycopg

        self.key = key
        with _mapped():
            self.store = PostgresStore(dsn)
            self.store.claim(key, attempt=attempt)

    def write(self, seq: int, encoded: EncodedCheckpoint, *, keep: int) -> None:
        with _mapped():
            self.store.put_context(self.key, seq, encoded, keep=keep)

    def read(self, key: str, seq: int) -> tuple[str, str] | None:
        with _mapped():
            return self.store.get_context(key, seq)


@contextmanager
def _mapped() -> Iterator[None]:
    """Database errors as the runner's own: ApiUnavailable (a new pod retries), Superseded (a later attempt
    holds the run)."""
    import psycopg

    from kube_workflows.runtime.store import Superseded as Refused

    try:
        yield
    except Refused as exc:
        raise Superseded(str(exc)) from exc
    except psycopg.Error as exc:
        raise ApiUnavailable(f"the checkpoint database ({CHECKPOINT_DSN_ENV}): {exc}") from exc


def from_env(run: dict[str, Any], attempt: int) -> PostgresContexts | None:
    """The pod's ContextStore when the Job gave it a DSN, claimed at `attempt`."""
    dsn = os.environ.get(CHECKPOINT_DSN_ENV)
    return PostgresContexts(dsn, run_key(run), attempt) if dsn else None
