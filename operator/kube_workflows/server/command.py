"""`kwf serve`: the WorkflowServer API for one namespace (a `kube_workflows.cli` entry point)."""

from __future__ import annotations

import argparse

from kube_workflows.cli import api, plugins
from kube_workflows.server import handlers


@api.command
def _serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from kube_workflows.server.app import build_app
    except ImportError as exc:
        raise api.CliError(f"kwf serve needs the `serve` extra: pip install 'kube-workflows[serve]' ({exc})") from None

    namespace = api.namespace_of(args)
    api.err(f"serving the workflows (WorkflowTemplates) of namespace {namespace} on http://{args.host}:{args.port}")
    app = build_app(namespace, sse_heartbeat=args.sse_heartbeat or None, import_workflows=args.import_workflows)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return api.OK


def add_parser(sub: plugins.Subparsers) -> None:
    parser = sub.add_parser(
        "serve",
        help="serve llama-agents-server's WorkflowServer API over one namespace's templates and runs",
        description="The llama-agents client's API: WorkflowTemplates are the workflows, WorkflowRuns the "
        "handlers. It acts with its own Kubernetes identity (kubeconfig or ServiceAccount): see the README.",
    )
    api.namespace_flag(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    parser.add_argument(
        "--sse-heartbeat",
        type=float,
        default=handlers.SSE_HEARTBEAT_SECONDS,
        metavar="SECONDS",
        help="an SSE comment on an event stream quiet this long (default %(default)s; 0: none)",
    )
    parser.add_argument(
        "--no-import",
        dest="import_workflows",
        action="store_false",
        help="never import a template's spec.workflow to describe it for the debugger (schema, graph, events): "
        "describe every workflow generically, so no template chooses code this server runs",
    )
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    parser.set_defaults(func=_serve)
