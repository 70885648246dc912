"""`SqliteStore`: durable runs in one SQLite file, for a laptop, a test, or a single machine.

One row per run holds its latest checkpoint (compressed and checksummed like a Kubernetes one); each
write is one transaction that also checks the claim's attempt, so a process that lost the run to a
later claim cannot overwrite it. A `steps` table keeps a line per completed step, an `events` table
every event the workflow streamed, numbered from 1 and written with the checkpoint that covers it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kube_workflows.checkpoint import decode_checkpoint, encode_checkpoint
from kube_workflows.runtime.store import Checkpoint, SavedCheckpoint, Superseded

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    attempt INTEGER NOT NULL,
    seq INTEGER NOT NULL DEFAULT 0,
    context TEXT,
    sha256 TEXT,
    steps_completed INTEGER NOT NULL DEFAULT 0,
    events_delivered INTEGER NOT NULL DEFAULT 0,
    final INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    waiting TEXT,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    name TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (run_id, sequence)
);
"""


class SqliteStore:
    """A CheckpointStore in the SQLite database at `path` (created when missing)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._attempts: dict[str, int] = {}
        self._lock = threading.Lock()
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # A connection per call: the runtime calls from worker threads. `isolation_level=None` and
        # explicit BEGIN IMMEDIATE make each write one transaction that takes the write lock at once.
        db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            yield db
        finally:
            db.close()

    def claim(self, run_id: str) -> int:
        with self._lock, self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT attempt FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            attempt = (row[0] if row else 0) + 1
            if row:
                db.execute("UPDATE runs SET attempt = ? WHERE run_id = ?", (attempt, run_id))
            else:
                db.execute("INSERT INTO runs (run_id, attempt) VALUES (?, ?)", (run_id, attempt))
            db.execute("COMMIT")
        self._attempts[run_id] = attempt
        return attempt

    def read_checkpoint(self, run_id: str) -> SavedCheckpoint | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT context, sha256, steps_completed, events_delivered, final, result, waiting, seq "
                "FROM runs WHERE run_id = ?",
                (run_id,),
            ).fetchone()
        if row is None or row[0] is None:
            return None
        context, sha256, steps_completed, events_delivered, final, result, waiting, seq = row
        return SavedCheckpoint(
            context=decode_checkpoint(context, sha256=sha256),
            steps_completed=steps_completed,
            events_delivered=events_delivered,
            final=bool(final),
            result=json.loads(result) if result is not None else None,
            waiting=json.loads(waiting) if waiting else None,
            source=f"checkpoint {seq} of run {run_id!r} in {self.path}",
        )

    def write_checkpoint(self, run_id: str, checkpoint: Checkpoint) -> None:
        self._write(run_id, checkpoint, None)

    def park(self, run_id: str, checkpoint: Checkpoint, waiting: dict[str, Any]) -> None:
        self._write(run_id, checkpoint, waiting)

    def _write(self, run_id: str, checkpoint: Checkpoint, waiting: dict[str, Any] | None) -> None:
        attempt = self._attempts.get(run_id)
        if attempt is None:
            raise Superseded(f"run {run_id!r} was not claimed by this store")
        encoded = encode_checkpoint(checkpoint.context)
        with self._lock, self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            updated = db.execute(
                "UPDATE runs SET seq = seq + 1, context = ?, sha256 = ?, steps_completed = ?, events_delivered = ?, "
                "final = ?, result = ?, waiting = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
                "WHERE run_id = ? AND attempt = ? RETURNING seq",
                (
                    encoded.data,
                    encoded.sha256,
                    checkpoint.steps_completed,
                    checkpoint.events_delivered,
                    int(checkpoint.final),
                    json.dumps(checkpoint.result) if checkpoint.final else None,
                    json.dumps(waiting) if waiting is not None else None,
                    run_id,
                    attempt,
                ),
            ).fetchone()
            if updated is None:
                db.execute("ROLLBACK")
                raise Superseded(f"run {run_id!r} was claimed again after attempt {attempt}; this write was refused")
            db.executemany(
                "INSERT INTO steps (run_id, seq, attempt, name, record) VALUES (?, ?, ?, ?, ?)",
                [(run_id, updated[0], attempt, step["name"], json.dumps(step)) for step in checkpoint.steps],
            )
            if checkpoint.events:
                (last,) = db.execute(
                    "SELECT COALESCE(MAX(sequence), 0) FROM events WHERE run_id = ?", (run_id,)
                ).fetchone()
                db.executemany(
                    "INSERT INTO events (run_id, sequence, record) VALUES (?, ?, ?)",
                    [(run_id, last + i, json.dumps(event)) for i, event in enumerate(checkpoint.events, 1)],
                )
            db.execute("COMMIT")

    def stream_events(self, run_id: str, after_sequence: int = 0) -> list[dict[str, Any]]:
        """The events the run streamed after `after_sequence`, oldest first, each with its `sequence`."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT sequence, record FROM events WHERE run_id = ? AND sequence > ? ORDER BY sequence",
                (run_id, after_sequence),
            ).fetchall()
        return [{"sequence": sequence, **json.loads(record)} for sequence, record in rows]

    def completed_steps(self, run_id: str) -> list[str]:
        """The names of the run's completed steps, in order (what a resumed run did not run again)."""
        with self._connect() as db:
            rows = db.execute("SELECT name FROM steps WHERE run_id = ? ORDER BY rowid", (run_id,)).fetchall()
        return [name for (name,) in rows]
