"""Pure functions: WorkflowRun → the Kubernetes objects that run it. No I/O."""

from kube_workflows.builders.identity import build_runner_identity
from kube_workflows.builders.job import build_runner_job, job_name_for, owner_reference

__all__ = ["build_runner_identity", "build_runner_job", "job_name_for", "owner_reference"]
