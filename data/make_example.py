"""Generate the bundled example data deterministically.

Writes, next to this script:

* ``example.tif``: a 4-band (blue, green, red, nir) uint16 scene, 240 x 320 pixels of
  10 m in EPSG:32618, tiled 64 x 64, DEFLATE, nodata 0, with a cloud-like nodata blob;
* ``example_regions.gpkg``: 12 labelled field polygons (``class``, ``field_id``) in
  EPSG:32618, one with a hole and one MultiPolygon;
* ``example_points.gpkg``: 20 labelled points in EPSG:4326.

Run ``python data/make_example.py`` to regenerate them; the output is identical
every time.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from affine import Affine
from shapely import MultiPolygon, Polygon, box

HERE = Path(__file__).resolve().parent
CRS = "EPSG:32618"
TRANSFORM = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4200000.0)
HEIGHT, WIDTH = 240, 320
CLASSES = ["water", "forest", "crop", "urban"]
# mean reflectance (x 10000) per class and band: blue, green, red, nir
SIGNATURES = {
    "water": (900, 800, 600, 300),
    "forest": (400, 700, 450, 3500),
    "crop": (600, 900, 800, 2800),
    "urban": (1400, 1500, 1600, 1900),
}


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale: int) -> np.ndarray:
    coarse = rng.normal(size=(shape[0] // scale + 2, shape[1] // scale + 2))
    rows = np.linspace(0, coarse.shape[0] - 1.001, shape[0])
    cols = np.linspace(0, coarse.shape[1] - 1.001, shape[1])
    r0, c0 = rows.astype(int), cols.astype(int)
    fr, fc = (rows - r0)[:, None], (cols - c0)[None, :]
    a = coarse[r0][:, c0]
    b = coarse[r0][:, c0 + 1]
    c = coarse[r0 + 1][:, c0]
    d = coarse[r0 + 1][:, c0 + 1]
    return a * (1 - fr) * (1 - fc) + b * (1 - fr) * fc + c * fr * (1 - fc) + d * fr * fc


def make_scene(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Land-cover classes as smooth random patches, and the 4-band scene they give."""
    field = np.stack([_smooth_noise(rng, (HEIGHT, WIDTH), 40) for _ in CLASSES])
    classes = np.argmax(field, axis=0)
    bands = np.zeros((4, HEIGHT, WIDTH), dtype="uint16")
    texture = _smooth_noise(rng, (HEIGHT, WIDTH), 8)
    for k, name in enumerate(CLASSES):
        where = classes == k
        for b, mean in enumerate(SIGNATURES[name]):
            values = mean * (1 + 0.08 * texture[where]) + rng.normal(0, 25, where.sum())
            bands[b][where] = np.clip(values, 1, 10000).astype("uint16")
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    cloud = (rows - 40) ** 2 / 18**2 + (cols - 270) ** 2 / 30**2 < 1
    bands[:, cloud] = 0
    return classes, bands


def make_regions(rng: np.random.Generator, classes: np.ndarray) -> gpd.GeoDataFrame:
    """Field polygons labelled with the majority class under them."""
    shapes, labels = [], []
    for field_id in range(12):
        row = int(rng.integers(20, HEIGHT - 40))
        col = int(rng.integers(20, WIDTH - 40))
        h, w = int(rng.integers(4, 18)), int(rng.integers(4, 18))
        x0, y0 = TRANSFORM @ (col + 0.3, row + 0.7)
        poly = box(x0, y0 - h * 10, x0 + w * 10, y0)
        if field_id == 3:
            hole = box(x0 + 20, y0 - h * 10 + 20, x0 + 40, y0 - h * 10 + 40)
            poly = Polygon(poly.exterior.coords, [hole.exterior.coords])
        if field_id == 7:
            poly = MultiPolygon([poly, box(x0 + w * 10 + 30, y0 - 30, x0 + w * 10 + 60, y0)])
        shapes.append(poly)
        values, counts = np.unique(classes[row : row + h, col : col + w], return_counts=True)
        labels.append(CLASSES[int(values[np.argmax(counts)])])
    return gpd.GeoDataFrame({"field_id": np.arange(12), "class": labels}, geometry=shapes, crs=CRS)


def make_points(rng: np.random.Generator, classes: np.ndarray) -> gpd.GeoDataFrame:
    """Labelled points at random positions, in lon/lat."""
    rows = rng.uniform(0, HEIGHT, 20)
    cols = rng.uniform(0, WIDTH, 20)
    xs, ys = TRANSFORM @ (cols, rows)
    labels = [CLASSES[int(classes[int(r), int(c)])] for r, c in zip(rows, cols)]
    points = gpd.GeoDataFrame({"class": labels}, geometry=gpd.points_from_xy(xs, ys), crs=CRS)
    return points.to_crs("EPSG:4326")


def main() -> None:
    rng = np.random.default_rng(20200518)
    classes, bands = make_scene(rng)
    profile = {
        "driver": "GTiff", "width": WIDTH, "height": HEIGHT, "count": 4, "dtype": "uint16",
        "crs": CRS, "transform": TRANSFORM, "nodata": 0, "tiled": True, "blockxsize": 64,
        "blockysize": 64, "compress": "deflate", "predictor": 2,
    }
    with rasterio.open(HERE / "example.tif", "w", **profile) as dst:
        dst.write(bands)
        dst.descriptions = ("blue", "green", "red", "nir")
        dst.update_tags(TIFFTAG_DATETIME="2024:06:01 10:30:00")
    vectors = {"example_regions.gpkg": make_regions(rng, classes), "example_points.gpkg": make_points(rng, classes)}
    for name, frame in vectors.items():
        path = HERE / name
        path.unlink(missing_ok=True)
        frame.to_file(path, driver="GPKG")


if __name__ == "__main__":
    main()
