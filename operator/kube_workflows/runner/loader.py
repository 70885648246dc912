"""Import the workflow a WorkflowRun names ("package.module:Attribute")."""

from __future__ import annotations

import importlib
import inspect

from workflows import Workflow

from kube_workflows.runtime import compat


class WorkflowLoadError(Exception):
    """spec.workflow does not name an importable Workflow; the message says why."""


def _describe(target: object) -> str:
    """What `target` is, for an error message: "a builtin function (exit)", "a str", ..."""
    if inspect.isbuiltin(target):
        return f"a builtin function ({getattr(target, '__name__', '?')})"
    if inspect.isclass(target):
        return f"a class ({target.__name__})"
    if inspect.ismodule(target):
        return "a module"
    return f"a {type(target).__name__}"


def _is_factory(target: object) -> bool:
    """A function or method written in Python (lambdas and classmethods included). Builtins, classes
    and other callable objects are not: calling them is not known to build a workflow, and can do
    anything (`sys:exit` would end the runner with exit 0, as if the workflow had succeeded)."""
    return inspect.isfunction(target) or (inspect.ismethod(target) and inspect.isfunction(target.__func__))


def load_workflow(import_path: str, timeout: float | None = None) -> Workflow:
    """A fresh Workflow instance from a Workflow subclass, a module-level instance, or a zero-argument
    factory function returning one. Anything else is refused without being called."""
    module_name, sep, attr_path = import_path.partition(":")
    if not sep or not module_name or not attr_path:
        raise WorkflowLoadError(f'spec.workflow "{import_path}" must be "package.module:Attribute"')
    try:
        target: object = importlib.import_module(module_name)
    except Exception as exc:  # any import-time error is the user's module failing to load
        raise WorkflowLoadError(
            f'spec.workflow "{import_path}": module "{module_name}" cannot be imported: {type(exc).__name__}: {exc}'
        ) from exc
    for part in attr_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise WorkflowLoadError(
                f'spec.workflow "{import_path}": "{module_name}" has no attribute "{attr_path}"'
            ) from None
    if isinstance(target, Workflow):
        workflow = target
    elif inspect.isclass(target) and issubclass(target, Workflow):
        workflow = _call(import_path, target, "constructed")
    elif _is_factory(target):
        workflow = _call(import_path, target, "called")
    else:
        raise WorkflowLoadError(
            f'spec.workflow "{import_path}" is {_describe(target)}, not a Workflow: name a Workflow subclass, '
            "an instance, or a function that returns one (it was not called)"
        )
    if timeout is not None:
        compat.set_timeout(workflow, timeout)
    return workflow


def _call(import_path: str, target: object, verb: str) -> Workflow:
    assert callable(target)
    try:
        inspect.signature(target).bind()
    except TypeError as exc:
        raise WorkflowLoadError(
            f'spec.workflow "{import_path}" cannot be {verb} with no arguments: {exc} (it was not called)'
        ) from None
    except ValueError:
        pass  # no signature to inspect: the call below says whether it works
    try:
        workflow = target()
    except Exception as exc:
        raise WorkflowLoadError(
            f'spec.workflow "{import_path}" could not be {verb} with no arguments: {type(exc).__name__}: {exc}'
        ) from exc
    except SystemExit as exc:
        # A factory that exits must not end the runner as if the workflow had run (exit 0).
        raise WorkflowLoadError(f'spec.workflow "{import_path}" called sys.exit({exc.code!r}) when {verb}') from exc
    if not isinstance(workflow, Workflow):
        raise WorkflowLoadError(
            f'spec.workflow "{import_path}" returned {_describe(workflow)} when {verb}, not a Workflow'
        )
    return workflow
