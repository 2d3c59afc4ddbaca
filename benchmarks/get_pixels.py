"""Timings of get_pixels and cut_patches on the real Landsat scene.

Run from the repository root (the data lives in ../shared/data):

    PYTHONPATH=$PWD python benchmarks/get_pixels.py
"""

from __future__ import annotations

import time
from pathlib import Path

import geopandas as gpd
import numpy as np

from sampling import Image, cut_patches, get_pixels
from sampling.engine import read_pixels

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "landsat8"
PATHS = [str(DATA / f"LC08_224078_20200518_B{b}.tif") for b in (2, 3, 4)]


def timed(label: str, func, repeat: int = 3) -> None:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    print(f"{label:<62} {best:7.3f} s")


def main() -> None:
    image = Image.open(PATHS)
    height, width = image.grid.shape
    print(f"Landsat scene: {width} x {height} pixels, 3 uint16 bands in 3 files")

    timed("native grid, NPY (dense block copy)", lambda: get_pixels({"assetId": image, "fileFormat": "NPY"}))

    def engine_only() -> None:
        rows, cols = np.divmod(np.arange(height * width), width)
        read_pixels(image, image.grid, rows, cols)

    timed("native grid, values only, per-pixel engine (for comparison)", engine_only)
    timed("native grid, GEO_TIFF", lambda: get_pixels({"assetId": image, "fileFormat": "GEO_TIFF"}))
    vis = {"ranges": [{"min": 0, "max": 20000}]}
    timed("native grid, PNG with ranges", lambda: get_pixels(
        {"assetId": image, "bandIds": ["B4", "B3", "B2"], "visualizationOptions": vis}))
    lonlat = {"dimensions": {"width": 2000, "height": 1800}, "crsCode": "EPSG:4326",
              "affineTransform": {"scaleX": 3.1e-4, "shearX": 0, "translateX": -54.85,
                                  "shearY": 0, "scaleY": -2.85e-4, "translateY": -25.08}}
    timed("EPSG:4326 grid 2000 x 1800 (reprojected), NPY", lambda: get_pixels(
        {"assetId": image, "fileFormat": "NPY", "grid": lonlat}))

    rng = np.random.default_rng(0)
    left, top = image.grid.transform.c, image.grid.transform.f
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(left + rng.uniform(0, width * 30, 1000),
                                                          top - rng.uniform(0, height * 30, 1000)), crs=32621)
    timed("cut_patches: 1000 points, 64 x 64, 3 bands", lambda: cut_patches(image, points, size=64))

    def loop() -> None:
        for p in points.geometry[:100]:
            col = int((p.x - left) // 30) - 32
            row = int((top - p.y) // 30) - 32
            get_pixels({"assetId": image, "fileFormat": "NUMPY_NDARRAY", "grid": {
                "dimensions": {"width": 64, "height": 64}, "crsCode": "EPSG:32621",
                "affineTransform": {"scaleX": 30, "scaleY": -30, "translateX": left + 30 * col,
                                    "translateY": top - 30 * row}}})

    timed("get_pixels in a loop: 100 points, 64 x 64 (x10 for 1000)", loop, repeat=1)


if __name__ == "__main__":
    main()
