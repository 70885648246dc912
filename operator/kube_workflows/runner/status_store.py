"""`StatusStore`: the CheckpointStore a runner pod writes through, on its WorkflowRun's status.

Each write is one fenced JSON patch of status (see `reporter.Reporter`): the checkpoint, the records
of the steps it covers, the events they streamed (`status.stream`, see `stream`), and what runs next.
A checkpoint over spec.checkpoint.inlineLimitBytes (or any with history kept, or a sensitive run's) is
first written into owned ConfigMap or Secret chunks, which status then points at (see `checkpoint.offload`).
With spec.checkpoint.store, every Context is first written there instead (`context_store`), and status
keeps its seq, sha256 and sizes.
"""

from __future__ import annotations

import logging
from typing import Any

from kube_workflows.checkpoint import encode_checkpoint, offload
from kube_workflows.checkpoint.outputs import REQUESTS_KEY, RESULT_KEY
from kube_workflows.checkpoint.outputs import to_text as outputs_text
from kube_workflows.models.workflowrun import CheckpointPolicy
from kube_workflows.runner import failpoints, outputs, patches
from kube_workflows.runner.context_store import ContextStore, run_key
from kube_workflows.runner.reporter import Reporter
from kube_workflows.runner.restore import load_checkpoint
from kube_workflows.runner.stream import StreamWindow
from kube_workflows.runtime.store import Checkpoint, SavedCheckpoint

log = logging.getLogger(__name__)


class CheckpointTooLarge(Exception):
    pass


