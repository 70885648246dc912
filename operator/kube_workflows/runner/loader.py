"""Import the workflow a WorkflowRun names ("package.module:Attribute")."""

from __future__ import annotations

import importlib
import inspect

from workflows import Workflow


class WorkflowLoadError(Exception):
    """spec.workflow does not name an importable Workflow; the message says why."""


def load_workflow(import_path: str, timeout: float | None = None) -> Workflow:
    """A fresh Workflow instance from a class, a zero-argument factory, or a module-level instance."""
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
    elif callable(target):
        if inspect.isclass(target) and not issubclass(target, Workflow):
            raise WorkflowLoadError(f'spec.workflow "{import_path}" is a class but not a Workflow subclass')
        try:
            workflow = target()
        except Exception as exc:
            raise WorkflowLoadError(
                f'spec.workflow "{import_path}" could not be constructed with no arguments: {type(exc).__name__}: {exc}'
            ) from exc
        if not isinstance(workflow, Workflow):
            raise WorkflowLoadError(f'spec.workflow "{import_path}" returned {type(workflow).__name__}, not a Workflow')
    else:
        raise WorkflowLoadError(f'spec.workflow "{import_path}" is a {type(target).__name__}, not a Workflow')
    if timeout is not None:
        workflow._timeout = timeout
    return workflow
