"""`PostgresStore` without its extra: the package still imports, and the error names what to install.
(The store itself is tested against a real PostgreSQL in tests/integration/test_runtime_stores.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# `sys.modules["psycopg"] = None` makes `import psycopg` fail as if it were not installed.
SCRIPT = """
import sys
sys.modules["psycopg"] = None
import kube_workflows.runtime as runtime
print(runtime.SqliteStore.__name__)
try:
    runtime.PostgresStore
except ImportError as exc:
    print(exc)
"""


def test_without_psycopg_the_runtime_imports_and_postgres_store_names_the_extra() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "operator")}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "SqliteStore",
        "kube_workflows.runtime.PostgresStore needs psycopg 3: pip install 'kube-workflows[postgres]'",
    ]
