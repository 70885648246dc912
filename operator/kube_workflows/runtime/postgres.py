"""`PostgresStore`: durable runs in PostgreSQL, for many runs or for a cluster whose etcd should not carry them.

One row per run (`kwf_runs`) holds its attempt and its latest checkpoint's seq, sha256 and counters; the
encoded Context sits in `kwf_contexts`, keyed by run and seq. Each write is one transaction whose first
statement is `UPDATE kwf_runs ... WHERE run_id = %s AND attempt = %s`: no row updated means a later claim
owns the run, and the transaction is rolled back (`Superseded`). A `kwf_steps` table keeps a line per
completed step.

A runner pod uses the same tables through `claim(run_id, attempt=...)` and `put_context`/`get_context`:
its attempt comes from the WorkflowRun's status, its seq is status's, and status keeps only the seq, sha256
and size that point here.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

try:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict
    from psycopg.types.json import Jsonb
except ImportError as exc:  # the optional extra
    raise ImportError(
        "kube_workflows.runtime.PostgresStore needs psycopg 3: pip install 'kube-workflows[postgres]'"
    ) from exc

from kube_workflows.checkpoint import EncodedCheckpoint, decode_checkpoint, encode_checkpoint
from kube_workflows.runtime.store import Checkpoint, SavedCheckpoint, Superseded

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kwf_runs (
    run_id TEXT PRIMARY KEY,
    attempt INTEGER NOT NULL,
    seq INTEGER NOT NULL DEFAULT 0,
    sha256 TEXT,
    steps_completed INTEGER NOT NULL DEFAULT 0,
    events_delivered INTEGER NOT NULL DEFAULT 0,
    final BOOLEAN NOT NULL DEFAULT false,
    result JSONB,
    waiting JSONB,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS kwf_contexts (
    run_id TEXT NOT NULL REFERENCES kwf_runs (run_id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS kwf_steps (
    id BIGSERIAL PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES kwf_runs (run_id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    name TEXT NOT NULL,
    record JSONB NOT NULL
);
"""
# Concurrent `CREATE TABLE IF NOT EXISTS` can still collide in the catalog; one lock key serializes them.
_SCHEMA_LOCK = 0x6B7766


