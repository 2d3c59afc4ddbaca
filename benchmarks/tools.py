"""The tools the benchmark times, one function per (task, tool), and their common answer.

Each tool has a ``run(ctx)`` that does the work being timed (from opening the
raster to having the values in memory, in the tool's own output form) and a
``canon(output, ctx)`` that turns that output into the task's common form, untimed,
so the runner can check every tool returns the same values before its time counts:

* ``points``: a ``(points, 4)`` uint16 array, 0 where the pixel is nodata;
* ``polygons``: a ``(rows, 5)`` int64 array ``(field, B02, B03, B04, B08)``, one row per
  pixel whose centre is in the field and which is not nodata, fields in input order
  and pixels in row-major order within a field;
* ``series``: a ``(points, dates, 4)`` uint16 array, 0 where nodata.

Tools that are too slow to run in full (rasterstats) run on a subset; their
``scale`` says by how much their time is multiplied, and their answer is checked
on that subset.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .data import NODATA, Paths, Sizes

BANDS = 4


@dataclass
class Context:
    """What a tool gets: the data's paths and sizes, and the inputs, loaded untimed."""

    paths: Paths
    sizes: Sizes
    inputs: dict[str, Any] = field(default_factory=dict)

    def points(self):
        if "points" not in self.inputs:
            import geopandas as gpd

            self.inputs["points"] = gpd.read_parquet(self.paths.points)
        return self.inputs["points"]

    def fields(self):
        if "fields" not in self.inputs:
            import geopandas as gpd

            self.inputs["fields"] = gpd.read_parquet(self.paths.fields)
        return self.inputs["fields"]

    def series_points(self):
        if "series_points" not in self.inputs:
            import geopandas as gpd

            self.inputs["series_points"] = gpd.read_parquet(self.paths.series_points)
        return self.inputs["series_points"]


@dataclass(frozen=True)
class Tool:
    """One way of doing a task."""

    name: str
    run: Callable[[Context], Any]
    canon: Callable[[Any, Context], np.ndarray] | None
    kind: str = "peer"  # "ours", "peer" or "floor"
    note: str = ""
    prepare: Callable[[Context], None] | None = None  # untimed, before run
    scale: Callable[[Context], float] | None = None  # extrapolation factor for subsets
    subset: Callable[[Context, np.ndarray], np.ndarray] | None = None  # the reference on the subset
    slow: bool = False  # fewer repeats


# -- shared helpers ---------------------------------------------------------------------------------


def _xy(frame) -> tuple[np.ndarray, np.ndarray]:
    import shapely

    coords = shapely.get_coordinates(np.asarray(frame.geometry.values))
    return coords[:, 0], coords[:, 1]


def _rows_cols(ctx: Context, frame, path) -> tuple[np.ndarray, np.ndarray]:
    import rasterio

    x, y = _xy(frame)
    with rasterio.open(path) as ds:
        t = ds.transform
    return np.floor((y - t.f) / t.e).astype("int64"), np.floor((x - t.c) / t.a).astype("int64")


