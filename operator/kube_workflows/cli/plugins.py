"""Extra `kwf` subcommands from other installed distributions, through the `kube_workflows.cli` entry points.

An entry point names a callable that takes the subparsers action and adds its command(s) to it, e.g. in a
plugin's pyproject.toml:

    [project.entry-points."kube_workflows.cli"]
    dev = "kube_workflows_devtools.cli:add_parser"

The dev tools (`devtools/` in the repository, distribution `kube-workflows-devtools`) register `dev` this
way, so the product wheel and image carry no dev-cluster code. Without them, `kwf dev` says how to get it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import TypeAlias

GROUP = "kube_workflows.cli"
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
AddParser: TypeAlias = Callable[[Subparsers], None]

# Commands the CLI knows by name even when the distribution that provides them is not installed.
KNOWN = {
    "dev": (
        "a local control plane + local node, for development and tests (needs the dev tools)",
        "`kwf dev` comes with the dev tools, which are not installed: from a kube-workflows checkout run "
        "`make venv`, or `pip install -e ./devtools`",
    ),
}


def add_plugin_parsers(sub: Subparsers, plugins: list[EntryPoint] | None = None) -> None:
    """Let each installed plugin add its commands; a known command with no plugin explains how to get it."""
    found = {ep.name: ep for ep in (entry_points(group=GROUP) if plugins is None else plugins)}
    for name in sorted(found.keys() | KNOWN.keys()):
        if name in found:
            try:
                add: AddParser = found[name].load()
            except ImportError as exc:
                _add_missing(sub, name, f"`kwf {name}` is installed ({found[name].value}) but cannot load: {exc}")
                continue
            add(sub)
        else:
            help_text, message = KNOWN[name]
            _add_missing(sub, name, message, help_text)


def _add_missing(sub: Subparsers, name: str, message: str, help_text: str | None = None) -> None:
    # Whatever follows (`kwf dev --data-dir d up`), options included, is taken as plain words (no prefix
    # character starts an option here), so the message, not a usage error, is what prints.
    parser = sub.add_parser(name, help=help_text or message, add_help=False, prefix_chars="\0")
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    parser.set_defaults(func=_explain(message))


def _explain(message: str) -> Callable[[argparse.Namespace], int]:
    def explain(_: argparse.Namespace) -> int:
        print(f"kwf: {message}", file=sys.stderr)
        return 2

    return explain
