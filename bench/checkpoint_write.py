"""Measure 1: a fenced checkpoint write (what the runner does per step) ÷ a bare status merge PATCH of
the same bytes. Target ≤ 1.2."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from bench.cluster import BenchCluster
from bench.report import Row, median
from kube_workflows import kube
from kube_workflows.checkpoint import encode_checkpoint
from kube_workflows.runner import patches
from kube_workflows.runner.reporter import Reporter
from kube_workflows_devtools.node_env import FAKE_RUN_ANNOTATION

TARGET = 1.2


def text_like_context() -> dict[str, Any]:
    """~40 KB of word salad: compresses like real text rather than trivially."""
    words = [hashlib.sha1(str(i).encode()).hexdigest()[: 3 + i % 7] for i in range(400)]
    documents = {f"doc{i}": " ".join(words[(i * 7 + j * 13) % 400] for j in range(80)) for i in range(80)}
    return {"state": {"state_data": {"_data": documents}}}


class CheckpointWriter:
    """What a runner sends per step, without running a workflow: claim the run once, then for each step
    encode the Context, build the fenced JSON patch (checkpoint, step record, current step), send it."""

    def __init__(self, namespace: str, name: str, pod: str = "bench-pod") -> None:
        self.reporter = Reporter(namespace, name)
        self.attempt = self.reporter.claim(pod)[1]
        self.records = patches.Records()
        self.seq = 0

    def write(self, context: dict[str, Any]) -> dict[str, Any]:
        """Checkpoint `context` after a step; returns the checkpoint as written."""
        self.seq += 1
        checkpoint = patches.checkpoint_value(
            encode_checkpoint(context),
            seq=self.seq,
            attempt=self.attempt,
            step="work",
            steps_completed=self.seq,
            final=False,
        )
        record = {"name": "work", "seq": self.seq, "attempt": self.attempt, "completedAt": patches.now()}
        patch = patches.step_checkpoint_patch(self.attempt, checkpoint, [record], "work", self.records)
        self.reporter.write("bench", patch)
        return checkpoint


def bare_status_patch_seconds(api: Any, namespace: str, name: str, checkpoint: dict[str, Any]) -> float:
    """The anchor: one plain merge PATCH of the same checkpoint bytes, response not parsed either. Its body
    is drained, so the connection goes back to the pool: left unread, each request costs a new TLS connection."""
    t = time.perf_counter()
    response = api.patch_namespaced_custom_object_status(
        namespace=namespace,
        name=name,
        body={"status": {"checkpoint": checkpoint}},
        _preload_content=False,
        _content_type="application/merge-patch+json",
        **kube.WORKFLOWRUN,
    )
    kube.discard(response)
    return time.perf_counter() - t


def run(bench: BenchCluster, repeats: int = 60) -> list[Row]:
    namespace = bench.namespace("write")
    # The anchor's own connection pool: a connection it returns would otherwise serve the next runner write.
    api = bench.cluster.custom
    name = "bench-write"
    bench.create_run(
        namespace,
        {
            "apiVersion": "kube-workflows.dev/v1alpha1",
            "kind": "WorkflowRun",
            "metadata": {"name": name},
            # Its pod only sleeps (the local node's --fake-run): a real runner would fail to load
            # the workflow and be replaced, and the replacement's attempt would fence this writer out.
            "spec": {"workflow": "bench.none:Nothing", "template": {"annotations": {FAKE_RUN_ANNOTATION: "true"}}},
        },
    )
    writer = CheckpointWriter(namespace, name)
    context = text_like_context()
    ours, bare = [], []
    for _ in range(repeats):
        # Ours: everything the runner does per step: encode, build the fenced patch, send it.
        t = time.perf_counter()
        checkpoint = writer.write(context)
        ours.append(time.perf_counter() - t)
        bare.append(bare_status_patch_seconds(api, namespace, name, checkpoint))
    bench.delete_namespace(namespace)
    return [
        Row(
            measure="checkpoint write / bare status PATCH (same bytes)",
            value=f"{median(ours) * 1000:.1f} ms",
            anchor=f"{median(bare) * 1000:.1f} ms",
            ratio=median(ours) / median(bare),
            target=TARGET,
            detail=f"median of {repeats}, {checkpoint['storedBytes']} bytes stored",
        )
    ]
