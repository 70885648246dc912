"""Offload slots: a write never lands on a chunk set that status points at."""

from __future__ import annotations

from kube_workflows.checkpoint import offload


def at(slot: str | None) -> dict[str, list[str]] | None:
    return {"chunks": [offload.chunk_name("run", slot, 0)]} if slot else None


def test_the_next_slot_avoids_the_current_and_the_previous_checkpoint() -> None:
    assert offload.next_slot(None) == "a"
    assert offload.next_slot(at("a")) == "b"
    assert offload.next_slot(at("b"), at("a")) == "c"
    assert offload.next_slot(at("c"), at("b")) == "a"
    assert offload.next_slot(at("a"), at("c")) == "b"


def test_a_run_name_with_dashes_still_names_its_slot() -> None:
    checkpoint = {"chunks": [offload.chunk_name("my-ckpt-b-run", "c", 2)]}
    assert offload.slot_of(checkpoint) == "c"


def test_chunks_record_the_attempt_that_wrote_them() -> None:
    owner = {"kind": "WorkflowRun", "name": "run", "uid": "u"}
    chunk = offload.chunk_object("Secret", "run-ckpt-a-0", "ns", "run", owner, "x", attempt=3, seq=9)
    assert offload.written_by(chunk) == 3
    assert offload.written_by({"metadata": {}}) == 0  # written before chunks were annotated
