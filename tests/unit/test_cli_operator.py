"""`kwf operator` parses its arguments with a parser of its own (build_operator_parser), which must
accept what the full CLI accepts for it."""

from __future__ import annotations

from kube_workflows.cli.main import build_operator_parser, build_parser


def test_operator_parser_matches_the_full_cli() -> None:
    argv = ["operator", "-n", "team-a", "--namespace", "team-b", "--peering", "ha", "--metrics-port", "9090"]
    alone, full = build_operator_parser().parse_args(argv), build_parser().parse_args(argv)
    assert vars(alone) == vars(full)
    assert alone.namespace == ["team-a", "team-b"]