def _blocks_of(rows: np.ndarray, cols: np.ndarray, block: int = 512) -> np.ndarray:
    return np.unique((rows // block) * 100_000 + (cols // block))


#: The floor's GDAL block cache. A small cache is the cheapest setting measured: with
#: rasterio's default (5 % of RAM, larger than a whole tile here) nothing is ever
#: evicted, every block lands in fresh memory and reading costs about 30 % more CPU.
FLOOR_CACHE_BYTES = 64 * 1024 * 1024


def _read_blocks(path: os.PathLike, blocks: np.ndarray, block: int = 512) -> int:
    """The floor: read and decompress each listed block once, all bands, one core."""
    import rasterio
    from rasterio.windows import Window

    with rasterio.Env(GDAL_CACHEMAX=FLOOR_CACHE_BYTES), rasterio.open(path) as ds:
        h, w = ds.shape
        for b in blocks:
            r0, c0 = (int(b) // 100_000) * block, (int(b) % 100_000) * block
            ds.read(window=Window(c0, r0, min(block, w - c0), min(block, h - r0)))
    return len(blocks)


# -- points --------------------------------------------------------------------------------------------


def points_sampling(ctx: Context):
    from sampling import Image, sample_regions

    return sample_regions(Image.open(ctx.paths.tile), ctx.points(), properties=[])


def points_sampling_canon(out, ctx: Context) -> np.ndarray:
    result = np.zeros((len(ctx.points()), BANDS), dtype="uint16")
    positions = ctx.points().index.get_indexer(out.index)
    result[positions] = out[list(out.attrs["band_order"])].to_numpy(dtype="uint16")
    return result


def points_floor_prepare(ctx: Context) -> None:
    rows, cols = _rows_cols(ctx, ctx.points(), ctx.paths.tile)
    ctx.inputs["blocks"] = _blocks_of(rows, cols)


def points_floor(ctx: Context):
    return _read_blocks(ctx.paths.tile, ctx.inputs["blocks"])


def points_rasterio(ctx: Context):
    import rasterio

    x, y = _xy(ctx.points())
    with rasterio.open(ctx.paths.tile) as ds:
        return np.array(list(ds.sample(zip(x, y, strict=True))))


def _plain(out, ctx: Context) -> np.ndarray:
    return np.asarray(out, dtype="uint16")


def _xarray_points(ctx: Context, lock: Any):
    import rioxarray
    import xarray as xr

    x, y = _xy(ctx.points())
    da = rioxarray.open_rasterio(ctx.paths.tile, chunks={"band": -1, "y": 512, "x": 512}, lock=lock)
    picked = da.sel(x=xr.DataArray(x, dims="point"), y=xr.DataArray(y, dims="point"), method="nearest")
    return picked.values  # (band, point)


def points_xarray_lock(ctx: Context):
    return _xarray_points(ctx, None)


def points_xarray_nolock(ctx: Context):
    return _xarray_points(ctx, False)


def _band_first(out, ctx: Context) -> np.ndarray:
    return np.asarray(out, dtype="uint16").T


def points_xvec(ctx: Context):
    import rioxarray
    import xvec  # noqa: F401  (registers the accessor)

    da = rioxarray.open_rasterio(ctx.paths.tile, chunks={"band": -1, "y": 512, "x": 512}, lock=False)
    out = da.xvec.extract_points(ctx.points().geometry.values, x_coords="x", y_coords="y")
    return out.compute()


def points_xvec_canon(out, ctx: Context) -> np.ndarray:
    return np.asarray(out.transpose("geometry", "band").values, dtype="uint16")


RASTERSTATS_POINTS = 300


def points_rasterstats(ctx: Context):
    from rasterstats import point_query

    subset = ctx.points().iloc[:RASTERSTATS_POINTS]
    return [point_query(subset, str(ctx.paths.tile), band=b, interpolate="nearest") for b in range(1, BANDS + 1)]


def points_rasterstats_canon(out, ctx: Context) -> np.ndarray:
    return np.array([[NODATA if v is None else v for v in band] for band in out], dtype="uint16").T


# -- polygons ------------------------------------------------------------------------------------------


def polygons_sampling(ctx: Context):
    from sampling import Image, sample_regions

    return sample_regions(Image.open(ctx.paths.tile), ctx.fields(), properties=[])


def polygons_sampling_canon(out, ctx: Context) -> np.ndarray:
    feature = ctx.fields().index.get_indexer(out.index)
    values = out[list(out.attrs["band_order"])].to_numpy(dtype="int64")
    return np.column_stack([feature, values])


def polygons_floor_prepare(ctx: Context) -> None:
    import rasterio

    from sampling.grid import PixelGrid
    from sampling.selection import select_pixels

    with rasterio.open(ctx.paths.tile) as ds:
        grid = PixelGrid(ds.crs, ds.transform)
        h, w = ds.shape
    sel = select_pixels(np.asarray(ctx.fields().geometry.values), grid)
    inside = (sel.rows >= 0) & (sel.rows < h) & (sel.cols >= 0) & (sel.cols < w)
    ctx.inputs["blocks"] = _blocks_of(sel.rows[inside], sel.cols[inside])


def polygons_floor(ctx: Context):
    return _read_blocks(ctx.paths.tile, ctx.inputs["blocks"])


def _drop_nodata(feature: np.ndarray, values: np.ndarray) -> np.ndarray:
    keep = (values != NODATA).all(axis=1)
    return np.column_stack([feature[keep], values[keep]]).astype("int64")


def polygons_loop(ctx: Context):
    """The usual hand-written loop: per field, read its window and mask it with geometry_mask."""
    import rasterio
    from rasterio.features import geometry_mask
    from rasterio.windows import Window

    features, values = [], []
    with rasterio.open(ctx.paths.tile) as ds:
        inverse = ~ds.transform
        for k, geom in enumerate(ctx.fields().geometry.values):
            xmin, ymin, xmax, ymax = geom.bounds
            u0, v0 = inverse * (xmin, ymax)
            u1, v1 = inverse * (xmax, ymin)
            col0, row0 = max(0, math.floor(u0)), max(0, math.floor(v0))
            col1, row1 = min(ds.width, math.ceil(u1)), min(ds.height, math.ceil(v1))
            win = Window(col0, row0, max(0, col1 - col0), max(0, row1 - row0))
            data = ds.read(window=win)
            inside = geometry_mask([geom], out_shape=data.shape[1:], transform=ds.window_transform(win), invert=True)
            picked = data[:, inside].T
            features.append(np.full(len(picked), k))
            values.append(picked)
    return np.concatenate(features), np.concatenate(values)


def polygons_loop_canon(out, ctx: Context) -> np.ndarray:
    return _drop_nodata(*out)


def _exactextract(ctx: Context, strategy: str):
    from exactextract import exact_extract

    return exact_extract(str(ctx.paths.tile), ctx.fields(), ["cell_id", "values"], strategy=strategy, output="pandas")


def polygons_exactextract_raster(ctx: Context):
    return _exactextract(ctx, "raster-sequential")


def polygons_exactextract_feature(ctx: Context):
    return _exactextract(ctx, "feature-sequential")


def polygons_exactextract_canon(out, ctx: Context) -> np.ndarray:
    """exactextract returns every cell a field touches: keep those whose centre is inside."""
    import rasterio
    import shapely

    with rasterio.open(ctx.paths.tile) as ds:
        t, width = ds.transform, ds.width
    geoms = ctx.fields().geometry.values
    rows_out = []
    for k in range(len(out)):
        cells = np.asarray(out["band_1_cell_id"].iloc[k], dtype="int64")
        bands = []
        for b in range(1, BANDS + 1):
            ids = np.asarray(out[f"band_{b}_cell_id"].iloc[k], dtype="int64")
            vals = np.asarray(out[f"band_{b}_values"].iloc[k])
            lookup = dict(zip(ids.tolist(), vals.tolist(), strict=True))
            bands.append([lookup.get(c, NODATA) for c in cells.tolist()])
        values = np.array(bands, dtype="int64").T.reshape(-1, BANDS)
        r, c = np.divmod(cells, width)
        x, y = t.c + (c + 0.5) * t.a, t.f + (r + 0.5) * t.e
        inside = shapely.contains_xy(geoms[k], x, y)
        order = np.argsort(cells[inside], kind="stable")
        rows_out.append(_drop_nodata(np.full(int(inside.sum()), k), values[inside][order]))
    return np.concatenate(rows_out) if rows_out else np.empty((0, BANDS + 1), dtype="int64")


RASTERSTATS_FIELDS = 60


def polygons_rasterstats(ctx: Context):
    from rasterstats import zonal_stats

    subset = ctx.fields().iloc[:RASTERSTATS_FIELDS]
    return [
        zonal_stats(subset, str(ctx.paths.tile), band=b, stats=["count"], raster_out=True, all_touched=False)
        for b in range(1, BANDS + 1)
    ]


def polygons_rasterstats_canon(out, ctx: Context) -> np.ndarray:
    rows_out = []
    for k in range(len(out[0])):
        arrays = [out[b][k]["mini_raster_array"] for b in range(BANDS)]
        keep = ~np.ma.getmaskarray(arrays[0])
        for a in arrays[1:]:
            keep &= ~np.ma.getmaskarray(a)
        values = np.stack([np.ma.getdata(a)[keep] for a in arrays], axis=1).astype("int64")
        rows_out.append(_drop_nodata(np.full(len(values), k), values))
    return np.concatenate(rows_out)


def polygons_subset(ctx: Context, reference: np.ndarray) -> np.ndarray:
    return reference[reference[:, 0] < RASTERSTATS_FIELDS]


def points_subset(ctx: Context, reference: np.ndarray) -> np.ndarray:
    return reference[:RASTERSTATS_POINTS]


# -- time series ------------------------------------------------------------------------------------


def series_sampling(ctx: Context):
    """The long table (one row per point and date with a value) from the engine."""
    import pandas as pd

    from sampling.engine import read_pixels_many

    images = _series_images(ctx)
    grid = images[0].grid
    x, y = _xy(ctx.series_points())
    rows, cols = grid.index(x, y)
    pixels = read_pixels_many(images, grid, rows, cols)
    covered = np.stack([p.valid.any(axis=1) for p in pixels], axis=1)
    pixel, image = np.nonzero(covered)  # pixel-major, then dates in order
    cx, cy = grid.centre(rows, cols)
    data = {
        "point": ctx.series_points().index.to_numpy()[pixel],
        "id": np.array([i.id for i in images], dtype=object)[image],
        "x": cx[pixel],
        "y": cy[pixel],
        "time": np.array([i.time for i in images], dtype="int64")[image],
    }
    flat = image * len(rows) + pixel
    for name in images[0].band_names:
        data[name] = np.concatenate([p.values[name] for p in pixels])[flat]
    return pd.DataFrame(data)


def series_sampling_canon(out, ctx: Context) -> np.ndarray:
    result = np.zeros((len(ctx.series_points()), ctx.sizes.dates, BANDS), dtype="uint16")
    date = {name: k for k, name in enumerate(sorted(set(out["id"])))}
    result[out["point"].to_numpy(), out["id"].map(date).to_numpy()] = out.iloc[:, 5:].to_numpy(dtype="uint16")
    return result


def _series_images(ctx: Context):
    from sampling import Image

    return [Image.open(p, id=p.stem, time=1_600_000_000_000 + 86_400_000 * 10 * k)
            for k, p in enumerate(ctx.paths.series)]


def series_get_region(ctx: Context):
    """``get_region`` on the images' own grid, one region per point (where it exists)."""
    from sampling import get_region

    images = _series_images(ctx)
    grid = images[0].grid
    return get_region(images, ctx.series_points(), crs=grid.crs, crs_transform=grid.transform, max_values=None,
                      properties=[])


def series_get_region_canon(out, ctx: Context) -> np.ndarray:
    result = np.zeros((len(ctx.series_points()), ctx.sizes.dates, BANDS), dtype="uint16")
    date = {name: k for k, name in enumerate(sorted(set(out["id"])))}
    point = ctx.series_points().index.get_indexer(out.iloc[:, 0])
    bands = out[list(out.attrs["band_order"])].astype("float64").fillna(NODATA).to_numpy()
    result[point, out["id"].map(date).to_numpy()] = bands.astype("uint16")
    return result


def series_floor_prepare(ctx: Context) -> None:
    rows, cols = _rows_cols(ctx, ctx.series_points(), ctx.paths.series[0])
    ctx.inputs["blocks"] = _blocks_of(rows, cols)


def series_floor(ctx: Context):
    return sum(_read_blocks(p, ctx.inputs["blocks"]) for p in ctx.paths.series)


def series_rasterio(ctx: Context):
    import rasterio

    x, y = _xy(ctx.series_points())
    out = []
    for p in ctx.paths.series:
        with rasterio.open(p) as ds:
            out.append(np.array(list(ds.sample(zip(x, y, strict=True)))))
    return np.stack(out, axis=1)


def series_xvec(ctx: Context):
    import pandas as pd
    import rioxarray
    import xarray as xr
    import xvec  # noqa: F401

    stack = xr.concat(
        [rioxarray.open_rasterio(p, chunks={"band": -1, "y": 512, "x": 512}, lock=False) for p in ctx.paths.series],
        dim=pd.Index(range(len(ctx.paths.series)), name="time"),
    )
    out = stack.xvec.extract_points(ctx.series_points().geometry.values, x_coords="x", y_coords="y")
    return out.compute()


def series_xvec_canon(out, ctx: Context) -> np.ndarray:
    return np.asarray(out.transpose("geometry", "time", "band").values, dtype="uint16")


# -- streaming ----------------------------------------------------------------------------------------


def stream_sampling(ctx: Context):
    import geopandas as gpd

    from sampling import Image
    from sampling.stream import stream_sample_regions

    target = ctx.paths.root / "stream_output.parquet"
    regions = gpd.read_parquet(ctx.paths.stream_regions)
    rows = stream_sample_regions(Image.open(ctx.paths.tile), regions, target)
    return rows


def stream_canon(out, ctx: Context) -> np.ndarray:
    import pyarrow.parquet as pq

    target = ctx.paths.root / "stream_output.parquet"
    meta = pq.ParquetFile(target).metadata
    written = meta.num_rows
    target.unlink()
    return np.array([out, written], dtype="int64")


# -- the registry -------------------------------------------------------------------------------------


def _has_get_region() -> bool:
    import importlib.util

    return importlib.util.find_spec("sampling.get_region") is not None


TASKS: dict[str, list[Tool]] = {
    "points": [
        Tool("sampling", points_sampling, points_sampling_canon, kind="ours",
             note="sample_regions(image, points)"),
        Tool("floor: each touched block once, 1 core", points_floor, None, kind="floor",
             prepare=points_floor_prepare),
        Tool("rasterio sample", points_rasterio, _plain, slow=True),
        Tool("xarray sel, default lock", points_xarray_lock, _band_first, note="rioxarray + dask, 512 chunks"),
        Tool("xarray sel, no lock", points_xarray_nolock, _band_first, note="rioxarray + dask, 512 chunks"),
        Tool("xvec extract_points", points_xvec, points_xvec_canon, slow=True, note="dask-backed"),
        Tool("rasterstats point_query", points_rasterstats, points_rasterstats_canon, slow=True,
             scale=lambda ctx: ctx.sizes.points / RASTERSTATS_POINTS, subset=points_subset,
             note=f"{RASTERSTATS_POINTS} points, time x points/{RASTERSTATS_POINTS}"),
    ],
    "polygons": [
        Tool("sampling", polygons_sampling, polygons_sampling_canon, kind="ours",
             note="sample_regions(image, fields)"),
        Tool("floor: each touched block once, 1 core", polygons_floor, None, kind="floor",
             prepare=polygons_floor_prepare),
        Tool("exactextract raster-sequential", polygons_exactextract_raster, polygons_exactextract_canon,
             note='["cell_id", "values"]; centre cells kept after timing'),
        Tool("exactextract feature-sequential", polygons_exactextract_feature, polygons_exactextract_canon,
             slow=True, note='["cell_id", "values"]; centre cells kept after timing'),
        Tool("rasterio window + geometry_mask loop", polygons_loop, polygons_loop_canon),
        Tool("rasterstats zonal_stats raster_out", polygons_rasterstats, polygons_rasterstats_canon, slow=True,
             scale=lambda ctx: ctx.sizes.fields / RASTERSTATS_FIELDS, subset=polygons_subset,
             note=f"{RASTERSTATS_FIELDS} fields x 4 bands, time x fields/{RASTERSTATS_FIELDS}"),
    ],
    "series": [
        Tool("sampling", series_sampling, series_sampling_canon, kind="ours",
             note="read_pixels_many + long table"),
        *([Tool("sampling get_region", series_get_region, series_get_region_canon, kind="ours",
                note="get_region(images, points, crs_transform=...)")] if _has_get_region() else []),
        Tool("floor: each touched block once, 1 core", series_floor, None, kind="floor",
             prepare=series_floor_prepare),
        Tool("xvec extract_points on a dask stack", series_xvec, series_xvec_canon),
        Tool("rasterio sample loop", series_rasterio, _plain),
    ],
    "stream": [
        Tool("sampling stream to GeoParquet", stream_sampling, stream_canon, kind="ours",
             note="stream_sample_regions"),
    ],
}

#: The tool whose answer every other tool of the task must equal.
REFERENCE = {
    "points": "rasterio sample",
    "polygons": "rasterio window + geometry_mask loop",
    "series": "rasterio sample loop",
}


def find(task: str, name: str) -> Tool:
    for tool in TASKS[task]:
        if tool.name == name:
            return tool
    raise KeyError(f"no tool {name!r} for {task}")


def extrapolation(tool: Tool, ctx: Context) -> float:
    return float(tool.scale(ctx)) if tool.scale is not None else 1.0


__all__ = ["TASKS", "REFERENCE", "Tool", "Context", "find", "extrapolation"]
