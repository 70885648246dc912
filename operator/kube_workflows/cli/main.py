"""`kwf`: operator, runner, CRD and run commands behind one command; plugins (the dev tools' `kwf dev`) add more."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import kube_workflows

if TYPE_CHECKING:
    import argparse


def _operator(args: argparse.Namespace) -> int:
    from kube_workflows.controller.operator import run_operator

    namespaces = [n for n in (args.namespace or []) if n]
    run_operator(
        namespaces, peering=args.peering, liveness=args.liveness, metrics_port=args.metrics_port, priority=args.priority
    )
    return 0


def _runner(_: argparse.Namespace | None = None) -> int:
    from kube_workflows.runner.startup import main as runner_main

    return runner_main()


def _crd(args: argparse.Namespace) -> int:
    from kube_workflows.models.crd import render_crd_yaml

    sys.stdout.write(render_crd_yaml(args.plural))
    return 0


def _add_operator_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    op = sub.add_parser("operator", help="run the operator (watches WorkflowRuns, runs each in a Job)")
    op.add_argument(
        "--namespace",
        "-n",
        action="append",
        help="watch only this namespace (repeatable); default: the whole cluster",
    )
    op.add_argument("--peering", metavar="NAME", help="kopf peering object name, for several replicas (HA)")
    op.add_argument("--liveness", metavar="URL", help="serve a liveness probe, e.g. http://0.0.0.0:8080/healthz")
    op.add_argument("--metrics-port", type=int, metavar="PORT", help="serve Prometheus metrics on this port")
    op.add_argument("--priority", type=int, help="kopf peering priority (default: random per replica)")
    op.set_defaults(func=_operator)


def _root_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction[argparse.ArgumentParser]]:
    import argparse

    parser = argparse.ArgumentParser(prog="kwf", description="Durable llama-index-workflows runs on Kubernetes.")
    parser.add_argument("--version", action="version", version=f"kwf {kube_workflows.__version__}")
    return parser, parser.add_subparsers(dest="command", required=True, metavar="COMMAND")


def build_operator_parser() -> argparse.ArgumentParser:
    """`kwf` with only the operator command: the operator process needs none of the others' imports
    (the run commands' rendering, the dev tools' plugin with its PKI), ~10 MB of its memory."""
    parser, sub = _root_parser()
    _add_operator_parser(sub)
    return parser


def build_parser() -> argparse.ArgumentParser:
    from kube_workflows.cli import logs, plugins, runs, steer, watch

    parser, sub = _root_parser()
    runs.add_parsers(parser, sub)
    logs.add_parser(sub)
    watch.add_parser(sub)
    steer.add_parsers(sub)

    _add_operator_parser(sub)

    sub.add_parser("runner", help="run one WorkflowRun (the entrypoint of its pod)").set_defaults(func=_runner)
    crd = sub.add_parser(
        "crd", help="print the CustomResourceDefinitions (WorkflowRun, CronWorkflowRun, WorkflowTemplate)"
    )
    crd.add_argument(
        "plural", nargs="?", choices=["workflowruns", "cronworkflowruns", "workflowtemplates"], help="only this one"
    )
    crd.set_defaults(func=_crd)
    plugins.add_plugin_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    if (sys.argv[1:] if argv is None else argv) == ["runner"]:
        # A runner pod's command: skip the CLI's imports (argparse included), which would add ~0.4 s to
        # every (re)start.
        return _runner()
    command = sys.argv[1:2] if argv is None else argv[:1]
    args = (build_operator_parser() if command == ["operator"] else build_parser()).parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
