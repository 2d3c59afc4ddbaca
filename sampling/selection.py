"""Which pixels a geometry selects: the one rule shared by every operation.

* Polygons and MultiPolygons select the pixels whose **centre lies inside**; holes
  exclude; ties on an edge follow GDAL's rasteriser (``all_touched=False``), so the
  selection equals ``rasterio.features.geometry_mask`` and rasterstats exactly.
* Points and MultiPoints select the pixel containing each point (``floor``), each
  distinct pixel once per feature.
* LineStrings and MultiLineStrings select every pixel they pass through
  (``all_touched=True``).
* A GeometryCollection selects the union of what its members select.

Selections are returned as flat arrays ``(feature, row, col)`` on a (possibly
unbounded) :class:`~sampling.grid.PixelGrid`, ordered by feature and then row-major
(north to south, west to east for a north-up grid). Large polygons are rasterised in
strips of whole rows so memory stays bounded and the order stays row-major.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from affine import Affine
from rasterio.features import rasterize

from .errors import GeometryError
from .grid import PixelGrid

__all__ = ["Selection", "select_pixels", "iter_selections", "estimate_pixels", "DEFAULT_MAX_MASK_PIXELS"]

#: The largest mask (in pixels) rasterised at once for one geometry; larger
#: geometries are rasterised in strips of whole rows.
DEFAULT_MAX_MASK_PIXELS = 16_000_000

_POINTS = {shapely.GeometryType.POINT, shapely.GeometryType.MULTIPOINT}
_LINES = {shapely.GeometryType.LINESTRING, shapely.GeometryType.MULTILINESTRING, shapely.GeometryType.LINEARRING}
_AREAS = {shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON}


@dataclass(frozen=True)
class Selection:
    """Selected pixels: parallel int64 arrays, ordered by feature then row-major.

    ``feature`` holds positions (0-based) into the input geometries; ``rows`` and
    ``cols`` are pixel indices on the grid the selection was made on.
    """

    feature: np.ndarray
    rows: np.ndarray
    cols: np.ndarray

    def __len__(self) -> int:
        return len(self.feature)

    @classmethod
    def empty(cls) -> Selection:
        z = np.empty(0, dtype="int64")
        return cls(z, z, z)

    @classmethod
    def concat(cls, parts: list[Selection]) -> Selection:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, k) for p in parts]) for k in ("feature", "rows", "cols")))


def select_pixels(
    geometries: Any,
    grid: PixelGrid,
    *,
    max_mask_pixels: int = DEFAULT_MAX_MASK_PIXELS,
) -> Selection:
    """Select the pixels of ``grid`` for each geometry.

    Parameters
    ----------
    geometries
        A sequence (or array) of shapely geometries, already in the grid's CRS.
        ``None`` and empty geometries select nothing.
    grid
        The working grid; its shape, if any, is ignored (selection happens on the
        unbounded lattice).
    max_mask_pixels
        The largest mask rasterised at once; this bounds memory, never the result.

    Returns
    -------
    Selection

    Examples
    --------
    >>> from shapely import box, Point
    >>> from affine import Affine
    >>> grid = PixelGrid("EPSG:32618", Affine(1, 0, 0, 0, -1, 0))
    >>> sel = select_pixels([box(0, -2, 2, 0), Point(0.5, -0.5)], grid)
    >>> sel.feature.tolist(), sel.rows.tolist(), sel.cols.tolist()
    ([0, 0, 0, 0, 1], [0, 0, 1, 1, 0], [0, 1, 0, 1, 0])
    """
    return Selection.concat(list(iter_selections(geometries, grid, max_mask_pixels=max_mask_pixels)))


def iter_selections(
    geometries: Any,
    grid: PixelGrid,
    *,
    max_mask_pixels: int = DEFAULT_MAX_MASK_PIXELS,
) -> Iterator[Selection]:
    """Yield the selection of each geometry in turn (in strips for large ones).

    Points of all features are handled in one vectorised pass and yielded first per
    feature in order; the concatenation of what is yielded is ordered by feature.
    """
    geoms = np.asarray(geometries, dtype=object)
    n = len(geoms)
    if n == 0:
        return
    types = shapely.get_type_id(geoms)
    empty = shapely.is_empty(geoms) | shapely.is_missing(geoms)
    is_point = np.isin(types, [int(t) for t in _POINTS]) & ~empty
    points = _select_points(geoms, np.flatnonzero(is_point), grid)
    point_starts = np.searchsorted(points.feature, np.arange(n + 1))
    for i in range(n):
        if empty[i]:
            continue
        if is_point[i]:
            a, b = point_starts[i], point_starts[i + 1]
            yield Selection(points.feature[a:b], points.rows[a:b], points.cols[a:b])
        else:
            yield from _select_shape(i, geoms[i], grid, max_mask_pixels)


def estimate_pixels(geometries: Any, grid: PixelGrid) -> np.ndarray:
    """About how many pixels of ``grid`` each geometry selects, without selecting them.

    Areas count their area in pixels, lines their length in pixels, points their
    parts; ``None`` and empty geometries count 0. Cheap (no rasterisation): meant for
    sizing a request before doing it.

    Examples
    --------
    >>> from shapely import box, LineString, MultiPoint
    >>> grid = PixelGrid("EPSG:32618", Affine(10, 0, 0, 0, -10, 0))
    >>> estimate_pixels([box(0, 0, 100, 50), LineString([(0, 0), (0, 30)]), MultiPoint([(1, 1), (2, 2)])], grid)
    array([50.,  3.,  2.])
    """
    geoms = np.asarray(geometries, dtype=object)
    pixel_area = abs(grid.transform.determinant)
    area = np.nan_to_num(shapely.area(geoms)) / pixel_area
    length = np.nan_to_num(shapely.length(geoms)) / np.sqrt(pixel_area)
    parts = np.where(shapely.is_empty(geoms) | shapely.is_missing(geoms), 0, shapely.get_num_geometries(geoms))
    return np.where(area > 0, area, np.where(length > 0, length, parts)).astype("float64")


def _select_points(geoms: np.ndarray, which: np.ndarray, grid: PixelGrid) -> Selection:
    if len(which) == 0:
        return Selection.empty()
    parts, index = shapely.get_parts(geoms[which], return_index=True)
    coords = shapely.get_coordinates(parts)
    rows, cols = grid.index(coords[:, 0], coords[:, 1])
    feature = which[index].astype("int64")
    # one row per distinct pixel per feature, row-major within a feature
    keys = np.stack([feature, rows, cols], axis=1)
    keys = np.unique(keys, axis=0)
    return Selection(keys[:, 0].copy(), keys[:, 1].copy(), keys[:, 2].copy())


def _select_shape(i: int, geom: Any, grid: PixelGrid, max_mask_pixels: int) -> Iterator[Selection]:
    type_id = shapely.get_type_id(geom)
    if type_id == shapely.GeometryType.GEOMETRYCOLLECTION:
        yield _select_collection(i, geom, grid, max_mask_pixels)
        return
    if type_id in _AREAS:
        all_touched = False
    elif type_id in _LINES:
        all_touched = True
    else:  # pragma: no cover - every shapely type is handled above
        raise GeometryError(f"cannot select pixels for a {shapely.get_type_id(geom)} geometry.")
    row0, col0, height, width = grid.window(shapely.bounds(geom), clip=False)
    if all_touched:  # a line on a pixel edge touches the pixels on both sides
        row0, col0, height, width = row0 - 1, col0 - 1, height + 2, width + 2
    widest = max(int(max_mask_pixels), DEFAULT_MAX_MASK_PIXELS)  # one row of the mask at least
    if width > widest:
        span = f"{width:,}" if width < 10**12 else f"{float(width):.2e}"
        raise GeometryError(
            f"the geometry at position {i} spans {span} pixels from west to east on the working grid, more "
            f"than one row of pixels can hold ({widest:,}). Use a coarser scale, or check the regions' CRS "
            "and the raster's georeferencing."
        )
    strip = max(1, int(max_mask_pixels) // max(width, 1))
    for top in range(row0, row0 + height, strip):
        rows_here = min(strip, row0 + height - top)
        transform = grid.transform @ Affine.translation(col0, top)
        burned = rasterize(
            [(geom, 1)],
            out_shape=(rows_here, width),
            transform=transform,
            fill=0,
            all_touched=all_touched,
            dtype="uint8",
        )
        r, c = np.nonzero(burned)
        if len(r):
            yield Selection(np.full(len(r), i, dtype="int64"), r.astype("int64") + top, c.astype("int64") + col0)


def _select_collection(i: int, geom: Any, grid: PixelGrid, max_mask_pixels: int) -> Selection:
    members = shapely.get_parts(geom)
    parts = [
        Selection(np.full(len(s), i, dtype="int64"), s.rows, s.cols)
        for s in iter_selections(members, grid, max_mask_pixels=max_mask_pixels)
    ]
    merged = Selection.concat(parts)
    if not len(merged):
        return merged
    keys = np.unique(np.stack([merged.rows, merged.cols], axis=1), axis=0)
    return Selection(np.full(len(keys), i, dtype="int64"), keys[:, 0].copy(), keys[:, 1].copy())
