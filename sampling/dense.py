"""Dense reads: every pixel of equally sized rectangular windows of a grid.

``get_pixels`` reads one window (the output grid) and the patch cutter reads one
window per point. Both want every pixel of their windows, which the engine's
pixel-by-pixel path (:func:`sampling.engine.read_pixels`) handles in general but
slowly for millions of pixels. :func:`read_windows` takes a faster, exactly
equivalent path for each source whose lattice the windows lie on:

* **On the source's lattice** (same CRS, and the grid maps to the source's pixel
  space by a whole-pixel translation): nearest neighbour is the identity up to
  that shift, so the windows are copied out of the source's blocks. Each block
  (grouped into read units of at least 256 x 256 pixels) is read once, whatever
  the number of windows it serves.
* **Anywhere else** (another CRS, scale, shear or a sub-pixel shift): each pixel
  centre is mapped into the source with the engine's own rule
  (:func:`~sampling.engine.source_pixels`). When the source pixels needed fit in a
  window not much larger than the request (at most ``WINDOW_FACTOR`` times its
  pixel count, or one read unit), that window is read once and indexed;
  otherwise (a coarse request over a large source) the pixels go through
  :func:`~sampling.engine.read_pixels`, which reads only the blocks they touch.

The equivalence is exact: on the lattice every window pixel's centre lies half a
pixel inside the source pixel the copy takes, so the engine's ``floor`` picks the
same pixel; elsewhere the mapping is the engine's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .engine import read_pixels, source_pixels
from .grid import PixelGrid
from .image import Image, RasterSource
from .remote import gdal_env

__all__ = ["Windows", "read_windows", "lattice_offset"]

#: Smallest read unit, in pixels a side; a unit is a whole number of source blocks.
READ_UNIT = 256

#: A mapped request reads one source window when it holds at most this many times its pixels.
WINDOW_FACTOR = 4

#: How far from a whole-pixel translation a grid may be and still count as on the lattice.
_LATTICE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Windows:
    """Values of some bands in ``N`` windows of ``height x width`` pixels.

    ``values[k]`` is an ``(N, height, width)`` array in band ``k``'s dtype, 0 where
    masked; ``valid`` is a boolean ``(N, bands, height, width)`` array.
    """

    band_names: list[str]
    values: list[np.ndarray]
    valid: np.ndarray


def lattice_offset(grid: PixelGrid, source_grid: PixelGrid) -> tuple[int, int] | None:
    """``(row, col)`` of ``grid``'s pixel (0, 0) on ``source_grid``, if ``grid`` lies on its lattice.

    ``None`` when the grids differ by anything but a whole-pixel translation (CRS,
    pixel size, shear, or a fractional shift).

    Examples
    --------
    >>> from affine import Affine
    >>> src = PixelGrid("EPSG:32618", Affine(10, 0, 1000, 0, -10, 5000), (100, 100))
    >>> lattice_offset(src.subgrid(3, 7, 5, 5), src)
    (3, 7)
    >>> lattice_offset(PixelGrid("EPSG:32618", Affine(10, 0, 1005, 0, -10, 5000)), src) is None
    True
    """
    if not (grid.crs is source_grid.crs or grid.crs == source_grid.crs):
        return None
    m = ~source_grid.transform @ grid.transform  # grid pixel space -> source pixel space
    linear = np.array([m.a - 1.0, m.b, m.d, m.e - 1.0])
    # a linear error e drifts by e * n pixels n pixels away from the grid's origin: over the
    # whole source and the whole grid, the drift must stay negligible
    extent = max(source_grid.shape or (1, 1)) + max(grid.shape or (1, 1)) + abs(m.c) + abs(m.f)
    if np.max(np.abs(linear)) * extent > _LATTICE_TOLERANCE:
        return None
    col, row = round(m.c), round(m.f)
    if abs(m.c - col) > _LATTICE_TOLERANCE or abs(m.f - row) > _LATTICE_TOLERANCE:
        return None
    return int(row), int(col)


def read_windows(
    image: Image,
    grid: PixelGrid,
    row_offsets: Sequence[int] | np.ndarray,
    col_offsets: Sequence[int] | np.ndarray,
    shape: tuple[int, int],
    *,
    bands: Sequence[str] | None = None,
) -> Windows:
    """Read every pixel of ``N`` windows of ``grid``, each ``shape = (height, width)``.

    Window ``n`` covers rows ``row_offsets[n] ... + height`` and columns
    ``col_offsets[n] ... + width`` of ``grid`` (an unbounded lattice is fine).
    Values are those :func:`~sampling.engine.read_pixels` gives for the same
    pixels; pixels outside a band's footprint are masked.

    Examples
    --------
    >>> from affine import Affine
    >>> img = Image.from_array(np.arange(20, dtype="uint8").reshape(4, 5), Affine(1, 0, 0, 0, -1, 4), 32618)
    >>> w = read_windows(img, img.grid, [0, 3], [1, 4], (2, 2))
    >>> w.values[0].tolist()
    [[[1, 2], [6, 7]], [[19, 0], [0, 0]]]
    >>> w.valid[1, 0].tolist()
    [[True, False], [False, False]]
    """
    rows0 = np.asarray(row_offsets, dtype="int64").reshape(-1)
    cols0 = np.asarray(col_offsets, dtype="int64").reshape(-1)
    if rows0.shape != cols0.shape:
        raise ValueError("row_offsets and col_offsets must have the same length.")
    height, width = (int(v) for v in shape)
    selected = [image.band(b) for b in bands] if bands is not None else list(image.bands)
    n = len(rows0)
    values = [np.zeros((n, height, width), dtype=b.dtype) for b in selected]
    valid = np.zeros((n, len(selected), height, width), dtype=bool)
    if n == 0 or height == 0 or width == 0:
        return Windows([b.name for b in selected], values, valid)

    by_source: dict[int, tuple[RasterSource, list[int]]] = {}
    for k, band in enumerate(selected):
        by_source.setdefault(id(band.source), (band.source, []))[1].append(k)

    pixels: tuple[np.ndarray, np.ndarray] | None = None  # every window pixel, built when first needed
    mapped: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    elsewhere: list[int] = []
    with gdal_env():
        for source, positions in by_source.values():
            indexes = [selected[k].index for k in positions]
            outputs = [values[k] for k in positions]
            offset = lattice_offset(grid, source.grid)
            if offset is not None:
                _copy_blocks(source, indexes, rows0 + offset[0], cols0 + offset[1], (height, width), outputs,
                             valid, positions)
                continue
            if pixels is None:
                pixels = _window_pixels(rows0, cols0, (height, width))
            key = (source.grid.crs.to_wkt(), tuple(source.grid.transform))
            if key not in mapped:
                mapped[key] = source_pixels(grid, *pixels, source.grid)
            if not _read_one_window(source, indexes, *mapped[key], outputs, valid, positions):
                elsewhere.extend(positions)
    if elsewhere:
        got = read_pixels(image, grid, *pixels, bands=[selected[k].name for k in elsewhere])  # type: ignore[misc]
        for j, k in enumerate(elsewhere):
            values[k][...] = got.values[selected[k].name].reshape(values[k].shape)
            valid[:, k] = got.valid[:, j].reshape(values[k].shape)
    for k, out in enumerate(values):  # nodata and NaN become 0, like pixels outside the footprint
        out[~valid[:, k]] = 0
    return Windows([b.name for b in selected], values, valid)


def _window_pixels(rows0: np.ndarray, cols0: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of every pixel of every window, window by window, row-major."""
    height, width = shape
    rows = (rows0[:, None, None] + np.arange(height)[None, :, None]) + np.zeros((1, 1, width), "int64")
    cols = (cols0[:, None, None] + np.arange(width)[None, None, :]) + np.zeros((1, height, 1), "int64")
    return rows.reshape(-1), cols.reshape(-1)


