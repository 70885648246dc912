"""Imports flow one way: models → checkpoint/builders → runtime → runner/controller → cli.

Every import in the package (module level or inside a function, which still couples the two) is read
with `ast` and checked against the layer of the module it comes from. A new subpackage must be given a
layer here, which is the moment to decide where it sits.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import kube_workflows

PACKAGE = Path(kube_workflows.__file__).parent

# Lower imports nothing higher; two different units of one layer do not import each other.
LAYERS: dict[str, int] = {
    "models": 0,  # the WorkflowRun contract: schema, child names, runner exit codes
    "checkpoint": 1,  # encode / chunk / offload a Context (pure)
    "kube": 1,  # the one place that creates API clients (the official client)
    "restclient": 1,  # the runner's small REST client, without the `kubernetes` package
    "builders": 2,  # WorkflowRun -> manifests (pure); reads checkpoint's chunk names
    "runtime": 3,  # the checkpointing runtime as a library, and the llama-index compatibility module
    "runner": 4,  # the pod's entrypoint, on top of runtime
    "controller": 4,
    "cli": 5,
    "server": 6,  # `kwf serve` (a CLI plugin on top of cli: the cli never imports it)
}
# `from kube_workflows import __version__` and friends: the root only imports lazily, inside functions.
ROOT = "__init__"


def unit_of(module: str) -> str:
    """`kube_workflows.runner.main` -> "runner"; the root package -> "__init__"."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """(line, absolute module) for every import of a kube_workflows module in `path` (or `source`)."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text() if source is None else source, str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from kube_workflows import kube` imports the submodule `kube`, not a root attribute.
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                if base == "kube_workflows" and (
                    (PACKAGE / f"{alias.name}.py").exists() or (PACKAGE / alias.name).is_dir()
                ):
                    found.append((node.lineno, candidate))
                else:
                    found.append((node.lineno, base))
    return [(line, name) for line, name in found if name.split(".")[0] == "kube_workflows"]


def upward_imports(path: Path, source: str | None = None) -> list[str]:
    importer = unit_of(module_name(path))
    if importer == ROOT:
        return []
    problems = []
    for line, imported in imported_modules(path, source):
        target = unit_of(imported)
        if target in (ROOT, importer):
            continue
        if LAYERS[target] >= LAYERS[importer]:
            problems.append(
                f"{path.relative_to(PACKAGE.parent)}:{line}: {importer} (layer {LAYERS[importer]}) imports "
                f"{imported} (layer {LAYERS[target]})"
            )
    return problems


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_unit_has_a_layer() -> None:
    units = {unit_of(module_name(path)) for path in SOURCES} - {ROOT}
    assert units <= set(LAYERS), f"give {sorted(units - set(LAYERS))} a layer in LAYERS"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_lower_layers(path: Path) -> None:
    assert upward_imports(path) == []


def test_the_check_catches_an_upward_import() -> None:
    """builders importing runner (the cycle this test was written against) is reported, nested or not."""
    job = PACKAGE / "builders" / "job.py"
    source = job.read_text() + "\ndef late():\n    from kube_workflows.runner import patches\n"
    assert upward_imports(job, source) == [
        f"kube_workflows/builders/job.py:{source.count(chr(10))}: builders (layer 2) imports "
        "kube_workflows.runner (layer 4)"
    ]
    relative = job.read_text() + "\nfrom ..runner import patches\n"
    assert len(upward_imports(job, relative)) == 1


def test_root_imports_nothing_at_module_level() -> None:
    """`import kube_workflows` stays cheap and cycle-free: its imports sit inside functions."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    top_level = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    assert all(n.module in ("__future__", "typing") for n in top_level if isinstance(n, ast.ImportFrom))
    assert not [n for n in top_level if isinstance(n, ast.Import)]


def test_root_declares_its_public_names() -> None:
    assert sorted(kube_workflows.__all__) == ["__version__", "idempotency_key"]
    for name in kube_workflows.__all__:
        assert getattr(kube_workflows, name) is not None
