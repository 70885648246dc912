"""The peer: the bench's StepChain on llama-agents-dbos's DBOSRuntime (SQLite), one process. Prints
{"step_seconds": ...}: the best of `--repeats` runs, per step (as bench.step_overhead measures the
plain in-process run). Run by bench/vs_dbos.py in a venv of its own (llama-agents-dbos needs dbos<3)."""

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--delay", type=float, default=0.01)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from dbos import DBOS
    from llama_agents.dbos import DBOSRuntime

    from kwf_testflows.steps import StepChain

    database = Path(tempfile.mkdtemp(prefix="kwf-bench-dbos-")) / "dbos.sqlite"
    DBOS(config={"name": "kwf-bench", "system_database_url": f"sqlite:///{database}", "run_admin_server": False})
    runtime = DBOSRuntime()
    workflow = StepChain(runtime=runtime)

    async def once(index: int) -> float:
        started = time.perf_counter()
        result = await workflow.run(run_id=f"chain-{index}", steps=args.steps, delay=args.delay)
        assert result["steps"] == args.steps, result
        return time.perf_counter() - started

    async def measure() -> float:
        await runtime.launch()
        return min([await once(i) for i in range(args.repeats)]) / (args.steps + 1)

    seconds = asyncio.run(measure())
    json.dump({"step_seconds": seconds}, sys.stdout)


if __name__ == "__main__":
    main()
