"""Deterministic benchmark data: a Sentinel-2-sized tile, points, fields and a time series.

Everything is generated from one seed, so every machine builds the same bytes, and
is cached in ``benchmarks/_data/<mode>/`` (git-ignored) behind a manifest of the
parameters: a second run reuses the files.

The rasters look like a farmed landscape seen by Sentinel-2: rectangular parcels
of a few land-cover classes with their own spectra, slow spatial variation, sensor
noise (which is what makes DEFLATE compress realistically: about 80 % of the raw
size at full size), and cloud-like blobs of nodata (0 in every band).

Run ``python -m benchmarks.data --quick|--full`` to build the data alone.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine

DATA_DIR = Path(__file__).resolve().parent / "_data"
SEED = 20240611
CRS = "EPSG:32633"
BANDS = ("B02", "B03", "B04", "B08")
NODATA = 0
#: Bump when the generator changes, so cached data is rebuilt.
VERSION = 3


@dataclass(frozen=True)
class Sizes:
    """How big each data set is in one mode."""

    tile: int  # tile side in pixels
    points: int
    fields: int
    dates: int
    series_side: int
    series_points: int
    stream_rows: int  # rows the streaming benchmark writes (approximately, at least)


MODES = {
    "quick": Sizes(tile=3072, points=20_000, fields=1_000, dates=12, series_side=1024, series_points=500,
                   stream_rows=2_000_000),
    "full": Sizes(tile=10980, points=100_000, fields=5_000, dates=12, series_side=2000, series_points=1_000,
                  stream_rows=50_000_000),
}

BLOCK = 512
ORIGIN = (399960.0, 5400000.0)  # upper-left corner of a Sentinel-2 tile in UTM 33N
PIXEL = 10.0
NOISE_SIGMA = 100.0  # sensor noise and field texture in DN (reflectance x 10000)

#: Mean reflectance (x 10000) of the land-cover classes in B02, B03, B04, B08.
SPECTRA = np.array(
    [
        [450, 700, 500, 3800],  # crop, green
        [600, 800, 900, 2400],  # crop, ripening
        [900, 1100, 1300, 1900],  # bare soil
        [300, 500, 300, 3200],  # forest
        [400, 450, 300, 150],  # water
        [1200, 1250, 1300, 1800],  # built-up
    ],
    dtype="float32",
)


@dataclass(frozen=True)
class Paths:
    """Where the files of one mode are."""

    root: Path

    @property
    def tile(self) -> Path:
        return self.root / "tile.tif"

    @property
    def points(self) -> Path:
        return self.root / "points.parquet"

    @property
    def fields(self) -> Path:
        return self.root / "fields.parquet"

    @property
    def series(self) -> list[Path]:
        return sorted((self.root / "series").glob("date_*.tif"))

    @property
    def series_points(self) -> Path:
        return self.root / "series_points.parquet"

    @property
    def stream_regions(self) -> Path:
        return self.root / "stream_regions.parquet"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"


# -- smooth random fields ----------------------------------------------------------------------


def _interp_matrix(n_out: int, n_coarse: int, spacing: float, start: int = 0) -> np.ndarray:
    """Weights that linearly interpolate a coarse 1-D field onto pixels ``start .. start + n_out``."""
    pos = (np.arange(start, start + n_out) + 0.5) / spacing
    i0 = np.clip(np.floor(pos).astype(int), 0, n_coarse - 2)
    w = np.clip(pos - i0, 0.0, 1.0)
    m = np.zeros((n_out, n_coarse), dtype="float32")
    m[np.arange(n_out), i0] = 1 - w
    m[np.arange(n_out), i0 + 1] = w
    return m


class SmoothField:
    """A random field on a coarse lattice, linearly interpolated to pixels (numpy only)."""

    def __init__(self, rng: np.random.Generator, side: int, spacing: float, layers: int = 1) -> None:
        self.spacing = spacing
        self.n = int(math.ceil(side / spacing)) + 2
        self.coarse = rng.standard_normal((layers, self.n, self.n)).astype("float32")
        self.cols = _interp_matrix(side, self.n, spacing)

    def rows(self, row0: int, height: int) -> np.ndarray:
        """The field on rows ``row0 .. row0 + height``: ``(layers, height, side)``."""
        r = _interp_matrix(height, self.n, self.spacing, row0)
        return np.einsum("hi,lij,wj->lhw", r, self.coarse, self.cols, optimize=True)


# -- parcels ------------------------------------------------------------------------------------


class Parcels:
    """Rectangular parcels: bands of random height, each cut into fields of random width."""

    def __init__(self, seed: int, side: int, n_classes: int) -> None:
        rng = np.random.default_rng([seed, 1])
        heights = rng.integers(12, 70, size=side // 12 + 2)
        self.row_edges = np.r_[0, np.cumsum(heights)]
        self.seed = seed
        self.side = side
        self.n_classes = n_classes

    def _band(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, 2, k])
        widths = rng.integers(10, 90, size=self.side // 10 + 2)
        edges = np.cumsum(widths)
        classes = rng.integers(0, self.n_classes, size=len(edges) + 1)
        offsets = rng.normal(1.0, 0.08, size=len(edges) + 1).astype("float32")
        return edges, classes, offsets

    def rows(self, row0: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """Class ``(height, side)`` and brightness factor ``(height, side)`` of rows ``row0 ..``."""
        cls = np.empty((height, self.side), dtype="int16")
        factor = np.empty((height, self.side), dtype="float32")
        cols = np.arange(self.side)
        k0 = int(np.searchsorted(self.row_edges, row0, side="right")) - 1
        k = k0
        while self.row_edges[k] < row0 + height:
            a = max(self.row_edges[k], row0) - row0
            b = min(self.row_edges[k + 1], row0 + height) - row0
            edges, classes, offsets = self._band(k)
            idx = np.searchsorted(edges, cols, side="right")
            cls[a:b] = classes[idx]
            factor[a:b] = offsets[idx]
            k += 1
        return cls, factor


def _scene_rows(
    row0: int,
    height: int,
    *,
    seed: int,
    parcels: Parcels,
    smooth: SmoothField,
    clouds: SmoothField,
    season: np.ndarray,
    cloud_threshold: float,
) -> np.ndarray:
    """Rows ``row0 .. row0 + height`` of a scene: ``(4, height, side)`` uint16."""
    cls, factor = parcels.rows(row0, height)
    spectra = SPECTRA * season  # (classes, 4)
    base = spectra[cls]  # (h, w, 4)
    base = np.moveaxis(base, -1, 0) * factor
    variation = smooth.rows(row0, height)  # (4, h, w)
    values = base * (1.0 + 0.06 * variation)
    rng = np.random.default_rng([seed, 3, row0])
    values += rng.normal(0.0, NOISE_SIGMA, size=values.shape).astype("float32")
    out = np.clip(np.rint(values), 1, 10000).astype("uint16")
    cloud = clouds.rows(row0, height)[0]
    out[:, cloud > cloud_threshold] = NODATA
    return out


def _cloud_threshold(clouds: SmoothField, side: int, cover: float) -> float:
    """The level above which ``cover`` of the cloud field lies (estimated on 64 rows)."""
    rows = np.concatenate([clouds.rows(r, 1)[0] for r in np.linspace(0, side - 1, 64).astype(int)])
    return float(np.quantile(rows, 1 - cover))


def write_scene(
    path: Path,
    *,
    side: int,
    transform: Affine,
    seed: int,
    season: np.ndarray,
    cloud_cover: float,
    cloud_seed: int,
) -> None:
    """Write one 4-band tiled DEFLATE GeoTIFF, strip by strip (bounded memory)."""
    parcels = Parcels(SEED, side, len(SPECTRA))
    smooth = SmoothField(np.random.default_rng([SEED, 4]), side, 96.0, layers=len(BANDS))
    clouds = SmoothField(np.random.default_rng([cloud_seed, 5]), side, 160.0)
    threshold = _cloud_threshold(clouds, side, cloud_cover)
    profile = dict(
        driver="GTiff", width=side, height=side, count=len(BANDS), dtype="uint16", crs=CRS,
        transform=transform, nodata=NODATA, tiled=True, blockxsize=BLOCK, blockysize=BLOCK,
        compress="deflate", interleave="pixel", num_threads="all_cpus", bigtiff="if_safer",
    )
    tmp = path.with_suffix(".tmp.tif")
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.descriptions = BANDS
        for row0 in range(0, side, BLOCK):
            height = min(BLOCK, side - row0)
            rows = _scene_rows(row0, height, seed=seed, parcels=parcels, smooth=smooth, clouds=clouds,
                               season=season, cloud_threshold=threshold)
            dst.write(rows, window=rasterio.windows.Window(0, row0, side, height))
    os.replace(tmp, path)


# -- vectors ------------------------------------------------------------------------------------


def _bounds(side: int) -> tuple[float, float, float, float]:
    x0, y0 = ORIGIN
    return x0, y0 - side * PIXEL, x0 + side * PIXEL, y0


def make_points(n: int, side: int, seed: int) -> gpd.GeoDataFrame:
    """``n`` uniformly random points strictly inside the tile."""
    rng = np.random.default_rng([seed, 10])
    xmin, ymin, xmax, ymax = _bounds(side)
    x = rng.uniform(xmin + 1, xmax - 1, n)
    y = rng.uniform(ymin + 1, ymax - 1, n)
    return gpd.GeoDataFrame({"point_id": np.arange(n, dtype="int64")}, geometry=shapely.points(x, y), crs=CRS)


def _blob(rng: np.random.Generator, cx: float, cy: float, size: float) -> shapely.Polygon:
    """A convex field-like polygon of about ``size`` metres across."""
    n = int(rng.integers(4, 11))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    aspect = rng.uniform(0.4, 1.0)
    rot = rng.uniform(0, np.pi)
    rx = size / 2 * rng.uniform(0.85, 1.15, n)
    ry = rx * aspect
    px, py = rx * np.cos(angles), ry * np.sin(angles)
    x = cx + px * np.cos(rot) - py * np.sin(rot)
    y = cy + px * np.sin(rot) + py * np.cos(rot)
    return shapely.convex_hull(shapely.MultiPoint(np.c_[x, y]))


def make_fields(n: int, side: int, seed: int) -> gpd.GeoDataFrame:
    """``n`` field polygons, 20 m to 300 m across: some overlapping, some MultiPolygons, some
    with a hole, a few smaller than a pixel."""
    rng = np.random.default_rng([seed, 11])
    xmin, ymin, xmax, ymax = _bounds(side)
    geoms = []
    kinds = []
    for i in range(n):
        size = float(np.exp(rng.uniform(np.log(20), np.log(300))))
        if i % 100 == 7:  # smaller than a 10 m pixel
            size = float(rng.uniform(3, 9))
            kind = "tiny"
        elif geoms and rng.random() < 0.1:  # overlaps the previous field
            kind = "overlapping"
        else:
            kind = "field"
        if kind == "overlapping":
            prev = geoms[-1]
            c = prev.centroid
            cx, cy = c.x + rng.uniform(-0.4, 0.4) * size, c.y + rng.uniform(-0.4, 0.4) * size
        else:
            cx = rng.uniform(xmin + 400, xmax - 400)
            cy = rng.uniform(ymin + 400, ymax - 400)
        g = _blob(rng, cx, cy, size)
        r = rng.random()
        if kind == "field" and r < 0.06:  # a MultiPolygon: the field and a detached part
            dx, dy = rng.uniform(0.8, 1.5) * size, rng.uniform(-0.5, 0.5) * size
            part = _blob(rng, cx + dx, cy + dy, size * rng.uniform(0.3, 0.8))
            if not part.intersects(g):
                g = shapely.MultiPolygon([g, part])
                kind = "multipolygon"
        elif kind == "field" and r < 0.09 and size > 60:  # a field with a hole
            hole = shapely.affinity.scale(g, 0.35, 0.35, origin="centroid")
            g = shapely.Polygon(g.exterior.coords, [hole.exterior.coords])
            kind = "hole"
        geoms.append(g)
        kinds.append(kind)
    crops = np.array(["wheat", "maize", "barley", "rapeseed", "grass"])[rng.integers(0, 5, n)]
    frame = gpd.GeoDataFrame({"field_id": np.arange(n, dtype="int64"), "crop": crops, "kind": kinds},
                             geometry=geoms, crs=CRS)
    bad = ~frame.is_valid
    assert not bad.any(), (frame[bad].kind.tolist()[:5], [shapely.is_valid_reason(g) for g in frame[bad].geometry][:5])
    return frame


def make_stream_regions(rows: int, side: int, cloud_cover: float) -> gpd.GeoDataFrame:
    """Non-overlapping squares on the tile whose pixels number about ``rows / (1 - clouds)``."""
    pixels = rows / (1 - cloud_cover) * 1.04
    squares = 100
    edge = int(math.ceil(math.sqrt(pixels / squares)))
    per_side = side // edge
    while per_side * per_side < squares:
        squares = per_side * per_side
        edge = int(math.ceil(math.sqrt(pixels / squares)))
        per_side = side // edge
    xmin, _, _, ymax = _bounds(side)
    geoms = []
    for k in range(squares):
        i, j = divmod(k, per_side)
        x0 = xmin + j * edge * PIXEL
        y1 = ymax - i * edge * PIXEL
        geoms.append(shapely.box(x0, y1 - edge * PIXEL, x0 + edge * PIXEL, y1))
    return gpd.GeoDataFrame({"square": np.arange(squares, dtype="int64")}, geometry=geoms, crs=CRS)


# -- the time series ----------------------------------------------------------------------------


def _season(k: int, n: int) -> np.ndarray:
    """Per-class, per-band multipliers for date ``k`` of ``n``: crops green up and ripen."""
    phase = 2 * np.pi * k / n
    m = np.ones((len(SPECTRA), len(BANDS)), dtype="float32")
    m[0, 3] = 0.6 + 0.4 * np.sin(phase)  # green crop NIR
    m[1, :3] = 1.0 + 0.3 * np.cos(phase)
    m[2, :] = 1.0 + 0.1 * np.sin(2 * phase)
    return m


# -- driver ---------------------------------------------------------------------------------------


def build(mode: str, *, quiet: bool = False) -> Paths:
    """Build (or reuse) the data of ``mode``; return its paths."""
    sizes = MODES[mode]
    paths = Paths(DATA_DIR / mode)
    wanted = {"version": VERSION, "seed": SEED, **asdict(sizes)}
    if paths.manifest.exists() and json.loads(paths.manifest.read_text()) == wanted:
        return paths
    paths.root.mkdir(parents=True, exist_ok=True)
    (paths.root / "series").mkdir(exist_ok=True)
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    start = time.perf_counter()
    transform = Affine(PIXEL, 0, ORIGIN[0], 0, -PIXEL, ORIGIN[1])
    say(f"[data] {mode}: tile {sizes.tile} x {sizes.tile} x 4 uint16 -> {paths.tile}")
    write_scene(paths.tile, side=sizes.tile, transform=transform, seed=SEED, season=np.ones((1, 4), "float32"),
                cloud_cover=0.06, cloud_seed=SEED)
    make_points(sizes.points, sizes.tile, SEED).to_parquet(paths.points)
    make_fields(sizes.fields, sizes.tile, SEED).to_parquet(paths.fields)
    make_stream_regions(sizes.stream_rows, sizes.tile, 0.06).to_parquet(paths.stream_regions)
    say(f"[data] {mode}: {sizes.dates} dates of {sizes.series_side} x {sizes.series_side}")
    for old in paths.series:
        old.unlink()
    for k in range(sizes.dates):
        write_scene(paths.root / "series" / f"date_{k:02d}.tif", side=sizes.series_side, transform=transform,
                    seed=SEED + 100 + k, season=_season(k, sizes.dates), cloud_cover=0.1, cloud_seed=SEED + 200 + k)
    make_points(sizes.series_points, sizes.series_side, SEED + 1).to_parquet(paths.series_points)
    paths.manifest.write_text(json.dumps(wanted, indent=1))
    size_mb = paths.tile.stat().st_size / 1e6
    say(f"[data] {mode}: built in {time.perf_counter() - start:.0f} s; tile is {size_mb:.0f} MB")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true")
    group.add_argument("--full", action="store_true")
    args = parser.parse_args()
    build("full" if args.full else "quick")


if __name__ == "__main__":
    main()
