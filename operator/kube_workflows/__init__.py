"""kube-workflows: durable llama-index-workflows runs on Kubernetes."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kube-workflows")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"
