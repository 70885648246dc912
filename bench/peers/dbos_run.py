"""The peer: a test workflow on llama-agents-dbos's DBOSRuntime (SQLite, or `--database-url`), in one process. Prints
{"seconds": ...}, the best of `--repeats` runs' wall time. Run by bench/vs_dbos.py in a venv of its own
(llama-agents-dbos needs dbos<3), with tests/workflows on PYTHONPATH."""

import argparse
import asyncio
import importlib
import json
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workflow", default="kwf_testflows.steps:StepChain", help="module:Class")
    parser.add_argument("--input", default="{}", help="start event fields, as JSON")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--database-url", help="DBOS's system database (default: SQLite in a temporary file)")
    args = parser.parse_args()

    from dbos import DBOS
    from llama_agents.dbos import DBOSRuntime

    module, _, name = args.workflow.partition(":")
    workflow_class = getattr(importlib.import_module(module), name)
    database = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp(prefix='kwf-bench-dbos-')) / 'dbos.sqlite'}"
    DBOS(config={"name": "kwf-bench", "system_database_url": database, "run_admin_server": False})
    runtime = DBOSRuntime()
    # No workflow timeout: the peer's per-step cost grows with the run, and a 2,000-step loop outlasts the
    # library's default 45 s on a busy machine; the bench measures that cost, not where a timeout cuts it.
    workflow = workflow_class(runtime=runtime, timeout=None)
    start = json.loads(args.input)

    async def once(index: int) -> float:
        started = time.perf_counter()
        await workflow.run(run_id=f"run-{index}", **start)
        return time.perf_counter() - started

    async def measure() -> float:
        await runtime.launch()
        return min([await once(i) for i in range(args.repeats)])

    json.dump({"seconds": asyncio.run(measure())}, sys.stdout)


if __name__ == "__main__":
    main()