class StatusStore:
    """A CheckpointStore for one WorkflowRun, over the runner's Reporter (one claim per pod)."""

    def __init__(
        self,
        reporter: Reporter,
        *,
        pod: str,
        policy: CheckpointPolicy,
        owner: dict[str, Any],
        seq: int = 0,
        records: patches.Records | None = None,
        current: dict[str, Any] | None = None,
        result_limit: int = 64 * 1024,
        contexts: ContextStore | None = None,
        stream: StreamWindow | None = None,
    ) -> None:
        self.reporter = reporter
        self.result_limit = result_limit  # spec.resultLimitBytes: a larger result goes to <run>-outputs
        self.pod = pod
        self.policy = policy
        self.owner = owner
        self.seq = seq
        self.records = records or patches.Records(history_keep=policy.history)
        self.current = current  # the checkpoint status points at (its offload slot is in use)
        self.contexts = contexts  # spec.checkpoint.store: the Contexts go there, not into status or chunks
        self.stream = stream or StreamWindow(withhold=policy.sensitive)

    @property
    def attempt(self) -> int:
        return self.reporter.attempt

    def _check(self, run_id: str) -> None:
        if run_id != self.reporter.name:
            raise ValueError(f"this store writes WorkflowRun {self.reporter.name}, not {run_id}")

    # --- CheckpointStore ---------------------------------------------------------------------------

    def claim(self, run_id: str) -> int:
        """The runner claims first (it needs the run's spec to know what to run); later calls return
        that claim's attempt."""
        self._check(run_id)
        if not self.reporter.attempt:
            self.reporter.claim(self.pod)
        return self.reporter.attempt

    def read_checkpoint(self, run_id: str) -> SavedCheckpoint | None:
        """status.checkpoint, read from status or its chunks and checked against its sha256. (The runner
        itself resumes through `restore.restore_context`, which also falls back to an older intact
        checkpoint and follows spec.contextFrom.)"""
        self._check(run_id)
        run = self.reporter.read()
        status = run.get("status") or {}
        checkpoint = status.get("checkpoint")
        if not checkpoint:
            return None
        source = f"WorkflowRun {run_id}"
        return SavedCheckpoint(
            context=load_checkpoint(self.reporter, checkpoint, source, self.contexts, run_key(run)),
            steps_completed=int(checkpoint.get("stepsCompleted") or 0),
            events_delivered=int(checkpoint.get("eventsDelivered") or 0),
            final=bool(checkpoint.get("final")),
            result=status.get("result"),
            waiting=status.get("waiting"),
            source=source,
        )

    def write_checkpoint(self, run_id: str, checkpoint: Checkpoint) -> None:
        self._check(run_id)
        if checkpoint.final:
            value = self.checkpoint_value(checkpoint)
            result_ref = None
            sensitive = self.policy.sensitive
            if sensitive or len(outputs_text(checkpoint.result).encode()) > self.result_limit:
                result_ref = outputs.withhold(
                    self.reporter, self.owner, RESULT_KEY, checkpoint.result, sensitive=sensitive
                )
            patch = patches.final_patch(
                self.attempt, value, checkpoint.result, self.stamp(checkpoint.steps), self.records, result_ref
            )
            patch += self.stream.publish(checkpoint.events)
            self.send("final", "recording the result", patch)
            return
        value = self.checkpoint_value(checkpoint)
        current = ",".join(checkpoint.next_steps) or None
        patch = patches.step_checkpoint_patch(self.attempt, value, self.stamp(checkpoint.steps), current, self.records)
        patch += self.stream.publish(checkpoint.events)
        self.send("checkpoint", f"checkpoint {self.seq} after {checkpoint.step}", patch)
        log.info("checkpoint %d written (%d bytes)", self.seq, value["storedBytes"])

    def park(self, run_id: str, checkpoint: Checkpoint, waiting: dict[str, Any]) -> None:
        self._check(run_id)
        value = self.checkpoint_value(checkpoint)
        if self.policy.sensitive and "requestsRef" not in waiting:
            ref = outputs.withhold(self.reporter, self.owner, REQUESTS_KEY, waiting["requests"])
            waiting = {**waiting, "requests": [], "requestsRef": ref}
        patch = patches.waiting_patch(self.attempt, value, waiting, self.stamp(checkpoint.steps), self.records)
        patch += self.stream.publish(checkpoint.events)
        self.send("park", f"checkpoint {self.seq}: waiting for input", patch)

    # --- the status fields -----------------------------------------------------------------------

    def stamp(self, steps: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
        """Step records as status.steps keeps them: with the checkpoint (seq) and attempt that wrote them."""
        return [{"name": s["name"], "seq": self.seq, "attempt": self.attempt, **s} for s in steps]

    def checkpoint_value(self, checkpoint: Checkpoint) -> dict[str, Any]:
        """status.checkpoint for `checkpoint`: encoded, and offloaded first when too large for status."""
        encoded = encode_checkpoint(checkpoint.context)
        too_large = encoded.stored_bytes > self.policy.max_bytes
        if too_large:
            problem = (
                f"checkpoint after step {checkpoint.step!r} is {encoded.stored_bytes} bytes compressed, over "
                f"spec.checkpoint.maxBytes ({self.policy.max_bytes}); keep large data out of ctx.store"
            )
            if not checkpoint.final:
                raise CheckpointTooLarge(problem)
            log.warning("%s; the result is recorded without the final Context", problem)
        self.seq += 1
        value = patches.checkpoint_value(
            encoded,
            seq=self.seq,
            attempt=self.attempt,
            step=checkpoint.step,
            steps_completed=checkpoint.steps_completed,
            final=checkpoint.final,
            events_delivered=checkpoint.events_delivered,
        )
        if too_large:
            # Still a final checkpoint: it is what says the workflow returned (spec.contextFrom refuses it).
            value.update(data="", storage=offload.OMITTED)
        elif self.contexts is not None:
            # Before status points at it, as chunks are. Kept: the one status points at until this write
            # lands, one more to spare, and what status.history lists.
            failpoints.reached("before-chunk")  # the Context's own write, as a chunk's is
            self.contexts.write(self.seq, encoded, keep=max(2, self.policy.history + 1))
            failpoints.reached("after-chunk")
            value.update(data="", storage=offload.POSTGRES)
        elif self.policy.history or self.policy.sensitive or encoded.stored_bytes > self.policy.inline_limit_bytes:
            # A sensitive run's Context never sits in status, however small (it is readable by anyone who
            # may get the WorkflowRun).
            value.update(self._offload(encoded.data))
        self.records.previous, self.current = self.current, value
        return value

    def resume_from(self, checkpoint: dict[str, Any]) -> None:
        """Go on from an older checkpoint than status.checkpoint (which was damaged): write next into the
        slot the damaged one used, never into the one resumed from."""
        self.current = checkpoint
        self.records.previous = None

    def _offload(self, data: str) -> dict[str, Any]:
        """Write the chunks (before status points at them); return the status fields that do."""
        kind = offload.storage_kind(self.policy.sensitive)
        if self.policy.history:
            slot = offload.history_slot(self.seq, self.policy.history)
        else:
            slot = offload.next_slot(self.current, self.records.previous)
        run_name = self.owner["name"]
        names = []
        payloads = offload.split(data)
        for index, payload in enumerate(payloads):
            name = offload.chunk_name(run_name, slot, index)
            chunk = offload.chunk_object(
                kind, name, self.reporter.namespace, run_name, self.owner, payload, attempt=self.attempt, seq=self.seq
            )
            failpoints.reached("before-chunk")
            self.reporter.put_chunk(chunk, chunks=len(payloads))
            failpoints.reached("after-chunk")
            names.append(name)
        return {"data": "", "storage": kind, "chunks": names}

    def send(self, point: str, what: str, patch: patches.JsonPatch) -> None:
        """One fenced status write, with the failpoints around it."""
        failpoints.reached(f"before-{point}")
        self.reporter.write(what, patch)
        failpoints.reached(f"after-{point}")
