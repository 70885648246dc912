"""`kwf runner`'s first act: refuse an unsupported llama-index-workflows, with a reason in status.

It runs before anything that relies on the library's internals is imported (a release that moved
one would otherwise end the pod with an ImportError traceback). A refused run fails at once (exit
code INVALID_RUN; the Job's pod failure policy does not retry it) with status.error.reason
"UnsupportedLibrary", which the operator reports in the run's Failed condition.
"""

from __future__ import annotations

import logging

from kube_workflows.models import exit_codes
from kube_workflows.restclient import ApiError
from kube_workflows.runner import patches
from kube_workflows.runner.identity import RunnerIdentity
from kube_workflows.runner.reporter import ApiUnavailable, NotClaimable, Reporter, StatusTooLarge, Superseded
from kube_workflows.runtime import library_version

log = logging.getLogger("kube_workflows.runner")

UNSUPPORTED_LIBRARY = "UnsupportedLibrary"


def refuse(identity: RunnerIdentity, problem: str, reporter: Reporter | None = None) -> int:
    """Claim the run (status writes are fenced by attempt), record why it cannot run here, and return
    the exit code that fails it."""
    reporter = reporter or Reporter(identity.namespace, identity.name)
    log.error("not running %s/%s: %s", identity.namespace, identity.name, problem)
    try:
        run, attempt = reporter.claim(identity.pod)
    except NotClaimable:
        return exit_codes.NOT_CLAIMED
    except (ApiUnavailable, ApiError):
        return exit_codes.INFRASTRUCTURE
    if ((run.get("status") or {}).get("checkpoint") or {}).get("final"):
        return exit_codes.SUCCEEDED  # finished before this pod: nothing to refuse
    error = {"reason": UNSUPPORTED_LIBRARY, "type": UNSUPPORTED_LIBRARY, "message": problem, "step": None}
    try:
        reporter.write("recording the error", patches.error_patch(attempt, error))
    except (Superseded, ApiUnavailable, ApiError, StatusTooLarge) as exc:
        log.error("could not record the error: %s", exc)
    return exit_codes.INVALID_RUN


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    problem = library_version.problem()
    if problem is not None:
        return refuse(RunnerIdentity.from_env(), problem)
    from kube_workflows.runner.main import main as run

    return run()
