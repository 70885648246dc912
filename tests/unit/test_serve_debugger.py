"""The debugger UI's files in the package are the npm release `ui/debugger.json` records, and that is the
release llama-agents-server's own page loads from its CDN."""

from __future__ import annotations

import re
import shutil
from importlib import resources
from pathlib import Path

from kube_workflows.server import debugger


def test_the_installed_files_are_the_recorded_release() -> None:
    # `make venv` (hack/fetch-debugger.py) installs them; a missing or changed file fails here.
    assert debugger.problems() == [], "install them: python3 hack/fetch-debugger.py (make venv does)"
    wanted = debugger.manifest()
    assert (wanted.package, wanted.version) == ("@llamaindex/workflow-debugger", "0.2.42")
    assert wanted.tarball == "@llamaindex/workflow-debugger/-/workflow-debugger-0.2.42.tgz"
    assert wanted.integrity.startswith("sha512-") and sorted(wanted.files) == ["dist/app.css", "dist/app.js"]


def test_the_recorded_release_is_the_one_upstreams_page_loads() -> None:
    upstream = resources.files("llama_agents.server").joinpath("static/index.html").read_text()
    wanted = debugger.manifest()
    loaded = set(re.findall(r'(?:src|href)="https://cdn\.jsdelivr\.net/npm/([^"]+)"', upstream))
    assert loaded == {f"{wanted.package}@{wanted.version}/{name}" for name in wanted.files}


def test_the_page_loads_the_recorded_files_from_here() -> None:
    page = (debugger.UI_DIR / "index.html").read_text()
    loaded = set(re.findall(r'(?:src|href)="([^"]+)"', page))
    assert loaded == set(debugger.manifest().files)


def test_a_changed_or_missing_file_is_named(tmp_path: Path) -> None:
    copy = tmp_path / "ui"
    shutil.copytree(debugger.UI_DIR, copy)
    assert debugger.problems(copy) == []
    (copy / "dist" / "app.css").write_bytes(b"body{}")
    (copy / "dist" / "app.js").unlink()
    assert debugger.problems(copy) == [
        "dist/app.css is not the one of @llamaindex/workflow-debugger@0.2.42",
        "dist/app.js is missing",
    ]


def test_integrity_is_npms() -> None:
    # `npm view @llamaindex/workflow-debugger@0.2.42 dist.integrity` is of this form; for b"": the known digest.
    assert debugger.integrity(b"") == (
        "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=="
    )
