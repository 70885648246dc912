"""`kwf runner`'s first acts: claim the run while the rest of the runner imports, and refuse an
unsupported llama-index-workflows with a reason in status.

The claim (a read and a compare-and-swap of the run, over the network) runs in a thread from the
moment the API client is importable, while this thread imports llama-index-workflows and the rest
of the runner (~0.2 s of CPU): the two overlap instead of adding up. It is the runner's first write
whichever way the start goes, as it was when it came after the imports; the user's workflow module
is imported only once the claim has succeeded (a pod that must not run imports none of its code).

The library check runs before anything that relies on the library's internals is imported (a
release that moved one would otherwise end the pod with an ImportError traceback). A refused run
fails at once (exit code INVALID_RUN; the Job's pod failure policy does not retry it) with
status.error.reason "UnsupportedLibrary", which the operator reports in the run's Failed condition.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from typing import Any

from kube_workflows.models import exit_codes
from kube_workflows.restclient import ApiError
from kube_workflows.runner import patches
from kube_workflows.runner.identity import RunnerIdentity
from kube_workflows.runner.reporter import ApiUnavailable, NotClaimable, Reporter, StatusTooLarge, Superseded

log = logging.getLogger("kube_workflows.runner")

UNSUPPORTED_LIBRARY = "UnsupportedLibrary"


Claimed = tuple[Reporter, dict[str, Any], int]


def claim_in_background(identity: RunnerIdentity, reporter: Reporter | None = None) -> Future[Claimed]:
    """Start claiming the run in a thread: (reporter, run, attempt), or the claim's exception
    (NotClaimable, ApiUnavailable, ApiError)."""
    claimed: Future[Claimed] = Future()

    def claim() -> None:
        try:
            owner = reporter or Reporter(identity.namespace, identity.name)
            run, attempt = owner.claim(identity.pod)
        except BaseException as exc:
            claimed.set_exception(exc)
        else:
            claimed.set_result((owner, run, attempt))

    threading.Thread(target=claim, name="claim", daemon=True).start()
    return claimed


def refuse(identity: RunnerIdentity, problem: str, claiming: Future[Claimed] | None = None) -> int:
    """Claim the run (status writes are fenced by attempt), record why it cannot run here, and return
    the exit code that fails it."""
    claiming = claiming or claim_in_background(identity)
    log.error("not running %s/%s: %s", identity.namespace, identity.name, problem)
    try:
        reporter, run, attempt = claiming.result()
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
    identity = RunnerIdentity.from_env()
    claiming = claim_in_background(identity)
    from kube_workflows.runtime import library_version  # importlib.metadata: ~10 ms the claim need not wait

    problem = library_version.problem()  # imports the library's internals: the claim is under way meanwhile
    if problem is not None:
        return refuse(identity, problem, claiming)
    from kube_workflows.runner.main import main as run

    return run(identity, claiming)
