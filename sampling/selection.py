"""Which pixels a geometry selects: the one rule shared by every operation.

* Polygons and MultiPolygons select the pixels whose **centre lies inside**; holes
  exclude; ties on an edge follow GDAL's rasteriser (``all_touched=False``), so the
  selection equals ``rasterio.features.geometry_mask`` on the grid's transform exactly.
  GDAL's scanline rule is restated in NumPy (:func:`polygon_spans`) and applied to many
  polygons at once; a polygon spanning more than ``MAX_SPAN_ROWS`` rows is burnt by GDAL
  itself in strips of whole rows, on the same pixel-space coordinates.
* Points and MultiPoints select the pixel containing each point (``floor``), each
  distinct pixel once per feature.
* LineStrings and MultiLineStrings select every pixel they pass through
  (``all_touched=True``).
* A GeometryCollection selects the union of what its members select.

Selections are returned as flat arrays ``(feature, row, col)`` on a (possibly
unbounded) :class:`~sampling.grid.PixelGrid`, ordered by feature and then row-major
(north to south, west to east for a north-up grid). They are produced in pieces of
bounded size (a large polygon over several pieces, in whole runs of a row), so memory
stays bounded and the order stays row-major.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning
from rasterio.features import rasterize

from .errors import GeometryError
from .grid import PixelGrid

__all__ = ["Selection", "select_pixels", "iter_selections", "estimate_pixels", "DEFAULT_MAX_MASK_PIXELS"]

#: The largest mask (in pixels) rasterised at once for one geometry; larger
#: geometries are rasterised in strips of whole rows.
DEFAULT_MAX_MASK_PIXELS = 16_000_000

#: Polygons spanning more pixel rows than this are rasterised by GDAL in strips of whole
#: rows rather than as runs computed all at once, so memory stays bounded.
MAX_SPAN_ROWS = 1_000_000

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
    """Yield the selection in consecutive pieces of at most about ``max_mask_pixels`` pixels.

    The concatenation of the pieces is the whole selection, ordered by feature and
    then row-major. A piece may hold many features, and a large feature may be split
    over several pieces (in whole rows); the size bounds memory, never the result.

    Points, and polygons on a north-up or rotated grid, are selected by vectorised
    NumPy for many features at once; lines and geometry collections are rasterised
    one by one with GDAL.
    """
    geoms = np.asarray(geometries, dtype=object)
    n = len(geoms)
    if n == 0:
        return
    limit = max(1, int(max_mask_pixels))
    types = shapely.get_type_id(geoms)
    empty = shapely.is_empty(geoms) | shapely.is_missing(geoms)
    is_point = np.isin(types, [int(t) for t in _POINTS]) & ~empty
    is_area = np.isin(types, [int(t) for t in _AREAS]) & ~empty
    points = _select_points(geoms, np.flatnonzero(is_point), grid)
    point_starts = np.searchsorted(points.feature, np.arange(n + 1))
    # how many pixels each feature may select at most: its points, or its bounding box
    estimate = np.diff(point_starts).astype("float64")
    if is_area.any():
        estimate[is_area] = _bbox_pixels(shapely.bounds(geoms[is_area]), grid)
    if is_area.any():  # the runs of a very tall polygon would not fit in memory at once
        tall = np.zeros(n, dtype=bool)
        tall[is_area] = _bbox_rows(shapely.bounds(geoms[is_area]), grid) > MAX_SPAN_ROWS
        is_area &= ~tall
    other = ~(is_point | is_area | empty)
    # lines, collections and very tall polygons go to GDAL one by one, in strips; features
    # that may exceed a piece are handled one by one
    for a, b in _feature_groups(estimate, other | (estimate > limit), limit):
        if b - a == 1 and other[a]:
            yield from _select_shape(a, geoms[a], grid, limit)
            continue
        pts = Selection(*(getattr(points, k)[point_starts[a] : point_starts[b]] for k in ("feature", "rows", "cols")))
        areas = np.flatnonzero(is_area[a:b]) + a
        if len(areas) == 0:
            if len(pts):
                yield pts
            continue
        spans = polygon_spans(geoms[areas], grid, features=areas)
        if len(pts) == 0:
            yield from _expand_spans(spans, limit)
            continue
        yield _merge_by_feature([pts, *_expand_spans(spans, None)])


def _bbox_rows(bounds: np.ndarray, grid: PixelGrid) -> np.ndarray:
    """An upper bound of the pixel rows each bounding box spans."""
    t = grid.transform
    side = math.sqrt(abs(t.a * t.e - t.b * t.d))
    return np.hypot(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1]) / side + 2


def _bbox_pixels(bounds: np.ndarray, grid: PixelGrid) -> np.ndarray:
    """An upper bound of the pixels in each bounding box (one pixel of margin on each side)."""
    t = grid.transform
    area = abs(t.a * t.e - t.b * t.d)
    side = math.sqrt(area)
    w = (bounds[:, 2] - bounds[:, 0]) / side + 2
    h = (bounds[:, 3] - bounds[:, 1]) / side + 2
    if not grid.is_rectilinear:  # a rotated box covers at most its diagonal squared
        w = h = np.hypot(w, h)
    return w * h


def _feature_groups(estimate: np.ndarray, alone: np.ndarray, limit: int) -> Iterator[tuple[int, int]]:
    """Consecutive feature ranges whose estimated pixels add up to about ``limit`` (at most
    ``limit`` plus one feature's estimate). Features flagged ``alone`` form a range of their own.

    Examples
    --------
    >>> list(_feature_groups(np.array([3.0, 3, 3, 1, 1]), np.array([0, 0, 0, 1, 0], bool), 5))
    [(0, 1), (1, 3), (3, 4), (4, 5)]
    """
    n = len(estimate)
    cuts = np.flatnonzero(alone)
    segments = np.stack([np.r_[0, cuts + 1], np.r_[cuts, n]], axis=1)
    for k, (a, b) in enumerate(segments):
        if b > a:
            # a new range starts wherever the running total passes another multiple of limit
            total = np.cumsum(estimate[a:b])
            ranks = np.floor(total / max(limit, 1)).astype("int64")
            starts = a + np.flatnonzero(np.r_[True, ranks[1:] != ranks[:-1]])
            yield from zip(starts.tolist(), np.r_[starts[1:], b].tolist(), strict=True)
        if k < len(cuts):
            yield int(cuts[k]), int(cuts[k]) + 1


def _merge_by_feature(parts: list[Selection]) -> Selection:
    """Concatenate selections that are each ordered by feature into one ordered by feature."""
    merged = Selection.concat(parts)
    order = np.argsort(merged.feature, kind="stable")
    return Selection(merged.feature[order], merged.rows[order], merged.cols[order])


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
    """The pixel of each point; each distinct pixel once per MultiPoint, row-major."""
    if len(which) == 0:
        return Selection.empty()
    single = shapely.get_type_id(geoms[which]) == shapely.GeometryType.POINT
    coords = shapely.get_coordinates(geoms[which[single]])  # one coordinate per Point
    rows, cols = grid.index(coords[:, 0], coords[:, 1])
    points = Selection(which[single].astype("int64"), rows, cols)
    if single.all():
        return points
    parts, index = shapely.get_parts(geoms[which[~single]], return_index=True)
    coords = shapely.get_coordinates(parts)
    rows, cols = grid.index(coords[:, 0], coords[:, 1])
    keys = np.unique(np.stack([which[~single][index].astype("int64"), rows, cols], axis=1), axis=0)
    multi = Selection(keys[:, 0].copy(), keys[:, 1].copy(), keys[:, 2].copy())
    return _merge_by_feature([points, multi])


# -- polygons: GDAL's scanline rule, vectorised over many polygons --------------------------------


def gdal_inverse_transform(transform: Affine) -> tuple[float, float, float, float, float, float]:
    """The pixel-from-world transform exactly as GDAL computes it (``GDALInvGeoTransform``).

    Returned in GDAL's order ``(u0, du/dx, du/dy, v0, dv/dx, dv/dy)``. The rounding of
    these coefficients decides on which side of a pixel centre an edge falls when the
    two (nearly) coincide, so they are computed with GDAL's own formulas.

    Examples
    --------
    >>> gdal_inverse_transform(Affine(10, 0, 500000, 0, -10, 4000000))
    (-50000.0, 0.1, 0.0, 400000.0, 0.0, -0.1)
    """
    a, b, c, d, e, f = transform[:6]
    if b == 0.0 and d == 0.0 and a != 0.0 and e != 0.0:
        return (-c / a, 1.0 / a, 0.0, -f / e, 0.0, 1.0 / e)
    det = a * e - b * d
    inv = 1.0 / det
    return ((b * f - c * e) * inv, e * inv, -b * inv, (-a * f + c * d) * inv, -d * inv, a * inv)


@dataclass(frozen=True)
class Spans:
    """Runs of selected pixels: on row ``rows[k]``, columns ``starts[k]`` to ``stops[k]`` inclusive.

    Sorted by feature, row and start; the runs of one feature never overlap.
    """

    feature: np.ndarray
    rows: np.ndarray
    starts: np.ndarray
    stops: np.ndarray

    def __len__(self) -> int:
        return len(self.feature)

    @property
    def lengths(self) -> np.ndarray:
        return self.stops - self.starts + 1

    def pixels(self) -> Selection:
        """The pixels of the runs, ordered by feature then row-major."""
        lengths = self.lengths
        total = int(lengths.sum())
        offsets = np.cumsum(lengths) - lengths
        run = np.repeat(np.arange(len(lengths)), lengths)
        cols = self.starts[run] + (np.arange(total, dtype="int64") - offsets[run])
        return Selection(self.feature[run], self.rows[run], cols)


def polygon_spans(polygons: Any, grid: PixelGrid, *, features: np.ndarray | None = None) -> Spans:
    """The pixels whose centre is inside each (Multi)Polygon, as runs along rows.

    This is GDAL's scanline rasteriser (``all_touched=False``) restated in NumPy for
    many polygons at once, so the selection equals
    ``rasterio.features.geometry_mask(..., transform=grid.transform, all_touched=False)``
    exactly, ties included: vertices go to pixel space with GDAL's inverse transform;
    each ring is walked in GDAL's order (clockwise as is, otherwise reversed); on the
    scanline through row ``r``'s centres (``r + 0.5``) an edge from ``y1 < y2`` counts
    when ``y1 <= r + 0.5 < y2``, crossing at ``floor(x + 0.5)``; sorted crossings pair
    up into runs ``[x0, x1 - 1]``; a horizontal edge lying on the scanline and running
    right to left fills its own run; the parts of a MultiPolygon are united.

    Parameters
    ----------
    polygons
        Polygons and MultiPolygons in the grid's CRS.
    grid
        The grid; its shape is ignored.
    features
        The feature number of each polygon (by default its position).

    Examples
    --------
    >>> from shapely import box
    >>> grid = PixelGrid("EPSG:32618", Affine(1, 0, 0, 0, -1, 0))
    >>> s = polygon_spans([box(0, -2, 3, 0)], grid)
    >>> s.rows.tolist(), s.starts.tolist(), s.stops.tolist()
    ([0, 1], [0, 0], [2, 2])
    """
    polys = np.asarray(polygons, dtype=object)
    features = np.arange(len(polys), dtype="int64") if features is None else np.asarray(features, dtype="int64")
    parts, part_poly = shapely.get_parts(polys, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    if len(rings) == 0:
        z = np.empty(0, dtype="int64")
        return Spans(z, z, z, z)
    coords, vertex_ring = shapely.get_coordinates(rings, return_index=True)
    first = np.searchsorted(vertex_ring, np.arange(len(rings)))
    last = np.r_[first[1:], len(vertex_ring)] - 1
    # GDAL walks clockwise rings as they are and reverses the others
    position = np.arange(len(vertex_ring))
    reverse = shapely.is_ccw(rings)[vertex_ring]
    coords = coords[np.where(reverse, first[vertex_ring] + last[vertex_ring] - position, position)]
    g = gdal_inverse_transform(grid.transform)
    x = coords[:, 0]
    y = coords[:, 1]
    u = g[0] + x * g[1] + y * g[2]
    v = g[3] + x * g[4] + y * g[5]
    # edge k runs from vertex k - 1 to vertex k (the first from the ring's last vertex)
    previous = position - 1
    previous[first] = last
    x1, y1, x2, y2 = u[previous], v[previous], u, v
    part = ring_part[vertex_ring]
    runs = [_crossing_runs(part, x1, y1, x2, y2), _horizontal_runs(part, x1, y1, x2, y2)]
    part_id = np.concatenate([r[0] for r in runs])
    row = np.concatenate([r[1] for r in runs])
    start = np.concatenate([r[2] for r in runs])
    stop = np.concatenate([r[3] for r in runs])
    keep = stop >= start
    feature = features[part_poly[part_id[keep]]]
    return _union_runs(feature, row[keep], start[keep], stop[keep])


def _crossing_runs(part, x1, y1, x2, y2):
    """Runs between pairs of edge crossings on each scanline of each polygon part."""
    sloped = y1 != y2
    up = y1 < y2
    lo_y = np.where(up, y1, y2)[sloped]
    hi_y = np.where(up, y2, y1)[sloped]
    lo_x = np.where(up, x1, x2)[sloped]
    hi_x = np.where(up, x2, x1)[sloped]
    edge_part = part[sloped]
    # candidate scanlines, one too many at each end; the exact test below decides
    first = np.floor(lo_y - 0.5).astype("int64")
    count = np.ceil(hi_y - 0.5).astype("int64") - first + 1
    edge = np.repeat(np.arange(len(first)), count)
    row = first[edge] + (np.arange(len(edge)) - np.repeat(np.cumsum(count) - count, count))
    dy = row + 0.5
    hit = (dy < hi_y[edge]) & (dy >= lo_y[edge])
    edge, row, dy = edge[hit], row[hit], dy[hit]
    dy1, dy2, dx1, dx2 = lo_y[edge], hi_y[edge], lo_x[edge], hi_x[edge]
    crossing = np.floor((dy - dy1) * (dx2 - dx1) / (dy2 - dy1) + dx1 + 0.5).astype("int64")
    edge_part = edge_part[edge]
    order = np.lexsort((crossing, row, edge_part))
    edge_part, row, crossing = edge_part[order], row[order], crossing[order]
    new = np.r_[True, (edge_part[1:] != edge_part[:-1]) | (row[1:] != row[:-1])]
    group_start = np.flatnonzero(new)
    group = np.cumsum(new) - 1
    rank = np.arange(len(row)) - group_start[group]
    size = np.diff(np.r_[group_start, len(row)])
    pair = np.flatnonzero((rank % 2 == 0) & (rank + 1 < size[group]))
    return edge_part[pair], row[pair], crossing[pair], crossing[pair + 1] - 1


def _horizontal_runs(part, x1, y1, x2, y2):
    """GDAL fills a horizontal edge that lies on a scanline and runs right to left."""
    flat = np.flatnonzero((y1 == y2) & (x1 > x2))
    row = np.floor(y1[flat])
    on_scanline = row + 0.5 == y1[flat]
    flat, row = flat[on_scanline], row[on_scanline].astype("int64")
    return part[flat], row, np.floor(x2[flat] + 0.5).astype("int64"), np.floor(x1[flat] + 0.5).astype("int64") - 1


def _union_runs(feature: np.ndarray, row: np.ndarray, start: np.ndarray, stop: np.ndarray) -> Spans:
    """Sort runs by (feature, row, start) and merge those of one feature and row that overlap."""
    order = np.lexsort((start, row, feature))
    feature, row, start, stop = feature[order], row[order], start[order], stop[order]
    if len(feature) < 2:
        return Spans(feature, row, start, stop)
    same = (feature[1:] == feature[:-1]) & (row[1:] == row[:-1])
    if not same.any():
        return Spans(feature, row, start, stop)
    # within each (feature, row) group, a run continues the previous one when it starts
    # at or before the furthest stop so far
    group = np.cumsum(np.r_[True, ~same])
    shift = stop.min()
    span = int(max(stop.max(), start.max()) - shift) + 2
    reach = np.maximum.accumulate(group * span + (stop - shift))
    opens = np.r_[True, ~same | (group[1:] * span + (start[1:] - shift) > reach[:-1] + 1)]
    head = np.flatnonzero(opens)
    tail = np.r_[head[1:], len(feature)] - 1
    return Spans(feature[head], row[head], start[head], reach[tail] - group[tail] * span + shift)


def _expand_spans(spans: Spans, limit: int | None) -> Iterator[Selection]:
    """The pixels of ``spans``, in pieces of at most ``limit`` pixels (whole runs)."""
    if len(spans) == 0:
        return
    if limit is None:
        yield spans.pixels()
        return
    ends = np.cumsum(spans.lengths)
    start = 0
    while start < len(spans):
        before = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, before + limit, side="right")))
        yield Spans(*(getattr(spans, k)[start:stop] for k in ("feature", "rows", "starts", "stops"))).pixels()
        start = stop


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
    # rasterise in pixel space, the vertices placed exactly as GDAL places them on the
    # whole grid; whole-pixel offsets of each strip are then exact, as in GDAL's own
    # chunking, so strips never change the result
    g = gdal_inverse_transform(grid.transform)
    pixels = shapely.transform(geom, lambda xy: np.c_[g[0] + xy[:, 0] * g[1] + xy[:, 1] * g[2],
                                                      g[3] + xy[:, 0] * g[4] + xy[:, 1] * g[5]])
    umin, vmin, umax, vmax = shapely.bounds(pixels)
    col0, row0 = math.floor(umin) - 1, math.floor(vmin) - 1  # a line on a pixel edge touches both sides
    width, height = math.ceil(umax) + 1 - col0, math.ceil(vmax) + 1 - row0
    # GDAL's line stepping depends on where a line is clipped, so a line is cut into
    # strips only when its bounding box exceeds DEFAULT_MAX_MASK_PIXELS (a 16 MB mask),
    # whatever smaller chunk the caller asks for; a polygon's scanlines do not, so its
    # strips follow the caller's chunk
    widest = max(int(max_mask_pixels), DEFAULT_MAX_MASK_PIXELS)  # one row of the mask at least
    if width > widest:
        span = f"{width:,}" if width < 10**12 else f"{float(width):.2e}"
        raise GeometryError(
            f"the geometry at position {i} spans {span} pixels from west to east on the working grid, more "
            f"than one row of pixels can hold ({widest:,}). Use a coarser scale, or check the regions' CRS "
            "and the raster's georeferencing."
        )
    strip = max(1, (widest if all_touched else int(max_mask_pixels)) // max(width, 1))
    for top in range(row0, row0 + height, strip):
        rows_here = min(strip, row0 + height - top)
        shifted = shapely.transform(pixels, lambda uv, top=top: uv - np.array([col0, top], dtype="float64"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            burned = rasterize(
                [(shifted, 1)],
                out_shape=(rows_here, width),
                transform=Affine.identity(),
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
