"""The engine: band values at working-grid pixels, each source block read once.

Given an :class:`~sampling.image.Image` and pixels of a working grid, the engine

1. maps each working pixel to its source pixel, band by band (nearest neighbour:
   the source pixel containing the working pixel's centre, after transforming that
   centre into the source CRS; the identity when the grids are the same lattice);
2. groups the source pixels by source block, sorted, so each block of each source
   is read and decompressed once per call, all of a source's requested bands in
   one read;
3. gathers values and validity with NumPy fancy indexing.

Pixels outside a band's footprint are invalid (masked) in that band.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pyproj import Transformer

from .grid import PixelGrid
from .image import Image, RasterSource
from .remote import gdal_env

__all__ = ["PixelValues", "read_pixels", "source_pixels"]


@dataclass(frozen=True)
class PixelValues:
    """Values of some bands at some pixels.

    ``values[name]`` is a 1-D array in the band's dtype (0 where invalid);
    ``valid`` is a boolean ``(n_pixels, n_bands)`` array in band order.
    """

    band_names: list[str]
    values: dict[str, np.ndarray]
    valid: np.ndarray

    def __len__(self) -> int:
        return self.valid.shape[0]


def source_pixels(grid: PixelGrid, rows: np.ndarray, cols: np.ndarray, source_grid: PixelGrid) -> tuple[np.ndarray, np.ndarray]:
    """Indices on ``source_grid`` of the source pixels under working pixels ``(rows, cols)``.

    Nearest neighbour: the source pixel containing the working pixel's centre. The
    indices may fall outside the source's shape.
    """
    if grid.same_lattice(source_grid):
        return rows, cols
    x, y = grid.centre(rows, cols)
    if not (grid.crs is source_grid.crs or grid.crs == source_grid.crs):
        transformer = Transformer.from_crs(grid.crs, source_grid.crs, always_xy=True)
        x, y = transformer.transform(x, y, errcheck=False)
        x = np.asarray(x, dtype="float64")
        y = np.asarray(y, dtype="float64")
    finite = np.isfinite(x) & np.isfinite(y)
    if not finite.all():  # centres with no position in the source CRS fall outside
        x = np.where(finite, x, np.nan)
        y = np.where(finite, y, np.nan)
        u, v = source_grid.pixel_coords(x, y)
        out = np.iinfo("int64").min
        rows_out = np.where(finite, np.floor(np.nan_to_num(v)), out).astype("int64")
        cols_out = np.where(finite, np.floor(np.nan_to_num(u)), out).astype("int64")
        return rows_out, cols_out
    return source_grid.index(x, y)


def read_pixels(
    image: Image,
    grid: PixelGrid,
    rows: np.ndarray,
    cols: np.ndarray,
    *,
    bands: Sequence[str] | None = None,
) -> PixelValues:
    """Read the values of ``image``'s bands at pixels ``(rows, cols)`` of ``grid``.

    Parameters
    ----------
    image
        The image to read.
    grid
        The working grid the pixel indices refer to (bounded or not).
    rows, cols
        Integer pixel indices on ``grid``.
    bands
        Band names to read; all bands by default.

    Returns
    -------
    PixelValues

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> img = Image.from_array(np.arange(12, dtype="uint8").reshape(3, 4), Affine(1, 0, 0, 0, -1, 3), 32618)
    >>> read_pixels(img, img.grid, np.array([0, 2]), np.array([1, 3])).values["b1"].tolist()
    [1, 11]
    """
    rows = np.asarray(rows, dtype="int64")
    cols = np.asarray(cols, dtype="int64")
    selected = [image.band(b) for b in bands] if bands is not None else list(image.bands)
    n = len(rows)
    values = {b.name: np.zeros(n, dtype=b.dtype) for b in selected}
    valid = np.zeros((n, len(selected)), dtype=bool)
    if n == 0:
        return PixelValues([b.name for b in selected], values, valid)

    # bands grouped by source: one read per block serves all of a source's bands
    by_source: dict[int, tuple[RasterSource, list[int]]] = {}
    for k, band in enumerate(selected):
        by_source.setdefault(id(band.source), (band.source, []))[1].append(k)

    mapped: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    with gdal_env():
        for source, band_positions in by_source.values():
            key = (source.grid.crs.to_wkt(), tuple(source.grid.transform))
            if key not in mapped:
                mapped[key] = source_pixels(grid, rows, cols, source.grid)
            src_rows, src_cols = mapped[key]
            _gather(source, [selected[k].index for k in band_positions], src_rows, src_cols,
                    [values[selected[k].name] for k in band_positions], valid, band_positions)
    return PixelValues([b.name for b in selected], values, valid)


def _gather(
    source: RasterSource,
    indexes: list[int],
    rows: np.ndarray,
    cols: np.ndarray,
    outputs: list[np.ndarray],
    valid: np.ndarray,
    positions: list[int],
) -> None:
    """Fill ``outputs``/``valid`` for pixels ``(rows, cols)`` of ``source``, block by block."""
    inside = np.flatnonzero(source.grid.contains(rows, cols))
    if len(inside) == 0:
        return
    r = rows[inside]
    c = cols[inside]
    bh, bw = source.block_shape
    height, width = source.grid.shape  # type: ignore[misc]
    blocks_across = -(-width // bw)
    block = (r // bh) * blocks_across + (c // bw)
    order = np.argsort(block, kind="stable")
    block_sorted = block[order]
    starts = np.flatnonzero(np.r_[True, block_sorted[1:] != block_sorted[:-1]])
    ends = np.r_[starts[1:], len(order)]
    for a, b in zip(starts, ends):
        members = order[a:b]
        block_id = int(block_sorted[a])
        row0 = (block_id // blocks_across) * bh
        col0 = (block_id % blocks_across) * bw
        window = (row0, col0, min(bh, height - row0), min(bw, width - col0))
        data, ok = source.read(indexes, window)
        rr = r[members] - row0
        cc = c[members] - col0
        targets = inside[members]
        for k, (out, arr) in enumerate(zip(outputs, data)):
            out[targets] = arr[rr, cc]
            valid[targets, positions[k]] = ok[k, rr, cc]
