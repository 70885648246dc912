"""`kwf` subcommands from other distributions: the dev tools' `kwf dev`, and what `kwf dev` says without them."""

from __future__ import annotations

import argparse
from importlib.metadata import EntryPoint, entry_points

import pytest

from kube_workflows.cli import main as cli_main
from kube_workflows.cli import plugins

DEV = EntryPoint(name="dev", value="kube_workflows_devtools.cli:add_parser", group=plugins.GROUP)


def without_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugins, "entry_points", lambda group: [])


@pytest.mark.parametrize(
    "argv",
    [["dev"], ["dev", "up"], ["dev", "--data-dir", "/tmp/x", "up", "--bin-dir", "/b"], ["dev", "kill", "ns/p"]],
)
def test_without_the_dev_tools_kwf_dev_says_how_to_get_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    without_plugins(monkeypatch)
    assert cli_main.main(argv) == 2
    err = capsys.readouterr().err
    assert "dev tools" in err and "not installed" in err
    assert "make venv" in err and "pip install -e ./devtools" in err


def test_without_the_dev_tools_help_still_lists_dev(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    without_plugins(monkeypatch)
    with pytest.raises(SystemExit):
        cli_main.main(["--help"])
    assert "needs the dev tools" in capsys.readouterr().out


def test_the_dev_tools_register_kwf_dev() -> None:
    # This checkout's venv has devtools/ installed (make venv): its metadata names the entry point.
    registered = {ep.name: ep.value for ep in entry_points(group=plugins.GROUP)}
    assert registered.get("dev") == DEV.value


def test_an_installed_plugin_adds_its_own_parser() -> None:
    parser = argparse.ArgumentParser(prog="kwf")
    plugins.add_plugin_parsers(parser.add_subparsers(dest="command"), [DEV])
    args = parser.parse_args(["dev", "--data-dir", "/tmp/d", "up", "--bin-dir", "/tmp/b"])
    assert (args.dev_command, str(args.data_dir), str(args.bin_dir)) == ("up", "/tmp/d", "/tmp/b")
    assert args.func.__module__ == "kube_workflows_devtools.cli"


def test_a_plugin_that_cannot_load_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    broken = EntryPoint(name="dev", value="kube_workflows_no_such_module:add_parser", group=plugins.GROUP)
    parser = argparse.ArgumentParser(prog="kwf")
    plugins.add_plugin_parsers(parser.add_subparsers(dest="command"), [broken])
    args = parser.parse_args(["dev", "up"])
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert "cannot load" in err and "kube_workflows_no_such_module" in err
