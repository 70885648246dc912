"""`kwf submit|get|describe`: create WorkflowRuns and look at them.

Handlers are thin: they read from the API (through `api`) and print what the pure functions in
`render` and `describe` make of it. Errors go to stderr and end in one of `api.EXIT_CODES`.
"""

from __future__ import annotations

import argparse
import json

from kube_workflows.cli import describe, render, specs
from kube_workflows.cli.api import (
    EXIT_CODES,
    FAILED,
    OK,
    USAGE,
    CliError,
    Json,
    command,
    create_run,
    err,
    items_or_none,
    namespace_flag,
    namespace_of,
    now,
    out,
    print_objects,
    raw,
    read_run,
    runner_pods,
    wait_timeout_flag,
    with_outputs,
)
from kube_workflows.cli.watch import wait_for_run


# --- kwf submit ---------------------------------------------------------------------------
def build_run(args: argparse.Namespace) -> Json:
    """The WorkflowRun to create, validated locally; CliError(exit 2) names the bad field or flag."""
    from pydantic import ValidationError

    from kube_workflows.models import GROUP, KIND, VERSION, WorkflowRunSpec

    try:
        run_input = specs.parse_input(args.input or [], args.input_json)
        if args.name:
            specs.check_name(args.name)
    except ValueError as exc:
        raise CliError(str(exc), USAGE) from None
    spec: Json = {"workflow": args.workflow}
    if run_input:
        spec["input"] = run_input
    optional = {
        "image": args.image,
        "contextFrom": {"name": args.context_from} if args.context_from is not None else None,
        "timeoutSeconds": args.timeout,
        "stepTimeoutSeconds": args.step_timeout,
        "waitTimeoutSeconds": args.input_timeout,
        "ttlSecondsAfterFinished": args.ttl,
    }
    spec.update({k: v for k, v in optional.items() if v is not None})
    if args.max_restarts is not None:
        spec["retry"] = {"maxRestarts": args.max_restarts}
    if args.keep_checkpoints is not None:
        spec["checkpoint"] = {"history": args.keep_checkpoints}
    try:
        WorkflowRunSpec.model_validate(spec)
    except ValidationError as exc:
        raise CliError("invalid WorkflowRun:\n  " + "\n  ".join(specs.spec_errors(exc.errors(), spec)), USAGE) from None
    metadata: Json = {"name": args.name} if args.name else {"generateName": specs.generate_name(args.workflow)}
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": metadata, "spec": spec}


@command
def _submit(args: argparse.Namespace) -> int:
    body = build_run(args)
    created = create_run(namespace_of(args), body, rename="choose another --name (or leave it out for a generated one)")
    return report_created(created, args)


def report_created(created: Json, args: argparse.Namespace, note: str = "") -> int:
    """Print a new run as --output asks; with --wait, follow it to the end and print its result."""
    name, namespace = created["metadata"]["name"], created["metadata"]["namespace"]
    created_line = f"{render.RESOURCE}/{name} created{note}"
    if not args.wait:
        if args.output == "name":
            out(f"{render.RESOURCE}/{name}")
        elif args.output in ("json", "yaml"):
            print_objects([created], args.output, as_list=False)
        else:
            out(created_line)
        return OK
    err(f"{created_line} in namespace {namespace}; waiting for it to finish")
    run = wait_for_run(namespace, name, args.wait_timeout)
    status = run.get("status") or {}
    if args.output in ("json", "yaml"):
        print_objects([run], args.output, as_list=False)
    if status.get("phase") != "Succeeded":
        for line in render.failure_lines(run):
            err(line)
        err(f"details: kwf describe {name} -n {namespace}; kwf logs {name} -n {namespace} --all-attempts")
        return FAILED
    err(render.success_line(run))
    if args.output == "name":
        out(f"{render.RESOURCE}/{name}")
    elif args.output is None:
        out(json.dumps(render.status_of(with_outputs(run)).get("result"), ensure_ascii=False))
    return OK


# --- kwf get / describe -------------------------------------------------------------------
MAX_WAITING_HINTS = 5


@command
def _get(args: argparse.Namespace) -> int:
    from kube_workflows import kube

    if args.run and args.all_namespaces:
        raise CliError("a run name needs one namespace: use -n NAMESPACE instead of -A", USAGE)
    namespace = None if args.all_namespaces else namespace_of(args)
    api = kube.custom_objects()
    if args.run and namespace:
        runs = [read_run(namespace, args.run)]
    elif namespace:
        runs = raw(api.list_namespaced_custom_object, namespace=namespace, **kube.WORKFLOWRUN).get("items") or []
    else:
        runs = raw(api.list_cluster_custom_object, **kube.WORKFLOWRUN).get("items") or []
    runs.sort(key=lambda r: (r.get("metadata", {}).get("namespace", ""), r.get("metadata", {}).get("name", "")))
    if args.output in ("json", "yaml"):
        print_objects(runs, args.output, as_list=not args.run)
        return OK
    if not runs:
        err("No WorkflowRuns found" + (f" in namespace {namespace}." if namespace else "."))
        return OK
    out(render.runs_table(runs, now(), wide=args.output == "wide", all_namespaces=args.all_namespaces))
    # Runs that wait for a person: the question and the answer command, on stderr to keep the table clean.
    waiting = [r for r in runs if render.status_of(r).get("phase") == "Waiting"]
    for run in waiting[:MAX_WAITING_HINTS]:
        for line in render.waiting_lines(with_outputs(run)):
            err(line)
    if len(waiting) > MAX_WAITING_HINTS:
        err(f"… and {len(waiting) - MAX_WAITING_HINTS} more waiting for input (kwf describe RUN)")
    return OK


