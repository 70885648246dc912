"""Timestamps for the start and resume benchmarks (bench/start.py, bench/resume.py).

`StampChain`: `steps` steps of `delay` seconds each (default 3, 0). Each step appends a line to the
file `stamps` as it begins: "<step> <started> <pid> <process started>" (epoch seconds; step 0 is
the first step). `python -m kwf_testflows.stamps FILE` appends the same line for step -1 and exits:
a container that only starts.
"""

import asyncio
import os
import sys
import time

from workflows import Context, Workflow, step
from workflows.events import Event, StartEvent, StopEvent


def process_started() -> float:
    """When this process was forked (epoch seconds, to 1/CLK_TCK): /proc counts from boot."""
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    since_boot = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime
    return time.time() - (time.clock_gettime(time.CLOCK_BOOTTIME) - since_boot)


def stamp(path: str, step: int) -> None:
    line = f"{step} {time.time():.6f} {os.getpid()} {process_started():.6f}\n"
    with open(path, "a") as f:
        f.write(line)


class Next(Event):
    i: int


class StampChain(Workflow):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> Next | StopEvent:
        stamp(ev.get("stamps"), 0)
        async with ctx.store.edit_state() as state:
            state["stamps"] = ev.get("stamps")
            state["steps"] = int(ev.get("steps", 3))
            state["delay"] = float(ev.get("delay", 0.0))
        await asyncio.sleep(float(ev.get("delay", 0.0)))
        return Next(i=1) if int(ev.get("steps", 3)) > 1 else StopEvent(result=1)

    @step
    async def work(self, ctx: Context, ev: Next) -> Next | StopEvent:
        state = await ctx.store.get_state()
        stamp(state["stamps"], ev.i)
        await asyncio.sleep(state["delay"])
        return Next(i=ev.i + 1) if ev.i + 1 < state["steps"] else StopEvent(result=ev.i + 1)


if __name__ == "__main__":
    stamp(sys.argv[1], -1)