def _read_one_window(
    source: RasterSource,
    indexes: list[int],
    rows: np.ndarray,
    cols: np.ndarray,
    outputs: list[np.ndarray],
    valid: np.ndarray,
    positions: list[int],
) -> bool:
    """Gather source pixels ``(rows, cols)`` from one window read; False if that window is too large."""
    inside = source.grid.contains(rows, cols)
    if not inside.any():
        return True
    r, c = rows[inside], cols[inside]
    row0, col0 = int(r.min()), int(c.min())
    height, width = int(r.max()) - row0 + 1, int(c.max()) - col0 + 1
    if height * width > max(WINDOW_FACTOR * len(rows), READ_UNIT * READ_UNIT):
        return False
    data, ok = source.read(indexes, (row0, col0, height, width))
    r -= row0
    c -= col0
    shape = outputs[0].shape
    for j, (out, arr) in enumerate(zip(outputs, data, strict=True)):
        flat = out.reshape(-1)
        flat[inside] = arr[r, c]
        band_valid = valid[:, positions[j]].reshape(-1)
        band_valid[inside] = ok[j][r, c]
        valid[:, positions[j]] = band_valid.reshape(shape)
    return True


def _copy_blocks(
    source: RasterSource,
    indexes: list[int],
    rows0: np.ndarray,
    cols0: np.ndarray,
    shape: tuple[int, int],
    outputs: list[np.ndarray],
    valid: np.ndarray,
    positions: list[int],
) -> None:
    """Copy windows (in source pixel indices) out of ``source``, each read unit read once."""
    height, width = shape
    src_h, src_w = source.grid.shape  # type: ignore[misc]
    # each window clipped to the source
    top = np.clip(rows0, 0, src_h)
    left = np.clip(cols0, 0, src_w)
    bottom = np.clip(rows0 + height, 0, src_h)
    right = np.clip(cols0 + width, 0, src_w)
    hit = np.flatnonzero((bottom > top) & (right > left))
    if len(hit) == 0:
        return
    bh, bw = source.block_shape
    uh = bh * max(1, -(-READ_UNIT // bh))
    uw = bw * max(1, -(-READ_UNIT // bw))
    units_across = -(-src_w // uw)
    # every (unit, window) pair the windows touch, grouped by unit
    ur0, ur1 = top[hit] // uh, (bottom[hit] - 1) // uh
    uc0, uc1 = left[hit] // uw, (right[hit] - 1) // uw
    n_rows, n_cols = ur1 - ur0 + 1, uc1 - uc0 + 1
    count = n_rows * n_cols
    window = np.repeat(hit, count)
    k = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    unit_row = np.repeat(ur0, count) + k // np.repeat(n_cols, count)
    unit_col = np.repeat(uc0, count) + k % np.repeat(n_cols, count)
    unit = unit_row * units_across + unit_col
    order = np.argsort(unit, kind="stable")
    unit, window = unit[order], window[order]
    starts = np.flatnonzero(np.r_[True, unit[1:] != unit[:-1]])
    ends = np.r_[starts[1:], len(unit)]
    for a, b in zip(starts, ends, strict=True):
        row0 = int(unit[a] // units_across) * uh
        col0 = int(unit[a] % units_across) * uw
        row1, col1 = min(row0 + uh, src_h), min(col0 + uw, src_w)
        data, ok = source.read(indexes, (row0, col0, row1 - row0, col1 - col0))
        for w in window[a:b]:
            r0, r1 = max(top[w], row0), min(bottom[w], row1)
            c0, c1 = max(left[w], col0), min(right[w], col1)
            src = np.s_[r0 - row0 : r1 - row0, c0 - col0 : c1 - col0]
            dst = np.s_[r0 - rows0[w] : r1 - rows0[w], c0 - cols0[w] : c1 - cols0[w]]
            for j, (out, arr) in enumerate(zip(outputs, data, strict=True)):
                out[w][dst] = arr[src]
                valid[w, positions[j]][dst] = ok[j][src]
