"""``sample_regions``: Earth Engine's ``Image.sampleRegions`` on local rasters.

One output row per (region, selected pixel): the region's properties, then one
column per band in the band's dtype. See ``DESIGN.md`` for the rules.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .engine import PixelValues, read_pixels
from .errors import GridError, PropertyError
from .grid import PixelGrid, working_grid
from .image import Image, PathLike, as_image
from .memory import check_fits_in_memory
from .progress import BATCH_PIXELS_WITH_BAR, Progress, progress_bar
from .regions import as_regions, choose_properties, to_working_crs, validate_regions
from .selection import Selection, estimate_pixels, iter_selections
from .table import band_column, check_column_names

__all__ = ["sample_regions", "iter_sample_regions", "feature_ids", "empty_result", "DEFAULT_BATCH_PIXELS"]

#: Selected pixels read per batch at ``tile_scale=1``; ``tile_scale=k`` divides it by ``k**2``.
DEFAULT_BATCH_PIXELS = 4_000_000

#: The name of the output's geometry column.
GEOMETRY = "geometry"

#: Memory of one pixel-centre Point (a shapely object and its GEOS geometry), for sizing results.
_POINT_BYTES = 100


@dataclass(frozen=True)
class _Plan:
    """Everything ``sample_regions`` decides before reading a pixel."""

    image: Image
    frame: gpd.GeoDataFrame
    properties: list[str]
    grid: PixelGrid
    geometries: np.ndarray
    batch_pixels: int


def _plan(
    image: Image | PathLike | Sequence[PathLike],
    regions: Any,
    *,
    properties: Sequence[str] | None,
    scale: float | None,
    projection: Any,
    tile_scale: float,
    allow_empty: bool = False,
) -> _Plan:
    image = as_image(image)
    frame = as_regions(regions)
    if len(frame) or not allow_empty:
        frame = validate_regions(frame)
    chosen = choose_properties(frame, properties)
    check_column_names(image.band_names, chosen)
    check_column_names(image.band_names, [GEOMETRY], what="the output's geometry column")
    if GEOMETRY in chosen:
        raise PropertyError(
            f"the regions' column {GEOMETRY!r} is not their geometry and would collide with the output's "
            "geometry column. Rename it (`regions.rename(columns={'geometry': ...})`) or leave it out with "
            "`properties=[...]`."
        )
    try:
        tile_scale = float(tile_scale)
    except (TypeError, ValueError):
        raise GridError(f"tile_scale must be a positive number, got {tile_scale!r}.") from None
    if not math.isfinite(tile_scale) or tile_scale <= 0:
        raise GridError(f"tile_scale must be a positive number, got {tile_scale!r}.")
    grid = working_grid(image.grid, scale=scale, projection=projection)
    geoms = to_working_crs(frame, grid)
    batch = max(1, int(DEFAULT_BATCH_PIXELS / tile_scale**2))
    return _Plan(image, frame, chosen, grid, geoms, batch)


def _batches(plan: _Plan, bar: Progress | None = None) -> Iterator[tuple[Selection, PixelValues]]:
    """Selections of consecutive regions, about ``batch_pixels`` at a time, with their values.

    ``bar``, if given, counts the regions done; a shown bar makes batches smaller
    so that it moves (the result is the same, as with ``tile_scale``).
    """
    pending: list[Selection] = []
    size = 0
    limit = min(plan.batch_pixels, BATCH_PIXELS_WITH_BAR) if bar is not None and bar.shown else plan.batch_pixels
    for part in iter_selections(plan.geometries, plan.grid, max_mask_pixels=limit):
        if pending and size + len(part) > limit:  # read first: never more than one batch at once
            selection, pixels = _read(plan, pending)
            yield selection, pixels
            if bar is not None and len(selection):  # every region before the last one read is done
                bar.advance_to(int(selection.feature[-1]))
            pending, size = [], 0
        pending.append(part)
        size += len(part)
    if pending:
        yield _read(plan, pending)
    if bar is not None:
        bar.advance_to(len(plan.geometries))


def _read(plan: _Plan, parts: list[Selection]) -> tuple[Selection, PixelValues]:
    selection = Selection.concat(parts)
    return selection, read_pixels(plan.image, plan.grid, selection.rows, selection.cols)


def _kept(pixels: PixelValues, drop_masked: bool) -> np.ndarray:
    """Which pixels make rows: valid in every band, or (``drop_masked=False``) in any band."""
    return pixels.valid.all(axis=1) if drop_masked else pixels.valid.any(axis=1)


def _frame(
    plan: _Plan,
    selection: Selection,
    pixels: PixelValues,
    *,
    geometries: bool,
    drop_masked: bool,
) -> gpd.GeoDataFrame:
    """Build one output frame from a batch's arrays."""
    rows = np.flatnonzero(_kept(pixels, drop_masked))
    feature = selection.feature[rows]
    index = plan.frame.index.take(feature)
    data: dict[str, Any] = {}
    for name in plan.properties:
        data[name] = plan.frame[name].array.take(feature)
    for k, name in enumerate(pixels.band_names):
        values = pixels.values[name][rows]
        data[name] = band_column(values, None if drop_masked else pixels.valid[rows, k])
    if geometries:
        x, y = plan.grid.centre(selection.rows[rows], selection.cols[rows])
        geometry = shapely.points(x, y)
    else:
        geometry = np.full(len(rows), None, dtype=object)
    out = gpd.GeoDataFrame(data, index=index, geometry=gpd.array.from_shapely(geometry, crs=plan.grid.crs))
    out.attrs["band_order"] = list(pixels.band_names)
    return out


