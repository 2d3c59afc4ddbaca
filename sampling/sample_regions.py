"""``sample_regions``: Earth Engine's ``Image.sampleRegions`` on local rasters.

One output row per (region, selected pixel): the region's properties, then one
column per band in the band's dtype. See ``DESIGN.md`` for the rules.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .engine import PixelValues, read_pixels
from .errors import GridError, PropertyError
from .grid import PixelGrid, working_grid
from .image import Image, PathLike, as_image
from .regions import as_regions, to_working_crs, validate_regions
from .selection import Selection, iter_selections
from .table import band_column, check_column_names

__all__ = ["sample_regions", "iter_sample_regions", "feature_ids", "DEFAULT_BATCH_PIXELS"]

#: Selected pixels read per batch at ``tile_scale=1``; ``tile_scale=k`` divides it by ``k**2``.
DEFAULT_BATCH_PIXELS = 4_000_000


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
) -> _Plan:
    image = as_image(image)
    frame = validate_regions(as_regions(regions))
    columns = [c for c in frame.columns if c != frame.geometry.name]
    if properties is None:
        chosen = columns
    else:
        chosen = [properties] if isinstance(properties, str) else list(properties)
        unknown = [p for p in chosen if p not in columns]
        if unknown:
            raise PropertyError(f"unknown properties {unknown}; the regions have {columns}.")
    check_column_names(image.band_names, chosen)
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


def _batches(plan: _Plan) -> Iterator[tuple[Selection, PixelValues]]:
    """Selections of consecutive regions, about ``batch_pixels`` at a time, with their values."""
    pending: list[Selection] = []
    size = 0
    for part in iter_selections(plan.geometries, plan.grid, max_mask_pixels=plan.batch_pixels):
        if pending and size + len(part) > plan.batch_pixels:  # never more than one batch at once
            yield _read(plan, pending)
            pending, size = [], 0
        pending.append(part)
        size += len(part)
    if pending:
        yield _read(plan, pending)


def _read(plan: _Plan, parts: list[Selection]) -> tuple[Selection, PixelValues]:
    selection = Selection.concat(parts)
    return selection, read_pixels(plan.image, plan.grid, selection.rows, selection.cols)


def _frame(
    plan: _Plan,
    selection: Selection,
    pixels: PixelValues,
    *,
    geometries: bool,
    drop_masked: bool,
) -> gpd.GeoDataFrame:
    """Build one output frame from a batch's arrays."""
    keep = pixels.valid.all(axis=1) if drop_masked else pixels.valid.any(axis=1)
    rows = np.flatnonzero(keep)
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
) -> Iterator[gpd.GeoDataFrame]:
    """Yield the result of :func:`sample_regions` in consecutive chunks.

    The chunks, concatenated, equal ``sample_regions(...)`` (without ``feature_ids``).
    Memory is bounded by the chunk size (``tile_scale`` makes chunks smaller), not by
    the size of the whole result, so a result larger than memory can be streamed to
    disk.
    """
    plan = _plan(image, regions, properties=properties, scale=scale, projection=projection, tile_scale=tile_scale)
    for selection, pixels in _batches(plan):
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
    plan = _plan(image, regions, properties=properties, scale=scale, projection=projection, tile_scale=tile_scale)
    frames = [
        _frame(plan, selection, pixels, geometries=geometries, drop_masked=drop_masked)
        for selection, pixels in _batches(plan)
    ]
    if frames:
        result = frames[0] if len(frames) == 1 else pd.concat(frames)
        result.attrs["band_order"] = plan.image.band_names
    else:
        empty = Selection.empty()
        result = _frame(plan, empty, read_pixels(plan.image, plan.grid, empty.rows, empty.cols),
                        geometries=geometries, drop_masked=drop_masked)
    if len(result) == 0:
        _warn_empty(plan)
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
    return pd.Index([f"{label}_{n}" for label, n in zip(labels, k.to_numpy())], name="system:index")


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
