"""Human in the loop: draft release notes, ask a person to approve them, publish or revise.

The review step waits with the library's own `ctx.wait_for_event`. On Kubernetes the run parks
(phase Waiting, no pod) until an answer is appended to `spec.events`; each answer resumes it from
its checkpoint in a new pod.
"""

from workflows import Context, Workflow, step
from workflows.events import Event, HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


class Drafted(Event):
    text: str
    round: int


class ReviewWorkflow(Workflow):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @step
    async def draft(self, ctx: Context, ev: StartEvent) -> Drafted:
        version = ev.get("version", "1.0.0")
        await ctx.store.set("version", version)
        return Drafted(text=f"kube-workflows {version}: runs wait for people with no pod running.", round=1)

    @step
    async def review(self, ctx: Context, ev: Drafted) -> Drafted | StopEvent:
        answer = await ctx.wait_for_event(
            HumanResponseEvent,
            waiter_event=InputRequiredEvent(prefix=f"Publish these notes? (yes, or a better text) {ev.text}"),
            waiter_id=f"review-{ev.round}",
            timeout=None,
        )
        if answer.response.strip().lower() in ("y", "yes"):
            return StopEvent(result={"published": ev.text, "rounds": ev.round})
        return Drafted(text=answer.response, round=ev.round + 1)