def iter_sample_regions(
    image: Image | PathLike | Sequence[PathLike],
    regions: Any,
    *,
    properties: Sequence[str] | None = None,
    scale: float | None = None,
    projection: Any = None,
    tile_scale: float = 1,
    geometries: bool = False,
    drop_masked: bool = True,
    progress: bool = False,
) -> Iterator[gpd.GeoDataFrame]:
    """Yield the result of :func:`sample_regions` in consecutive chunks.

    The chunks, concatenated, equal ``sample_regions(...)`` (without ``feature_ids``).
    Memory is bounded by the chunk size (``tile_scale`` makes chunks smaller), not by
    the size of the whole result, so a result larger than memory can be streamed to
    disk.
    """
    plan = _plan(image, regions, properties=properties, scale=scale, projection=projection, tile_scale=tile_scale)
    with progress_bar(len(plan.frame), progress=progress, desc="sample_regions", unit="region") as bar:
        for selection, pixels in _batches(plan, bar):
            yield _frame(plan, selection, pixels, geometries=geometries, drop_masked=drop_masked)


def sample_regions(
    image: Image | PathLike | Sequence[PathLike],
    regions: Any,
    *,
    properties: Sequence[str] | None = None,
    scale: float | None = None,
    projection: Any = None,
    tile_scale: float = 1,
    geometries: bool = False,
    drop_masked: bool = True,
    feature_ids: bool = False,
    progress: bool = False,
    partitions: int | None = None,
    client: Any = None,
) -> gpd.GeoDataFrame:
    """Sample the pixels of an image in each region: Earth Engine's ``sampleRegions``.

    Parameters
    ----------
    image
        An :class:`~sampling.Image`, or the path(s) of raster file(s) to open as one.
    regions
        A GeoDataFrame (any CRS; it must have one) of points, lines, polygons or
        multi-geometries. Polygons select the pixels whose centre is inside, points
        the pixel that contains them, lines every pixel they cross.
    properties
        The region columns to copy to each row; all non-geometry columns by default.
    scale
        Working pixel size in metres. By default the native scale of the image's
        first band. The working grid keeps the projection's origin.
    projection
        The working projection: a :class:`~sampling.PixelGrid` or a CRS. By default the
        image's first band's grid.
    tile_scale
        Makes the chunks of work smaller (like Earth Engine's ``tileScale``) to use
        less memory; never changes the result.
    geometries
        If True, each row gets a Point at its pixel centre, in the working CRS.
        Otherwise the geometry column is empty (null), which saves memory.
    drop_masked
        If True (Earth Engine's behaviour), a pixel masked in any band is dropped. If
        False, it is kept with ``<NA>`` in its masked bands (pixels masked in every
        band are still dropped).
    feature_ids
        If True, the index holds Earth Engine's feature ids ``"<region label>_<k>"``
        (``k`` counting each region's rows from 0) instead of the region labels.
    progress
        If True, show a progress bar over the regions (needs tqdm). On a cluster, follow
        the work on Dask's dashboard instead.
    partitions, client
        Run on a Dask cluster (see :func:`sampling.cluster.sample_regions_dask`):
        the regions are cut into ``partitions`` spatially compact partitions (by
        default 2 per worker thread of ``client``) and the result is a lazy
        dask-geopandas GeoDataFrame. Regions that are already a dask-geopandas frame
        take this path too.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per (region, selected unmasked pixel), regions in input order and
        pixels in row-major order within a region. The index holds each row's region
        label (as ``GeoDataFrame.explode`` does), so ``regions.loc[result.index]``
        joins back. ``result.attrs["band_order"]`` lists the band names.

    Examples
    --------
    >>> import numpy as np, geopandas as gpd
    >>> from affine import Affine
    >>> from shapely import box
    >>> from sampling import Image, sample_regions
    >>> img = Image.from_array(np.arange(16, dtype="uint16").reshape(4, 4),
    ...                        Affine(10, 0, 0, 0, -10, 40), "EPSG:32618", bands=["B1"])
    >>> fields = gpd.GeoDataFrame({"crop": ["wheat"]}, geometry=[box(0, 20, 20, 40)], crs=32618)
    >>> sample_regions(img, fields)
      crop  B1 geometry
    0  wheat   0     None
    0  wheat   1     None
    0  wheat   4     None
    0  wheat   5     None
    """
    from .cluster import is_dask_collection, sample_regions_dask  # (cluster.py builds on this module)

    if partitions is not None or client is not None or is_dask_collection(regions):
        return sample_regions_dask(
            image, regions, properties=properties, scale=scale, projection=projection, tile_scale=tile_scale,
            geometries=geometries, drop_masked=drop_masked, feature_ids=feature_ids,
            partitions=partitions, client=client,
        )
    plan = _plan(image, regions, properties=properties, scale=scale, projection=projection, tile_scale=tile_scale)
    _check_memory(plan, geometries=geometries, drop_masked=drop_masked)
    with progress_bar(len(plan.frame), progress=progress, desc="sample_regions", unit="region") as bar:
        frames = [
            _frame(plan, selection, pixels, geometries=geometries, drop_masked=drop_masked)
            for selection, pixels in _batches(plan, bar)
        ]
    if frames:
        result = frames[0] if len(frames) == 1 else pd.concat(frames)
        result.attrs["band_order"] = plan.image.band_names
    else:
        result = _empty_frame(plan, geometries=geometries, drop_masked=drop_masked)
    if len(result) == 0:
        _warn_empty(plan)
    if feature_ids:
        result.index = feature_ids_of(result.index)
    return result


