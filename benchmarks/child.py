"""Run one tool once, in this (fresh) process, and save its time and answer.

``python -m benchmarks.child MODE TASK TOOL OUT.npz``: loads the inputs (untimed),
times ``tool.run`` with a wall clock, then writes the common-form answer, the time
and this process's CPU time to ``OUT.npz``. The parent reads the peak memory of the
whole process from ``wait4``.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import numpy as np

from .data import MODES, build
from .tools import Context, find


def main(mode: str, task: str, name: str, out: str) -> None:
    tool = find(task, name)
    ctx = Context(build(mode, quiet=True), MODES[mode])
    for load in ("points", "fields", "series_points"):  # inputs are read before the clock starts
        getattr(ctx, load)()
    if tool.prepare is not None:
        tool.prepare(ctx)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = usage.ru_utime + usage.ru_stime
    start = time.perf_counter()
    result = tool.run(ctx)
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu0
    answer = tool.canon(result, ctx) if tool.canon is not None else np.empty(0)
    np.savez(Path(out), seconds=seconds, cpu=cpu, answer=answer)


if __name__ == "__main__":
    main(*sys.argv[1:5])
