"""`kwf send-event|suspend|resume|cancel|fork`: steer a WorkflowRun on its way, or branch off one.

send-event answers a run that waits for input (it appends to spec.events); suspend, resume and cancel
set spec.suspend and spec.cancel; fork creates a new run from one of a run's kept checkpoints. The
operator does the rest: these commands change the spec, say what happens next and, with --wait,
follow it. The patches and specs they send are built in `specs`.
"""

from __future__ import annotations

import argparse
import json

from kube_workflows.cli import render, specs
from kube_workflows.cli.api import (
    EXIT_CODES,
    FAILED,
    JSON_PATCH,
    MERGE_PATCH,
    OK,
    USAGE,
    CliError,
    Json,
    command,
    create_run,
    err,
    namespace_flag,
    namespace_of,
    out,
    patch_run,
    print_objects,
    read_run,
    wait_timeout_flag,
    with_outputs,
)
from kube_workflows.cli.runs import report_created
from kube_workflows.cli.watch import wait_for_run

MAX_TRIES = 5  # reads and patches when other writers keep changing spec.events under us


def _refuse(run: Json, command_name: str) -> None:
    reason = specs.refusal(run, command_name)
    if reason:
        raise CliError(reason)


def _print_result(run: Json, output: str | None, line: str) -> None:
    if output in ("json", "yaml"):
        print_objects([run], output, as_list=False)
    elif output == "name":
        out(f"{render.RESOURCE}/{run['metadata']['name']}")
    else:
        out(line)


# --- kwf send-event --------------------------------------------------------------------------
def _send(namespace: str, name: str, event: Json) -> tuple[Json, int, bool]:
    """Patch the event in: (the patched run, its spec.events index, whether it replaced a rejected one).

    A failed `test` op (someone changed spec.events since we read it) comes back as 422: read again.
    """
    from kubernetes.client.exceptions import ApiException

    for attempt in range(1, MAX_TRIES + 1):
        run = read_run(namespace, name)
        _refuse(run, "send-event")
        patch, index = specs.event_patch(run, event)
        try:
            patched = patch_run(namespace, name, patch, JSON_PATCH)
        except ApiException as exc:
            if exc.status == 422 and patch[0]["op"] == "test" and attempt < MAX_TRIES:
                continue
            raise
        if index is None:  # appended: ours is the last entry of the list the patch left
            index = len((patched.get("spec") or {}).get("events") or []) - 1
        return patched, index, patch[-1]["op"] == "replace"
    raise AssertionError("unreachable")  # pragma: no cover - the last attempt returns or raises


@command
def _send_event(args: argparse.Namespace) -> int:
    try:
        event = specs.parse_event(args.data, args.type)
    except ValueError as exc:
        raise CliError(str(exc), USAGE) from None
    namespace, name = namespace_of(args), args.run
    patched, index, replaced = _send(namespace, name, event)
    if not args.wait:
        _print_result(patched, args.output, render.sent_line(patched, index, replaced=replaced))
        return OK
    err(render.sent_line(patched, index, replaced=replaced) + "; waiting for the run to take it")
    generation = (patched.get("metadata") or {}).get("generation")
    run = wait_for_run(
        namespace,
        name,
        args.wait_timeout,
        until=lambda r: specs.event_outcome(r, index, generation) is not None,
        since=render.status_of(patched),
    )
    outcome = specs.event_outcome(run, index, generation)
    if outcome == "rejected":
        error = (render.status_of(run).get("waiting") or {}).get("error")
        raise CliError(f"spec.events[{index}] was not accepted: {error}; send another: {render.answer_hint(run)}")
    phase = render.status_of(run).get("phase")
    ended = phase in ("Failed", "Cancelled")
    if ended:
        for line in render.failure_lines(run):
            err(line)
    if args.output in ("json", "yaml"):
        print_objects([run], args.output, as_list=False)
    elif phase == "Succeeded":
        err(render.success_line(run))
        out(json.dumps(render.status_of(with_outputs(run)).get("result"), ensure_ascii=False))
    elif not ended:
        out(render.state_line(run))  # the next question, or where it runs now
    return FAILED if ended else OK


# --- kwf suspend / resume / cancel -----------------------------------------------------------
def _set_spec(args: argparse.Namespace, field: str, value: bool) -> int:
    """Merge-patch one boolean of spec (suspend, cancel) and say what happens next."""
    namespace = namespace_of(args)
    run = read_run(namespace, args.run)
    _refuse(run, args.command)
    if bool((run.get("spec") or {}).get(field)) == value:
        _print_result(run, args.output, render.steer_line(run, args.command, unchanged=True))
        return OK
    patched = patch_run(namespace, args.run, {"spec": {field: value}}, MERGE_PATCH)
    _print_result(patched, args.output, render.steer_line(patched, args.command))
    return OK


