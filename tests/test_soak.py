"""Load: 1,000 random extractions in one process leak neither file handles nor memory.

A child process (a clean slate, measured from inside) runs random extractions over two rasters: random
polygons, lines and points, random scales (native, finer, coarser, another CRS), both masking modes,
with and without geometries; every tenth opens its image afresh and drops it without closing it; some
are bad requests that end in a SamplingError or an empty-result warning. After a warm-up of 100
extractions it records the open file descriptors (``/proc/self/fd``) and the resident memory, then
again after the remaining 900. GDAL's block cache is capped (GDAL_CACHEMAX=64 MB) and warmed up, so
growth beyond it would be a leak.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import EXAMPLE_DATA, REPO

EXTRACTIONS = 1000
WARM_UP = 100
RSS_TOLERANCE_MB = 30  # allocator noise and Python's own caches; a leak of 1 KB per extraction would show

_SOAK = r"""
import gc, json, os, random, sys, time, warnings
import numpy as np, geopandas as gpd, rasterio
from affine import Affine
from shapely import LineString, MultiPoint, box
from sampling import Image, SamplingError, sample_regions

warnings.simplefilter("ignore")
example, other_path, n, warm = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
with rasterio.open(other_path, "w", driver="GTiff", width=300, height=200, count=2, dtype="float32",
                   crs="EPSG:32618", transform=Affine(20, 0, 499000, 0, -20, 4201000), nodata=-1,
                   tiled=True, blockxsize=64, blockysize=64, compress="lzw") as dst:
    dst.write(np.random.default_rng(0).random((2, 200, 300), dtype="float32"))
paths = [example, other_path]
kept = [Image.open(p) for p in paths]
rng = random.Random(7)

def fds():
    return len(os.listdir("/proc/self/fd"))

def rss_mb():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmRSS:")) / 1024

def one(k):
    fresh = k % 10 == 0
    image = Image.open(paths[k % 2]) if fresh else kept[k % 2]
    x = rng.uniform(500000, 503000); y = rng.uniform(4197700, 4199900); s = rng.uniform(5, 300)
    kind = rng.random()
    if kind < 0.6:
        geoms = [box(x, y, x + s, y + s * rng.uniform(0.3, 2)) for _ in range(rng.randint(1, 4))]
    elif kind < 0.8:
        geoms = [LineString([(x, y), (x + s, y - s)]), MultiPoint([(x, y), (x + 3, y + 7)])]
    elif kind < 0.95:
        geoms = [box(x - 1e6, y, x - 1e6 + s, y + s)]  # far outside: an empty result
    else:
        geoms = [None]  # a bad request
    regions = gpd.GeoDataFrame({"id": range(len(geoms))}, geometry=geoms, crs="EPSG:32618")
    options = rng.choice([{}, {"scale": 5}, {"scale": 30}, {"projection": "EPSG:4326", "scale": 10}])
    try:
        table = sample_regions(image, regions, drop_masked=rng.random() < 0.5, geometries=rng.random() < 0.5,
                               **options)
        return len(table)
    except SamplingError:
        return -1

started = time.monotonic()
rows = errors = 0
samples = []
for k in range(n):
    got = one(k)
    rows += max(got, 0); errors += got < 0
    if k + 1 == warm or (k + 1) % 100 == 0:
        gc.collect()
        samples.append({"after": k + 1, "fds": fds(), "rss_mb": round(rss_mb(), 1)})
print(json.dumps({"seconds": round(time.monotonic() - started, 1), "rows": rows, "errors": errors,
                  "samples": samples}))
"""


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counting open files needs Linux's /proc")
def test_a_thousand_extractions_leak_no_file_handles_and_no_memory(tmp_path):
    run = subprocess.run(
        [sys.executable, "-c", _SOAK, str(EXAMPLE_DATA / "example.tif"), str(tmp_path / "other.tif"),
         str(EXTRACTIONS), str(WARM_UP)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO), "GDAL_CACHEMAX": "64"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout)
    samples = report["samples"]
    warm, end = samples[0], samples[-1]
    print(f"\n{EXTRACTIONS} extractions in {report['seconds']} s ({report['rows']} rows, {report['errors']} "
          f"clean errors): open files {warm['fds']} -> {end['fds']}, RSS {warm['rss_mb']} -> {end['rss_mb']} MB; "
          f"{samples}")
    assert warm["after"] == WARM_UP and end["after"] == EXTRACTIONS
    assert report["rows"] > 0 and report["errors"] > 0  # both paths ran
    assert max(s["fds"] for s in samples) == warm["fds"] == end["fds"]
    assert end["rss_mb"] - warm["rss_mb"] < RSS_TOLERANCE_MB
