"""The dev tools find the checkout they are installed from (editable, by `make venv`)."""

from __future__ import annotations

from pathlib import Path

from kube_workflows_devtools import controlplane

REPO = Path(__file__).resolve().parents[2]


def test_the_control_plane_build_script_is_the_checkouts() -> None:
    # find_binaries builds the control plane with it when no cached binaries are found.
    assert controlplane.BUILD_SCRIPT == REPO / "hack" / "build-controlplane.sh"
    assert controlplane.BUILD_SCRIPT.is_file()
