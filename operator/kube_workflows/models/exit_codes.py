"""Runner exit codes. The Job's podFailurePolicy fails the run at once on the permanent ones."""

SUCCEEDED = 0
WAITING = 0  # parked waiting for input: the Job completes, the operator starts the next one
WORKFLOW_RAISED = 3  # the workflow itself raised: retrying would raise again
INVALID_RUN = 4  # spec or checkpoint cannot work (import error, bad input, corrupt checkpoint)
INFRASTRUCTURE = 5  # API server unreachable beyond the retry budget: a new pod may do better
SUPERSEDED = 6  # a newer attempt owns the run; this stale pod stepped aside
NOT_CLAIMED = 7  # a late pod found the run finished, cancelled or suspended and left it alone

PERMANENT = (WORKFLOW_RAISED, INVALID_RUN)
# Neither the run's fault nor a retry used up: the Job's pod failure policy ignores these.
IGNORED = (NOT_CLAIMED,)