class PostgresStore:
    """A CheckpointStore in the PostgreSQL database at `dsn` (a libpq connection string or URI); its
    tables are created when missing."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._attempts: dict[str, int] = {}
        # One connection, one call at a time: the runtime calls from worker threads.
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        with self._transaction() as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            db.execute(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        with self._lock:
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=10)
            with self._conn.transaction():
                yield self._conn

    def __repr__(self) -> str:
        # The DSN may hold a password: name the database by host and name only.
        info = conninfo_to_dict(self.dsn)
        return f"PostgresStore(host={info.get('host', '')!r}, dbname={info.get('dbname', '')!r})"

    # --- CheckpointStore ---------------------------------------------------------------------------

    def claim(self, run_id: str, *, attempt: int | None = None) -> int:
        """Without `attempt`: the next attempt. With it (a runner pod, whose attempt its WorkflowRun's status
        assigned): take the run at that attempt, refused (Superseded) when a later one already holds it."""
        with self._transaction() as db:
            if attempt is None:
                row = db.execute(
                    "INSERT INTO kwf_runs (run_id, attempt) VALUES (%s, 1) ON CONFLICT (run_id) "
                    "DO UPDATE SET attempt = kwf_runs.attempt + 1 RETURNING attempt",
                    (run_id,),
                ).fetchone()
            else:
                row = db.execute(
                    "INSERT INTO kwf_runs (run_id, attempt) VALUES (%s, %s) ON CONFLICT (run_id) "
                    "DO UPDATE SET attempt = EXCLUDED.attempt WHERE kwf_runs.attempt <= EXCLUDED.attempt "
                    "RETURNING attempt",
                    (run_id, attempt),
                ).fetchone()
        if row is None:
            raise Superseded(f"run {run_id!r} is held by a later attempt than {attempt}")
        self._attempts[run_id] = int(row[0])
        return int(row[0])

    def read_checkpoint(self, run_id: str) -> SavedCheckpoint | None:
        with self._transaction() as db:
            row = db.execute(
                "SELECT c.data, r.sha256, r.steps_completed, r.events_delivered, r.final, r.result, r.waiting, r.seq "
                "FROM kwf_runs r JOIN kwf_contexts c ON c.run_id = r.run_id AND c.seq = r.seq WHERE r.run_id = %s",
                (run_id,),
            ).fetchone()
        if row is None:
            return None
        data, sha256, steps_completed, events_delivered, final, result, waiting, seq = row
        return SavedCheckpoint(
            context=decode_checkpoint(data, sha256=sha256),
            steps_completed=steps_completed,
            events_delivered=events_delivered,
            final=final,
            result=result,
            waiting=waiting,
            source=f"checkpoint {seq} of run {run_id!r} in {self!r}",
        )

    def write_checkpoint(self, run_id: str, checkpoint: Checkpoint) -> None:
        self._write(run_id, checkpoint, None)

    def park(self, run_id: str, checkpoint: Checkpoint, waiting: dict[str, Any]) -> None:
        self._write(run_id, checkpoint, waiting)

    def _write(self, run_id: str, checkpoint: Checkpoint, waiting: dict[str, Any] | None) -> None:
        attempt = self._claimed(run_id)
        encoded = encode_checkpoint(checkpoint.context)
        with self._transaction() as db:
            row = db.execute(
                "UPDATE kwf_runs SET seq = seq + 1, sha256 = %s, steps_completed = %s, events_delivered = %s, "
                "final = %s, result = %s, waiting = %s, updated_at = now() "
                "WHERE run_id = %s AND attempt = %s RETURNING seq",
                (
                    encoded.sha256,
                    checkpoint.steps_completed,
                    checkpoint.events_delivered,
                    checkpoint.final,
                    _json(checkpoint.result) if checkpoint.final else None,
                    _json(waiting) if waiting is not None else None,
                    run_id,
                    attempt,
                ),
            ).fetchone()
            if row is None:
                raise Superseded(f"run {run_id!r} was claimed again after attempt {attempt}; this write was refused")
            seq = int(row[0])
            _store_context(db, run_id, attempt, seq, encoded, keep=1)
            with db.cursor() as cur:
                cur.executemany(
                    "INSERT INTO kwf_steps (run_id, seq, attempt, name, record) VALUES (%s, %s, %s, %s, %s)",
                    [(run_id, seq, attempt, step["name"], _json(step)) for step in checkpoint.steps],
                )

    def completed_steps(self, run_id: str) -> list[str]:
        """The names of the run's completed steps, in order (what a resumed run did not run again)."""
        with self._transaction() as db:
            rows = db.execute("SELECT name FROM kwf_steps WHERE run_id = %s ORDER BY id", (run_id,)).fetchall()
        return [name for (name,) in rows]

    # --- a runner pod's Context store (status keeps the rest) ---------------------------------------

    def put_context(self, run_id: str, seq: int, encoded: EncodedCheckpoint, *, keep: int = 2) -> None:
        """Store the Context of checkpoint `seq` under this store's claim, in one transaction that checks the
        attempt; keep the `keep` checkpoints before it (status may point at them until it points at this one)."""
        attempt = self._claimed(run_id)
        with self._transaction() as db:
            row = db.execute(
                "UPDATE kwf_runs SET seq = %s, sha256 = %s, updated_at = now() "
                "WHERE run_id = %s AND attempt = %s RETURNING seq",
                (seq, encoded.sha256, run_id, attempt),
            ).fetchone()
            if row is None:
                raise Superseded(f"run {run_id!r} was claimed again after attempt {attempt}; this write was refused")
            _store_context(db, run_id, attempt, seq, encoded, keep=keep)

    def get_context(self, run_id: str, seq: int) -> tuple[str, str] | None:
        """The encoded Context of checkpoint `seq` and its sha256, None when not kept."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT data, sha256 FROM kwf_contexts WHERE run_id = %s AND seq = %s", (run_id, seq)
            ).fetchone()
        return (row[0], row[1]) if row else None

    def _claimed(self, run_id: str) -> int:
        attempt = self._attempts.get(run_id)
        if attempt is None:
            raise Superseded(f"run {run_id!r} was not claimed by this store")
        return attempt


def _store_context(
    db: psycopg.Connection[Any], run_id: str, attempt: int, seq: int, encoded: EncodedCheckpoint, *, keep: int
) -> None:
    # A seq can be written twice: a pod that died between this write and its status write left one that
    # status never pointed at, and the next pod writes that seq again.
    db.execute(
        "INSERT INTO kwf_contexts (run_id, seq, attempt, sha256, size_bytes, data) VALUES (%s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (run_id, seq) DO UPDATE SET attempt = EXCLUDED.attempt, sha256 = EXCLUDED.sha256, "
        "size_bytes = EXCLUDED.size_bytes, data = EXCLUDED.data",
        (run_id, seq, attempt, encoded.sha256, encoded.size_bytes, encoded.data),
    )
    db.execute("DELETE FROM kwf_contexts WHERE run_id = %s AND (seq < %s OR seq > %s)", (run_id, seq - keep, seq))


def _json(value: Any) -> Jsonb:
    return Jsonb(value, dumps=json.dumps)
