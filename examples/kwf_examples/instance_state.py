"""Guide example 1: state kept on the workflow instance.

It lives as long as the process. Every WorkflowRun gets a fresh pod, hence a fresh instance, so each
run says "The step ran 1 times": instance state is not durable, and kube-workflows does not pretend
otherwise. Use ctx.store (example 2) for state that must survive.
"""

from typing import Any

from workflows import Workflow, step
from workflows.events import StartEvent, StopEvent


class MyWorkflow(Workflow):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.counter = 0
        super().__init__(*args, **kwargs)

    @step
    def count(self, ev: StartEvent) -> StopEvent:
        self.counter += 1
        return StopEvent(result=f"The step ran {self.counter} times")
