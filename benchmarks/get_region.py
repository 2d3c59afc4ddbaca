"""Time get_region on the real data beside the repository (``../shared/data``).

Run from the repository root: ``python benchmarks/get_region.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
from pyproj import Transformer
from shapely import box, points

from sampling import ImageCollection, get_region

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def timed(label: str, func) -> None:
    start = time.perf_counter()
    table = func()
    print(f"{label}: {len(table):,} rows in {time.perf_counter() - start:.2f} s")


def main() -> int:
    if not (DATA / "rgbn.tif").exists():
        print(f"no real data at {DATA.resolve()}", file=sys.stderr)
        return 1
    bands = [str(DATA / "landsat8" / f"LC08_224078_20200518_B{b}.tif") for b in (2, 3, 4)]
    landsat = ImageCollection.from_files([bands] * 10, ids=[f"d{k}" for k in range(10)],
                                         times=[f"2020-{k + 1:02d}-01" for k in range(10)])
    grid = landsat.first().grid
    xmin, ymin, xmax, ymax = grid.bounds
    rng = np.random.default_rng(0)
    plots = gpd.GeoDataFrame({"plot": np.arange(10_000)}, crs=grid.crs,
                             geometry=points(rng.uniform(xmin, xmax, 10_000), rng.uniform(ymin, ymax, 10_000)))
    timed("10,000 points x 10 Landsat images x 3 bands", lambda: get_region(landsat, plots))
    polygons = gpd.read_file(DATA / "landsat8" / "polygons.gpkg")
    timed("4 polygons x 10 Landsat images x 3 bands", lambda: get_region(landsat, polygons, max_values=None))
    rgbn = ImageCollection.from_files([DATA / "rgbn.tif", DATA / "rgbn_suba.tif", DATA / "rgbn_subb.tif"],
                                      times=[0, 1, 2])
    extent = box(*Transformer.from_crs(32618, 4326, always_xy=True).transform_bounds(*rgbn.first().grid.bounds))
    timed("rgbn + suba + subb over rgbn's extent (5 m)", lambda: get_region(rgbn, extent, max_values=None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
