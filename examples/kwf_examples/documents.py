"""Guide example 3's motivating case: a long workflow that processes many documents.

Each document is one step, and the id of the last one processed is kept in ctx.store. kube-workflows
checkpoints after every step, so when the pod dies mid-way the next pod continues with the next
document. The result counts which pod processed how many documents: they add up to the total, each
document processed once.
"""

import asyncio
import os

from workflows import Context, Workflow, step
from workflows.events import Event, StartEvent, StopEvent


class ProcessDocument(Event):
    doc_id: int


class DocumentPipeline(Workflow):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @step
    async def start(self, ctx: Context, ev: StartEvent) -> ProcessDocument:
        async with ctx.store.edit_state() as state:
            state["total"] = int(ev.get("documents", 20))
            state["seconds_per_document"] = float(ev.get("seconds_per_document", 0.5))
            state["processed_by_pod"] = {}
        return ProcessDocument(doc_id=0)

    @step
    async def process(self, ctx: Context, ev: ProcessDocument) -> ProcessDocument | StopEvent:
        await asyncio.sleep(await ctx.store.get("seconds_per_document"))  # the "work"
        pod = os.environ.get("KWF_POD_NAME", "local")
        async with ctx.store.edit_state() as state:
            state["last_processed"] = ev.doc_id
            state["processed_by_pod"][pod] = state["processed_by_pod"].get(pod, 0) + 1
            total = state["total"]
            by_pod = dict(state["processed_by_pod"])
        if ev.doc_id + 1 < total:
            return ProcessDocument(doc_id=ev.doc_id + 1)
        return StopEvent(result={"documents": total, "last_processed": ev.doc_id, "processed_by_pod": by_pod})
