"""The product wheel (`pip wheel .`) carries the operator, runner and CLI, and none of the dev tools.

The dev cluster lives in devtools/ (distribution kube-workflows-devtools); neither its modules nor its
`cryptography` dependency may leak into the wheel that users install and the image is built from.
"""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import zipfile
from email.message import Message
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Local state, not sources: a checkout builds the same wheel without it. build/ and dist/ only at the top
# (the package's server/ui/dist/ is the debugger UI's files).
NOT_SOURCES = (".git", ".venv", "*.egg-info", "__pycache__", ".*_cache")
NOT_SOURCES_AT_THE_TOP = {"build", "dist"}


def not_sources(directory: str, names: list[str]) -> set[str]:
    ignored = set(shutil.ignore_patterns(*NOT_SOURCES)(directory, names))
    return ignored | (NOT_SOURCES_AT_THE_TOP & set(names) if Path(directory) == REPO else set())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    tmp = tmp_path_factory.mktemp("wheel")
    checkout = tmp / "checkout"
    # A copy, so setuptools' build/ and egg-info land there and not in the working tree.
    shutil.copytree(REPO, checkout, ignore=not_sources)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # No build isolation: the venv's setuptools (dev extras), so the build needs no index.
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp), "."],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"pip wheel . failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    (built,) = tmp.glob("kube_workflows-*.whl")
    return zipfile.ZipFile(built)


def metadata(wheel: zipfile.ZipFile) -> Message:
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    return email.message_from_bytes(wheel.read(name))


def test_wheel_holds_the_product(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for module in ("cli/main.py", "cli/plugins.py", "controller/operator.py", "runner/main.py", "models/crd.py"):
        assert f"kube_workflows/{module}" in names, f"{module} is missing from the wheel"
    # The debugger UI `kwf serve` serves, npm's files included (hack/fetch-debugger.py puts them in the tree).
    for data in ("index.html", "debugger.json", "dist/app.js", "dist/app.css"):
        assert f"kube_workflows/server/ui/{data}" in names, f"server/ui/{data} is missing from the wheel"


def test_wheel_has_no_dev_tools(wheel: zipfile.ZipFile) -> None:
    leaked = [n for n in wheel.namelist() if "devcluster" in n or "devtools" in n or n.startswith("tests/")]
    assert not leaked, f"dev-only files in the product wheel: {leaked}"
    top_level = {n.split("/", 1)[0] for n in wheel.namelist() if not n.split("/", 1)[0].endswith(".dist-info")}
    assert top_level == {"kube_workflows"}, top_level


def test_wheel_does_not_require_cryptography(wheel: zipfile.ZipFile) -> None:
    requires = metadata(wheel).get_all("Requires-Dist") or []
    assert requires, "the wheel's metadata lists no requirements at all"
    assert not [r for r in requires if r.lower().startswith("cryptography")], requires
