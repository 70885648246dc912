"""Module-level Workflow instances, which the user's module constructs before the runner can say how.

`on_own_runtime` is put on a runtime of its own: the runner refuses it rather than drop that runtime.
`plain` is on the default runtime; imported before the runner runs it, it is moved onto the runner's.
"""

from workflows.plugins import basic_runtime

from kube_workflows.runtime.compat import BaseRuntimeDecorator
from kwf_testflows.steps import StepChain


class TracingRuntime(BaseRuntimeDecorator):
    """Stands in for any runtime a user may configure (DBOS, a tracing decorator, ...)."""


on_own_runtime = StepChain(runtime=TracingRuntime(basic_runtime))
plain = StepChain()
