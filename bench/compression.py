"""Compressed checkpoint bytes ÷ raw Context JSON bytes, on the document pipeline's real Context
(not a target of its own: it shows what the codec buys). Target ≤ 1.0."""

from __future__ import annotations

from bench.cluster import BenchCluster
from bench.report import Row
from support import workflow_run

TARGET = 1.0


def run(bench: BenchCluster) -> list[Row]:
    namespace = bench.namespace("docs")
    bench.create_run(
        namespace,
        workflow_run(
            "bench-docs", "kwf_examples.documents:DocumentPipeline", {"documents": 30, "seconds_per_document": 0}
        ),
    )
    checkpoint = bench.cluster.wait_phase(namespace, "bench-docs", "Succeeded", timeout=300)["status"]["checkpoint"]
    bench.delete_namespace(namespace)
    return [
        Row(
            measure="stored checkpoint bytes / raw Context JSON bytes",
            value=f"{checkpoint['storedBytes']} B",
            anchor=f"{checkpoint['sizeBytes']} B",
            ratio=checkpoint["storedBytes"] / checkpoint["sizeBytes"],
            target=TARGET,
            detail="zlib + base64, the final checkpoint of a 30-document pipeline",
        )
    ]
