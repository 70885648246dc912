"""kube-workflows: durable llama-index-workflows runs on Kubernetes."""

from typing import Any

# The durable runtime for in-process use is `kube_workflows.runtime`; the operator, the runner and the
# CLI are reached through `kwf`, not imported.
__all__ = ["__version__", "idempotency_key"]


def idempotency_key() -> str:
    """A key for the side effects of the running step: the same when the step re-runs after a crash,
    different for every other step execution. Call it inside a step; see `kube_workflows.runtime.idempotency`."""
    from kube_workflows.runtime.idempotency import step_idempotency_key

    return step_idempotency_key()


def __getattr__(name: str) -> Any:
    # Lazy: reading the installed metadata costs ~70 ms, which a starting runner pod need not pay.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("kube-workflows")
        except PackageNotFoundError:  # running from a source tree without an install
            return "0.0.0"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
