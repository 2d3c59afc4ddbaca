"""Time ``sampling`` against its peers, each run in a fresh process, and print the table.

Usage::

    python -m benchmarks.run --quick       # small data, 3 runs of ours and the floor, 1 of peers (a minute)
    python -m benchmarks.run --full        # Sentinel-2-sized tile, medians of several runs
    python benchmarks/run.py --full --tasks points,polygons --repeat 3

For every task each tool runs in its own process (so no tool profits from another's
caches or imports), several times; the table shows the median wall time, the
median CPU time, the peak resident memory of the process (``ru_maxrss`` from
``wait4``), and whether the tool's values equal the reference tool's. A tool whose
values differ is marked WRONG and its time does not count as a peer's best.
Ratios are to the fastest correct peer and to the floor: reading and decompressing
each touched block once, on one core, and nothing else.

The page cache is warmed first, so every tool reads from memory, not disk.
Generated data lives in ``benchmarks/_data`` and results in ``benchmarks/_results``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "benchmarks"

import numpy as np  # noqa: E402

from benchmarks.data import MODES, build  # noqa: E402
from benchmarks.tools import REFERENCE, TASKS, Context, Tool, extrapolation  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "_results"
TARGETS = """\
points:   >= 1.3 x faster than the fastest peer, >= 4 x faster than rasterio sample, <= the floor
polygons: >= 2 x faster than exactextract's fastest strategy, <= the floor
series:   >= 1.5 x faster than xvec on a dask stack, <= the floor
stream:   50 million rows to GeoParquet under 2 GB peak resident memory"""


@dataclass
class Outcome:
    """All runs of one tool on one task."""

    task: str
    tool: str
    kind: str
    note: str
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    check: str = ""
    scale: float = 1.0

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")

    @property
    def counts(self) -> bool:
        return bool(self.seconds) and self.check in ("ok", "reference")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("PYTHONWARNINGS", "ignore")
    return env


def run_once(mode: str, task: str, tool: Tool, workdir: Path) -> tuple[float, float, float, np.ndarray]:
    """One fresh process: (wall seconds, CPU seconds, peak RSS in MB, answer)."""
    out = workdir / "answer.npz"
    out.unlink(missing_ok=True)
    command = [sys.executable, "-m", "benchmarks.child", mode, task, tool.name, str(out)]
    proc = subprocess.Popen(command, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    stdout = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        last = (stderr.strip().splitlines() or stdout.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(last)
    with np.load(out) as saved:
        return float(saved["seconds"]), float(saved["cpu"]), usage.ru_maxrss / 1024, saved["answer"]


def _check(task: str, tool: Tool, answer: np.ndarray, reference: np.ndarray | None, ctx: Context) -> str:
    if tool.canon is None:
        return "n/a"
    if task == "stream":
        reported, written = (int(v) for v in answer)
        if reported != written:
            return f"WRONG: reported {reported} rows, file has {written}"
        return f"ok ({written:,} rows)"
    if reference is None:
        return "reference"
    expected = tool.subset(ctx, reference) if tool.subset is not None else reference
    if answer.shape != expected.shape:
        return f"WRONG: shape {answer.shape} != {expected.shape}"
    differ = int(np.count_nonzero(answer != expected))
    return "ok" if differ == 0 else f"WRONG: {differ} values differ"


def run_task(mode: str, task: str, repeat: int | None, workdir: Path, say) -> list[Outcome]:
    """Run every tool of ``task``: the reference first, so the others can be checked."""
    ctx = Context(build(mode, quiet=True), MODES[mode])
    tools = sorted(TASKS[task], key=lambda t: t.name != REFERENCE.get(task))
    reference: np.ndarray | None = None
    outcomes = []
    for tool in tools:
        if repeat:
            n = repeat
        elif mode == "quick":
            n = 3 if tool.kind in ("ours", "floor") else 1
        else:
            n = 3 if tool.slow or tool.scale else 5
        outcome = Outcome(task, tool.name, tool.kind, tool.note, scale=extrapolation(tool, ctx))
        for k in range(n):
            try:
                seconds, cpu, rss, answer = run_once(mode, task, tool, workdir)
            except RuntimeError as exc:
                outcome.check = f"error: {exc}"
                break
            outcome.seconds.append(seconds * outcome.scale)
            outcome.cpu.append(cpu * outcome.scale)
            outcome.rss_mb.append(rss)
            if k == 0:
                outcome.check = _check(task, tool, answer, reference, ctx)
                if tool.name == REFERENCE.get(task):
                    reference = answer
            say(f"  {task:9s} {tool.name:42s} run {k + 1}/{n}: {seconds:7.2f} s"
                + (f" (x {outcome.scale:g})" if outcome.scale != 1 else "") + f"  {outcome.check}")
        outcomes.append(outcome)
    order = {t.name: i for i, t in enumerate(TASKS[task])}
    return sorted(outcomes, key=lambda o: order[o.tool])


def _fmt(value: float, digits: int = 2) -> str:
    return "-" if value != value else f"{value:.{digits}f}"


def table(outcomes: list[Outcome]) -> str:
    """A markdown table: times, ratios to the best peer and to the floor, memory, check."""
    lines = [
        "| task | tool | median s | CPU s | runs | time / best peer | time / floor | peak RSS MB | values |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for task in dict.fromkeys(o.task for o in outcomes):
        rows = [o for o in outcomes if o.task == task]
        peers = [o.median for o in rows if o.kind == "peer" and o.counts]
        best = min(peers) if peers else float("nan")
        floors = [o.median for o in rows if o.kind == "floor" and o.seconds]
        floor = floors[0] if floors else float("nan")
        for o in rows:
            name = f"**{o.tool}**" if o.kind == "ours" else o.tool
            if o.note:
                name += f" ({o.note})"
            lines.append(
                f"| {task} | {name} | {_fmt(o.median)} | {_fmt(statistics.median(o.cpu) if o.cpu else float('nan'))}"
                f" | {len(o.seconds)} | {_fmt(o.median / best)} | {_fmt(o.median / floor)}"
                f" | {_fmt(max(o.rss_mb) if o.rss_mb else float('nan'), 0)} | {o.check} |"
            )
    return "\n".join(lines)


def verdicts(outcomes: list[Outcome]) -> list[str]:
    """Each target of the suite, measured: met or not."""
    def get(task: str, tool: str) -> Outcome | None:
        return next((o for o in outcomes if o.task == task and o.tool == tool), None)

    def ours(task: str) -> Outcome | None:
        return next((o for o in outcomes if o.task == task and o.kind == "ours"), None)

    def floor(task: str) -> Outcome | None:
        return next((o for o in outcomes if o.task == task and o.kind == "floor"), None)

    out = []

    def speedup(task: str, label: str, others: list[Outcome | None], wanted: float) -> None:
        mine = ours(task)
        others = [o for o in others if o is not None and o.counts]
        if mine is None or not mine.counts or not others:
            return
        best = min(others, key=lambda o: o.median)
        ratio = best.median / mine.median
        mark = "met" if ratio >= wanted else "NOT met"
        out.append(f"{task}: {ratio:.2f} x faster than {label} ({best.tool}); target {wanted} x: {mark}")

    def below_floor(task: str) -> None:
        mine, base = ours(task), floor(task)
        if mine is None or base is None or not mine.seconds or not base.seconds:
            return
        ratio = mine.median / base.median
        mark = "met" if ratio <= 1 else "NOT met"
        out.append(f"{task}: {ratio:.2f} x the one-core floor; target <= 1: {mark}")

    peers = lambda task: [o for o in outcomes if o.task == task and o.kind == "peer"]  # noqa: E731
    speedup("points", "the fastest peer", peers("points"), 1.3)
    speedup("points", "rasterio sample", [get("points", "rasterio sample")], 4.0)
    below_floor("points")
    speedup("polygons", "exactextract's fastest strategy",
            [o for o in peers("polygons") if o.tool.startswith("exactextract")], 2.0)
    below_floor("polygons")
    speedup("series", "xvec on a dask stack", [get("series", "xvec extract_points on a dask stack")], 1.5)
    below_floor("series")
    stream = ours("stream")
    if stream is not None and stream.rss_mb:
        peak = max(stream.rss_mb)
        mark = "met" if peak < 2048 else "NOT met"
        out.append(f"stream: {stream.check}, peak RSS {peak:.0f} MB; target < 2048 MB: {mark}")
    return out


def _warm(paths) -> None:
    """Read every data file once so that all tools read from the page cache."""
    for path in sorted(paths.root.rglob("*")):
        if path.is_file():
            with open(path, "rb") as fh:
                while fh.read(1 << 24):
                    pass


def _versions() -> str:
    import importlib.metadata as md

    import rasterio

    names = ["numpy", "rasterio", "xarray", "rioxarray", "dask", "xvec", "exactextract", "rasterstats"]
    found = []
    for name in names:
        try:
            found.append(f"{name} {md.version(name)}")
        except md.PackageNotFoundError:
            found.append(f"{name} (missing)")
    return f"GDAL {rasterio.__gdal_version__}; " + ", ".join(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time sampling against its peers.")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="small data, few runs (the default)")
    group.add_argument("--full", action="store_true", help="the Sentinel-2-sized tile, medians of several runs")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs per tool (default quick: 3 for ours and the floor, 1 for peers; "
                             "full: 5, or 3 for slow tools)")
    parser.add_argument("--tasks", default="points,polygons,series,stream", help="comma-separated tasks to run")
    args = parser.parse_args(argv)
    mode = "full" if args.full else "quick"
    say = lambda *a: print(*a, flush=True)  # noqa: E731
    started = time.perf_counter()
    paths = build(mode)
    _warm(paths)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        parser.error(f"unknown tasks {unknown}; choose from {list(TASKS)}")
    load_before = os.getloadavg()
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in tasks:
            outcomes += run_task(mode, task, args.repeat, Path(tmp), say)
    load_after = os.getloadavg()
    elapsed = time.perf_counter() - started
    text = table(outcomes)
    lines = verdicts(outcomes)
    sizes = MODES[mode]
    header = (
        f"mode {mode}: tile {sizes.tile} x {sizes.tile} x 4 uint16 (512 x 512 DEFLATE tiles), {sizes.points:,} points, "
        f"{sizes.fields:,} fields, {sizes.dates} dates of {sizes.series_side} x {sizes.series_side} with "
        f"{sizes.series_points:,} points, {sizes.stream_rows:,}+ streamed rows\n"
        f"machine: {os.cpu_count()} CPUs, load average {load_before[0]:.1f} before and {load_after[0]:.1f} after; "
        f"{_versions()}\nsuite took {elapsed:.0f} s"
    )
    say("\n" + header + "\n\n" + text + "\n\nTargets:\n" + "\n".join(lines))
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"{mode}-{stamp}.json").write_text(json.dumps([o.__dict__ for o in outcomes], indent=1))
    targets = "\n".join(f"- {v}" for v in lines)
    (RESULTS / f"{mode}-latest.md").write_text(f"{header}\n\n{text}\n\nTargets:\n\n{targets}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
