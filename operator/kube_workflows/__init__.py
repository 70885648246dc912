"""kube-workflows: durable llama-index-workflows runs on Kubernetes."""

from typing import Any


def __getattr__(name: str) -> Any:
    # Lazy: reading the installed metadata costs ~70 ms, which a starting runner pod need not pay.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("kube-workflows")
        except PackageNotFoundError:  # running from a source tree without an install
            return "0.0.0"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