@command
def _describe(args: argparse.Namespace) -> int:
    from kubernetes.client.exceptions import ApiException

    from kube_workflows import kube
    from kube_workflows.models.names import bounded_name

    namespace = namespace_of(args)
    run = with_outputs(read_run(namespace, args.run))
    job_name = (run.get("status") or {}).get("jobName") or bounded_name(args.run)
    job: Json | None = None
    try:
        job = raw(kube.batch().read_namespaced_job, job_name, namespace)
    except ApiException as exc:
        if exc.status not in (403, 404):
            raise
    events = items_or_none(
        kube.core().list_namespaced_event, namespace, field_selector=f"involvedObject.name={args.run}"
    )
    if events is not None and job_name != args.run:
        events += (
            items_or_none(
                kube.core().list_namespaced_event, namespace, field_selector=f"involvedObject.name={job_name}"
            )
            or []
        )
    pods = runner_pods(namespace, args.run)
    out(describe.describe(run, job=job, pods=pods, events=events, now=now()))
    return OK


# --- argparse -----------------------------------------------------------------------------
def add_parsers(parser: argparse.ArgumentParser, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register submit, get and describe; put the exit codes in `kwf --help`."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXIT_CODES
    fmt = argparse.RawDescriptionHelpFormatter

    submit = sub.add_parser(
        "submit",
        help="create a WorkflowRun (with --wait: follow it step by step and print its result)",
        formatter_class=fmt,
        epilog="examples:\n"
        "  kwf submit my_pkg.flows:DocumentPipeline --input documents=20 --wait\n"
        '  kwf submit my_pkg.flows:Flow --name second --context-from first --input-json \'{"topic": "x"}\'\n\n'
        "--input values are JSON when they parse as JSON (n=3 → 3, flag=true → true), else strings.\n"
        "With --wait, progress goes to stderr and the result (JSON) to stdout; a run that waits for\n"
        "input shows its question and goes on once someone answers it (kwf send-event).\n\n" + EXIT_CODES,
    )
    submit.add_argument("workflow", metavar="MODULE:ATTR", help='spec.workflow, e.g. "my_pkg.flows:MyWorkflow"')
    submit.add_argument("--name", help="metadata.name (default: generated from the workflow's name)")
    namespace_flag(submit)
    submit.add_argument(
        "--input", action="append", metavar="KEY=VALUE", help="one spec.input field (repeatable; JSON values)"
    )
    submit.add_argument("--input-json", metavar="JSON", help="spec.input as a JSON object (--input adds to it)")
    submit.add_argument("--image", help="spec.image (default: the operator's runner image)")
    submit.add_argument(
        "--context-from", metavar="RUN", help="spec.contextFrom.name: start from a Succeeded run's final Context"
    )
    submit.add_argument("--timeout", type=int, metavar="S", help="spec.timeoutSeconds: wall-clock limit of the pods")
    submit.add_argument("--step-timeout", type=float, metavar="S", help="spec.stepTimeoutSeconds")
    submit.add_argument(
        "--input-timeout", type=int, metavar="S", help="spec.waitTimeoutSeconds: fail after waiting S s for input"
    )
    submit.add_argument("--max-restarts", type=int, metavar="N", help="spec.retry.maxRestarts (default 3)")
    submit.add_argument(
        "--keep-checkpoints",
        type=int,
        metavar="K",
        help="spec.checkpoint.history: keep the last K checkpoints to fork from (kwf fork)",
    )
    submit.add_argument("--ttl", type=int, metavar="S", help="spec.ttlSecondsAfterFinished")
    submit.add_argument("--wait", action="store_true", help="follow the run until it Succeeded (0) or not (1)")
    wait_timeout_flag(submit)
    submit.add_argument(
        "-o",
        "--output",
        choices=["name", "json", "yaml"],
        help="print the run's name or the object (with --wait: the finished object) instead of the default",
    )
    submit.set_defaults(func=_submit)

    get = sub.add_parser(
        "get",
        help="list WorkflowRuns, or show one",
        formatter_class=fmt,
        epilog="STEP is the step running now, else the last one completed; CHECKPOINT is status.checkpoint.seq.\n"
        "Runs waiting for input are followed by their question and the command that answers it (stderr).\n\n"
        + EXIT_CODES,
    )
    get.add_argument("run", nargs="?", metavar="RUN", help="a WorkflowRun name (default: all in the namespace)")
    namespace_flag(get)
    get.add_argument("-A", "--all-namespaces", action="store_true", help="list WorkflowRuns in every namespace")
    get.add_argument("-o", "--output", choices=["wide", "json", "yaml"], help="wide adds WORKFLOW, ATTEMPT, RESULT")
    get.set_defaults(func=_get)

    describe_cmd = sub.add_parser(
        "describe",
        help="a WorkflowRun in detail: conditions, what it waits for, events sent, checkpoints, steps, pods",
        formatter_class=fmt,
        epilog=EXIT_CODES,
    )
    describe_cmd.add_argument("run", metavar="RUN")
    namespace_flag(describe_cmd)
    describe_cmd.set_defaults(func=_describe)
