"""`make bench`: each measure next to its anchor, measured in the same run; prints a table and
writes bench/results/latest.json (a list of {"measure", "ratio", "target", "detail"}, lower is better).

Machines here are noisy, so every figure is a ratio of two things measured side by side.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "workflows"))
RESULTS = REPO / "bench" / "results" / "latest.json"
NAMESPACE = "kwf-bench"


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def bench_checkpoint_write(repeats: int = 60) -> dict[str, Any]:
    """A fenced checkpoint write (Reporter.write) ÷ a bare status merge PATCH of the same bytes."""
    from kube_workflows import kube
    from kube_workflows.checkpoint import encode_checkpoint
    from kube_workflows.runner import patches
    from kube_workflows.runner.reporter import Reporter

    api = kube.custom_objects()
    name = "bench-write"
    api.create_namespaced_custom_object(
        namespace=NAMESPACE,
        body={
            "apiVersion": "kube-workflows.dev/v1alpha1",
            "kind": "WorkflowRun",
            "metadata": {"name": name},
            "spec": {"workflow": "bench.none:Nothing"},
        },
        **kube.WORKFLOWRUN,
    )
    reporter = Reporter(NAMESPACE, name)
    _, attempt = reporter.claim("bench-pod")
    # ~40 KB of text-like state (word salad, so compression is realistic rather than trivial).
    words = [hashlib.sha1(str(i).encode()).hexdigest()[: 3 + i % 7] for i in range(400)]
    context = {
        "state": {
            "state_data": {
                "_data": {f"doc{i}": " ".join(words[(i * 7 + j * 13) % 400] for j in range(80)) for i in range(80)}
            }
        }
    }
    ours, bare = [], []
    for seq in range(1, repeats + 1):
        # Ours: everything the runner does per step: encode, build the fenced patch, send it.
        t = time.perf_counter()
        encoded = encode_checkpoint(context)
        checkpoint = patches.checkpoint_value(
            encoded, seq=seq, attempt=attempt, step="work", steps_completed=seq, final=False
        )
        record = {"name": "work", "seq": seq, "attempt": attempt, "completedAt": patches.now()}
        patch = patches.step_checkpoint_patch(attempt, checkpoint, record, "work", patches.MAX_STEP_RECORDS)
        reporter.write("bench", patch)
        ours.append(time.perf_counter() - t)
        # Anchor: a plain merge PATCH of the same checkpoint bytes, response not parsed either.
        t = time.perf_counter()
        api.patch_namespaced_custom_object_status(
            namespace=NAMESPACE,
            name=name,
            body={"status": {"checkpoint": checkpoint}},
            _preload_content=False,
            _content_type="application/merge-patch+json",
            **kube.WORKFLOWRUN,
        )
        bare.append(time.perf_counter() - t)
    return {
        "measure": "checkpoint write / bare status PATCH (same bytes)",
        "ratio": median_ms(ours) / median_ms(bare),
        "target": 1.2,
        "detail": f"{median_ms(ours):.1f} ms vs {median_ms(bare):.1f} ms median of {repeats}, "
        f"{encoded.stored_bytes} bytes stored",
    }


def bench_step_overhead(cluster: Any, steps: int = 40, delay: float = 0.01) -> dict[str, Any]:
    """Per-step wall time of a run in a pod (checkpoint every step) ÷ the same workflow in-process."""
    from kwf_testflows.steps import StepChain
    from support import workflow_run

    async def plain() -> float:
        t = time.perf_counter()
        await StepChain().run(steps=steps, delay=delay)
        return time.perf_counter() - t

    in_process = min(asyncio.run(plain()) for _ in range(3)) / (steps + 1)
    cluster.apply(
        workflow_run("bench-steps", "kwf_testflows.steps:StepChain", {"steps": steps, "delay": delay}),
        NAMESPACE,
    )
    status = cluster.wait_phase(NAMESPACE, "bench-steps", "Succeeded", timeout=300)["status"]
    records = status["steps"]
    first, last = (datetime.fromisoformat(records[i]["completedAt"]) for i in (0, -1))
    in_pod = (last - first).total_seconds() / (len(records) - 1)
    return {
        "measure": f"per-step wall time in a pod with checkpoints / plain in-process ({delay * 1000:.0f} ms steps)",
        "ratio": in_pod / in_process,
        "target": 1.3,
        "detail": f"{in_pod * 1000:.1f} ms vs {in_process * 1000:.1f} ms per step over {len(records)} steps",
    }


def bench_compression(cluster: Any) -> dict[str, Any]:
    """Compressed checkpoint bytes ÷ raw JSON bytes, on the document pipeline's real Context."""
    from support import workflow_run

    cluster.apply(
        workflow_run(
            "bench-docs",
            "kwf_examples.documents:DocumentPipeline",
            {"documents": 30, "seconds_per_document": 0},
        ),
        NAMESPACE,
    )
    checkpoint = cluster.wait_phase(NAMESPACE, "bench-docs", "Succeeded", timeout=300)["status"]["checkpoint"]
    return {
        "measure": "stored checkpoint bytes / raw Context JSON bytes",
        "ratio": checkpoint["storedBytes"] / checkpoint["sizeBytes"],
        "target": 1.0,
        "detail": f"{checkpoint['storedBytes']} of {checkpoint['sizeBytes']} bytes (zlib + base64)",
    }


def main() -> None:
    from kube_workflows.devcluster.controlplane import DevCluster
    from support import Cluster, OperatorProcess

    os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO / "examples"), str(REPO / "tests" / "workflows")])
    dev = DevCluster(Path(tempfile.mkdtemp(prefix="kwf-bench-")))
    dev.up()
    os.environ["KUBECONFIG"] = str(dev.kubeconfig)
    cluster = Cluster(kubeconfig=dev.kubeconfig, data_dir=dev.data_dir)
    operator = OperatorProcess(cluster, dev.data_dir / "operator.log")
    try:
        cluster.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        cluster.kubectl("wait", "--for=condition=Established", "crd/workflowruns.kube-workflows.dev")
        cluster.kubectl("create", "namespace", NAMESPACE)
        operator.start()
        results = [bench_checkpoint_write(), bench_step_overhead(cluster), bench_compression(cluster)]
    finally:
        operator.stop()
        dev.down()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    width = max(len(r["measure"]) for r in results)
    print(f"\n{'measure':<{width}}  {'ratio':>6}  {'target':>6}  detail")
    for r in results:
        mark = "ok" if r["ratio"] <= r["target"] else "over"
        print(f"{r['measure']:<{width}}  {r['ratio']:>6.2f}  {r['target']:>6.2f}  {r['detail']} [{mark}]")
    print(f"\nwritten to {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