@command
def _suspend(args: argparse.Namespace) -> int:
    return _set_spec(args, "suspend", True)


@command
def _resume(args: argparse.Namespace) -> int:
    return _set_spec(args, "suspend", False)


@command
def _cancel(args: argparse.Namespace) -> int:
    return _set_spec(args, "cancel", True)


# --- kwf fork --------------------------------------------------------------------------------
@command
def _fork(args: argparse.Namespace) -> int:
    try:
        if args.name:
            specs.check_name(args.name)
    except ValueError as exc:
        raise CliError(str(exc), USAGE) from None
    namespace = namespace_of(args)
    source = read_run(namespace, args.run)
    try:
        specs.check_fork_seq(source, args.from_seq)
    except ValueError as exc:
        raise CliError(str(exc), USAGE) from None
    body = specs.build_fork(source, args.from_seq, name=args.name, image=args.image)
    created = create_run(namespace, body)
    return report_created(created, args, note=f": continues {args.run} from its checkpoint {args.from_seq}")


# --- argparse -----------------------------------------------------------------------------
def _seq(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a checkpoint number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: checkpoints are numbered from 1")
    return number


def _output_flag(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "-o", "--output", choices=["name", "json", "yaml"], help=f"print the run's name or {what} instead"
    )


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register send-event, suspend, resume, cancel and fork."""
    fmt = argparse.RawDescriptionHelpFormatter

    send = sub.add_parser(
        "send-event",
        help="answer a run that waits for input (appends to spec.events)",
        formatter_class=fmt,
        epilog="examples:\n"
        '  kwf send-event chat --data \'{"response": "Ada"}\' --wait\n'
        "  kwf send-event review --type my_pkg.events:Approval --data '{\"approved\": true}'\n\n"
        "Events are delivered in order, one per wait; one sent while the run is busy answers its next wait.\n"
        "An answer the run did not accept (kwf describe shows why) is replaced by the next one sent.\n"
        "With --wait: wait until the run asks its next question or finishes, and print that.\n\n" + EXIT_CODES,
    )
    send.add_argument("run", metavar="RUN")
    send.add_argument("--data", required=True, metavar="JSON", help='the event\'s fields, e.g. \'{"response": "yes"}\'')
    send.add_argument(
        "--type",
        metavar="MODULE:CLASS",
        help="the event class (default: the one the run waits for; HumanResponseEvent after an InputRequiredEvent)",
    )
    namespace_flag(send)
    send.add_argument("--wait", action="store_true", help="wait until the run asks again or finishes")
    wait_timeout_flag(send)
    _output_flag(send, "the object (with --wait: once it took the event)")
    send.set_defaults(func=_send_event)

    for name, func, help_text in (
        ("suspend", _suspend, "stop a run after its current step's checkpoint, until resumed (spec.suspend)"),
        ("resume", _resume, "let a suspended run go on from its checkpoint (spec.suspend: false)"),
        ("cancel", _cancel, "stop a run for good: it ends Cancelled and cannot be resumed (spec.cancel)"),
    ):
        steer = sub.add_parser(name, help=help_text, formatter_class=fmt, epilog=EXIT_CODES)
        steer.add_argument("run", metavar="RUN")
        namespace_flag(steer)
        _output_flag(steer, "the patched object")
        steer.set_defaults(func=func)

    fork = sub.add_parser(
        "fork",
        help="start a new run from one of a run's kept checkpoints (spec.contextFrom {name, seq})",
        formatter_class=fmt,
        epilog="examples:\n"
        "  kwf fork chat --from-seq 3 --wait\n"
        "  kwf fork pipeline --from-seq 7 --name pipeline-fixed --image registry/flows:1.2.1\n\n"
        "The fork runs the source's workflow with its pod, retry, checkpoint and timeout settings (not its\n"
        "input, events, suspend or cancel) and continues from that checkpoint. A run keeps its current\n"
        "checkpoint, plus the last K with spec.checkpoint.history: K (kwf submit --keep-checkpoints K);\n"
        "kwf describe lists them under Fork points.\n\n" + EXIT_CODES,
    )
    fork.add_argument("run", metavar="RUN", help="the run to fork")
    fork.add_argument("--from-seq", type=_seq, required=True, metavar="N", help="the checkpoint to continue from")
    fork.add_argument("--name", help="metadata.name of the new run (default: RUN-fork-N)")
    fork.add_argument("--image", help="spec.image of the new run (default: the source's)")
    namespace_flag(fork)
    fork.add_argument("--wait", action="store_true", help="follow the new run until it Succeeded (0) or not (1)")
    wait_timeout_flag(fork)
    _output_flag(fork, "the object (with --wait: the finished object)")
    fork.set_defaults(func=_fork)
