"""What spec.workflow may name besides a Workflow subclass, and what it must not.

The loader constructs a subclass, uses an instance, calls a zero-argument factory function (and checks
that it returns a Workflow); anything else is refused without being called.
"""

from workflows import Workflow

from kwf_testflows.steps import StepChain

INSTANCE = StepChain()
NOT_A_WORKFLOW = {"steps": 2}
calls = []  # what was called, so a test can see the refused ones were not


def factory() -> Workflow:
    calls.append("factory")
    return StepChain()


def returns_a_dict() -> dict[str, int]:
    calls.append("returns_a_dict")
    return {"steps": 2}


def needs_an_argument(steps: int) -> Workflow:
    calls.append("needs_an_argument")
    return StepChain()


def exits() -> Workflow:
    calls.append("exits")
    raise SystemExit(0)


class Builder:
    """A callable object: not a factory function, so never called."""

    def __call__(self) -> Workflow:
        calls.append("Builder()")
        return StepChain()

    @classmethod
    def create(cls) -> Workflow:
        calls.append("Builder.create")
        return StepChain()


BUILDER = Builder()