def _check_memory(plan: _Plan, *, geometries: bool, drop_masked: bool) -> None:
    """Refuse, before reading a pixel, a result that cannot fit in memory."""
    rows = float(estimate_pixels(plan.geometries, plan.grid).sum())
    per_band = sum(b.dtype.itemsize + (0 if drop_masked else 1) for b in plan.image.bands)
    per_property = plan.frame[plan.properties].memory_usage(index=False).sum() / max(len(plan.frame), 1)
    per_row = 8 + per_band + float(per_property) + (_POINT_BYTES if geometries else 8)
    check_fits_in_memory(
        rows * per_row,
        what=f"sample_regions' result (about {rows:,.0f} rows of {per_row:,.0f} bytes)" if rows < 1e15
        else f"sample_regions' result (about {rows:.2e} rows)",
        advice="Stream it to disk with sample_regions_to_dataset(...) (`sampling sample-regions ... "
        "--partition-size N`) or iterate with iter_sample_regions(...); or use a coarser scale or fewer "
        "regions.",
    )


def _empty_frame(plan: _Plan, *, geometries: bool, drop_masked: bool) -> gpd.GeoDataFrame:
    empty = Selection.empty()
    return _frame(plan, empty, read_pixels(plan.image, plan.grid, empty.rows, empty.cols),
                  geometries=geometries, drop_masked=drop_masked)


def empty_result(
    image: Image | PathLike | Sequence[PathLike],
    regions: Any,
    *,
    properties: Sequence[str] | None = None,
    scale: float | None = None,
    projection: Any = None,
    tile_scale: float = 1,
    geometries: bool = False,
    drop_masked: bool = True,
    feature_ids: bool = False,
) -> gpd.GeoDataFrame:
    """The frame :func:`sample_regions` returns when no pixel is selected: its schema.

    Same columns, dtypes, index type and CRS as any result of ``sample_regions`` with
    these arguments, with no rows; ``regions`` may be empty. The arguments are checked
    as ``sample_regions`` checks them, but no pixel is read.

    Examples
    --------
    >>> import numpy as np, geopandas as gpd
    >>> from sampling import Image
    >>> img = Image.from_array(np.zeros((2, 2), "uint16"), [10, 0, 0, 0, -10, 20], 32618, bands=["B1"])
    >>> regions = gpd.GeoDataFrame({"plot": np.array([], "int64")}, geometry=[], crs=32618)
    >>> empty_result(img, regions).dtypes.astype(str).to_dict()
    {'plot': 'int64', 'B1': 'uint16', 'geometry': 'geometry'}
    """
    plan = _plan(image, regions, properties=properties, scale=scale, projection=projection,
                 tile_scale=tile_scale, allow_empty=True)
    result = _empty_frame(plan, geometries=geometries, drop_masked=drop_masked)
    if feature_ids:
        result.index = feature_ids_of(result.index)
    return result


def feature_ids_of(labels: pd.Index) -> pd.Index:
    """Earth Engine's feature ids ``"<label>_<k>"`` for an index of region labels.

    ``k`` counts the rows of each region from 0 in order.

    Examples
    --------
    >>> feature_ids_of(pd.Index([3, 3, 5])).tolist()
    ['3_0', '3_1', '5_0']
    """
    k = pd.Series(np.zeros(len(labels), dtype="int64"), index=labels).groupby(level=0, sort=False).cumcount()
    return pd.Index([f"{label}_{n}" for label, n in zip(labels, k.to_numpy(), strict=True)], dtype=str,
                    name="system:index")


feature_ids = feature_ids_of


def _warn_empty(plan: _Plan) -> None:
    footprint = shapely.box(*plan.image.grid.bounds)
    regions = gpd.GeoSeries(plan.frame.geometry.values, crs=plan.frame.crs).to_crs(plan.image.grid.crs)
    if not regions.intersects(footprint).any():
        warnings.warn(
            "the regions lie entirely outside the image, so the result is empty. Check that the "
            "regions' CRS is right and that they overlap the image.",
            stacklevel=3,
        )
    else:
        warnings.warn(
            "the result is empty: no region contains a pixel centre, or every selected pixel is "
            "masked. Use a finer scale for regions smaller than a pixel.",
            stacklevel=3,
        )
