"""Fuzzing: mutated GeoTIFF bytes end in a clean error or a valid table, never a crash.

Four real GeoTIFFs (tiled and striped, deflate, LZW with a floating-point predictor, band- and
pixel-interleaved, an internal mask and overviews) are mutated in seven ways: random bit flips, bit
flips in the header, 32-bit header fields set to extreme values, truncation, zeroed runs, inserted junk
and swapped blocks of bytes. Each mutant is opened and sampled by a worker process: the outcome must be
a table whose columns have the bands' dtypes, or a :class:`~sampling.SamplingError`. Any other exception
fails the test, and so does a crash of the interpreter (a segfault or an abort inside GDAL: the worker
runs with ``faulthandler`` and dies, and the case it was on is reported) or a case that hangs.

Run this file as a script (``python tests/test_fuzz.py FILE...``) to be the worker.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

# mutants per run; the seed makes them the same every run (both can be raised for a longer hunt)
CASES = int(os.environ.get("SAMPLING_FUZZ_CASES", 1000))
SEED = int(os.environ.get("SAMPLING_FUZZ_SEED", 20240518))
BATCH_SECONDS = 120  # a worker that takes longer is hung
_DELIBERATE_CRASH = "segfault-here.tif"


def _worker(paths: list[str]) -> None:
    """Open and sample each file; print one JSON line per case (a START line before it)."""
    import faulthandler
    import warnings

    faulthandler.enable()
    warnings.simplefilter("ignore")
    import geopandas as gpd
    from shapely import Point, box

    from sampling import Image, SamplingError, sample_regions

    regions = gpd.GeoDataFrame({"k": [1, 2]}, geometry=[box(500000, 3999360, 500640, 4000000),
                                                        Point(500123, 3999877)], crs="EPSG:32618")
    for path in paths:
        print(json.dumps({"start": path}), flush=True)
        if Path(path).name == _DELIBERATE_CRASH:  # proves that the harness catches a dying interpreter
            faulthandler._sigsegv()
        try:
            image = Image.open(path)
            table = sample_regions(image, regions, drop_masked=False)
            dtypes_kept = all(
                np.dtype(getattr(table[b.name].dtype, "numpy_dtype", table[b.name].dtype)).kind == b.dtype.kind
                for b in image.bands
            )
            outcome = {"kind": "table" if dtypes_kept else "bad", "detail": f"{len(table)} rows"}
        except SamplingError as exc:
            outcome = {"kind": "clean", "detail": f"{type(exc).__name__}: {exc}"[:300]}
        except BaseException as exc:  # noqa: BLE001 - this is what the fuzz test looks for
            outcome = {"kind": "bad", "detail": f"{type(exc).__module__}.{type(exc).__name__}: {exc}"[:500]}
        print(json.dumps({"path": path, **outcome}), flush=True)


def _bases(directory: Path) -> list[bytes]:
    import rasterio
    from affine import Affine

    rng = np.random.default_rng(0)
    common = dict(driver="GTiff", width=64, height=64, crs="EPSG:32618",
                  transform=Affine(10, 0, 500000, 0, -10, 4000000))
    specs = [
        (rng.integers(0, 3000, (1, 64, 64)).astype("int16"),
         dict(nodata=-1, tiled=True, blockxsize=16, blockysize=16, compress="deflate")),
        (rng.integers(0, 255, (3, 64, 64)).astype("uint8"), dict(interleave="pixel")),
        (rng.normal(size=(2, 64, 64)).astype("float32"),
         dict(nodata=float("nan"), compress="lzw", predictor=3, tiled=True, blockxsize=32, blockysize=32,
              interleave="band")),
        (rng.integers(0, 60000, (1, 64, 64)).astype("uint16"),
         dict(tiled=True, blockxsize=16, blockysize=16, compress="deflate")),
    ]
    out = []
    for k, (array, profile) in enumerate(specs):
        path = directory / f"base{k}.tif"
        with rasterio.open(path, "w", count=array.shape[0], dtype=array.dtype, **common, **profile) as dst:
            dst.write(array)
            if k == 3:  # an internal mask and overviews: more structures to break
                mask = np.full((64, 64), 255, "uint8")
                mask[:20, :20] = 0
                dst.write_mask(mask)
        if k == 3:
            with rasterio.open(path, "r+") as dst:
                dst.build_overviews([2, 4])
        out.append(path.read_bytes())
    return out


def _mutate(data: bytes, rnd: random.Random) -> tuple[str, bytes]:
    b = bytearray(data)
    kind = rnd.choice(["bits", "header_bits", "field", "truncate", "zero", "insert", "swap"])
    header = min(len(b), 512)
    if kind == "bits":
        for _ in range(rnd.randint(1, 16)):
            k = rnd.randrange(len(b))
            b[k] ^= 1 << rnd.randrange(8)
    elif kind == "header_bits":
        for _ in range(rnd.randint(1, 4)):
            k = rnd.randrange(header)
            b[k] ^= 1 << rnd.randrange(8)
    elif kind == "field":
        k = rnd.randrange(4, header - 4)
        value = rnd.choice([0, 1, 2, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, rnd.randrange(1 << 32)])
        b[k : k + 4] = value.to_bytes(4, "little")
    elif kind == "truncate":
        b = b[: rnd.randrange(len(b))]
    elif kind == "zero":
        k = rnd.randrange(len(b))
        n = rnd.randint(1, 1024)
        b[k : k + n] = bytes(len(b[k : k + n]))
    elif kind == "insert":
        k = rnd.randrange(len(b))
        b[k:k] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 64)))
    else:
        n = rnd.randint(4, 256)
        i, j = sorted(rnd.sample(range(len(b) - n), 2))
        b[i : i + n], b[j : j + n] = b[j : j + n], b[i : i + n]
    return kind, bytes(b)


def _run_workers(paths: list[str]) -> tuple[dict[str, dict], float]:
    """Run the worker over ``paths``; a crash or hang is the outcome of the case it happened on."""
    repo = Path(__file__).resolve().parents[1]
    outcomes: dict[str, dict] = {}
    remaining = list(paths)
    started = time.monotonic()
    while remaining:
        child = subprocess.Popen(
            [sys.executable, __file__, *remaining], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(repo), "PYTHONFAULTHANDLER": "1"},
        )
        try:
            out, err = child.communicate(timeout=BATCH_SECONDS)
            hung = False
        except subprocess.TimeoutExpired:
            child.kill()
            out, err = child.communicate()
            hung = True
        current = None
        for line in out.splitlines():
            record = json.loads(line)
            if "start" in record:
                current = record["start"]
            else:
                outcomes[record["path"]] = record
                current = None
        if current is not None:  # the interpreter died (or hung) on this case
            why = "hang" if hung else f"crash (exit status {child.returncode})"
            outcomes[current] = {"path": current, "kind": "bad", "detail": f"{why}: {err[-2000:]}"}
        elif child.returncode != 0 and len(outcomes) < len(paths):
            raise RuntimeError(f"the fuzz worker failed before starting: {err[-2000:]}")
        remaining = [p for p in paths if p not in outcomes]
    return outcomes, time.monotonic() - started


def test_mutated_geotiffs_end_in_a_clean_error_or_a_valid_table(tmp_path):
    bases = _bases(tmp_path)
    rnd = random.Random(SEED)
    paths, kinds = [], {}
    for case in range(CASES):
        kind, data = _mutate(bases[case % len(bases)], rnd)
        path = tmp_path / f"case_{case:04d}_{kind}.tif"
        path.write_bytes(data)
        paths.append(str(path))
        kinds[str(path)] = kind
    outcomes, seconds = _run_workers(paths)
    assert len(outcomes) == CASES
    tally = Counter(o["kind"] for o in outcomes.values())
    by_mutation = Counter((kinds[p], o["kind"]) for p, o in outcomes.items())
    print(f"\n{CASES} mutated GeoTIFFs in {seconds:.1f} s: {dict(tally)}; "
          f"by mutation: {dict(sorted(by_mutation.items()))}")
    bad = {Path(p).name: o["detail"] for p, o in outcomes.items() if o["kind"] == "bad"}
    assert not bad, json.dumps(bad, indent=1)[:5000]
    assert tally["clean"] > CASES // 10 and tally["table"] > CASES // 10  # both ends are exercised
    # a clean error always names the file
    for path, outcome in outcomes.items():
        if outcome["kind"] == "clean" and outcome["detail"].startswith("RasterReadError"):
            assert Path(path).name in outcome["detail"]


def test_the_harness_reports_a_crash_and_carries_on(tmp_path):
    """A segfault in the worker is a failed case, and the cases after it still run."""
    good = tmp_path / "good.tif"
    good.write_bytes(_bases(tmp_path)[0])
    crash = tmp_path / _DELIBERATE_CRASH
    crash.write_bytes(b"")
    after = tmp_path / "after.tif"
    after.write_bytes(b"not a raster")
    outcomes, _ = _run_workers([str(good), str(crash), str(after)])
    assert outcomes[str(good)]["kind"] == "table"
    assert outcomes[str(crash)]["kind"] == "bad"
    assert outcomes[str(crash)]["detail"].startswith("crash (exit status -11)")
    assert "in _worker" in outcomes[str(crash)]["detail"]  # faulthandler's traceback of the dying worker
    assert outcomes[str(after)]["kind"] == "clean"


if __name__ == "__main__":
    _worker(sys.argv[1:])
