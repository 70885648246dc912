"""A runner pod's Contexts in a real PostgreSQL (spec.checkpoint.store.postgres): written under the pod's
attempt, refused once a later pod has claimed the run, read back by seq."""

from __future__ import annotations

import pytest

from kube_workflows.checkpoint import decode_checkpoint, encode_checkpoint
from kube_workflows.runner.context_store import PostgresContexts
from kube_workflows.runner.reporter import ApiUnavailable, Superseded

KEY = "ns/r/uid-1"


def test_a_stale_pods_context_write_is_refused_and_a_late_claim_too(postgres_dsn: str) -> None:
    old = PostgresContexts(postgres_dsn, KEY, attempt=1)
    old.write(1, encode_checkpoint({"n": 1}), keep=2)
    new = PostgresContexts(postgres_dsn, KEY, attempt=2)  # the next pod
    with pytest.raises(Superseded):
        old.write(2, encode_checkpoint({"n": "stale"}), keep=2)
    with pytest.raises(Superseded):
        PostgresContexts(postgres_dsn, KEY, attempt=1)  # a pod of an older attempt starting late
    new.write(2, encode_checkpoint({"n": 2}), keep=2)
    found = new.read(KEY, 2)
    assert found is not None and decode_checkpoint(found[0], sha256=found[1]) == {"n": 2}


def test_contexts_older_than_keep_are_dropped_and_a_seq_can_be_written_again(postgres_dsn: str) -> None:
    pod = PostgresContexts(postgres_dsn, KEY, attempt=1)
    for seq in range(1, 6):
        pod.write(seq, encode_checkpoint({"n": seq}), keep=2)
    assert [seq for seq in range(1, 6) if pod.read(KEY, seq)] == [3, 4, 5]
    # A pod died after writing 5 here but before status pointed at it; the next writes 5 again from 4.
    pod = PostgresContexts(postgres_dsn, KEY, attempt=2)
    pod.write(5, encode_checkpoint({"n": "again"}), keep=2)
    found = pod.read(KEY, 5)
    assert found is not None and decode_checkpoint(found[0]) == {"n": "again"}
    assert pod.read("ns/r/other-uid", 5) is None


def test_an_unreachable_database_is_an_infrastructure_error() -> None:
    with pytest.raises(ApiUnavailable, match="KWF_CHECKPOINT_DSN"):
        PostgresContexts("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2", KEY, attempt=1)
