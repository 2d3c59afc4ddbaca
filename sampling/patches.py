"""Patches: windows of ``width x height`` pixels centred on points, for training data.

Machine-learning users cut one patch per labelled point, often by calling
``getPixels`` in a loop. :func:`cut_patches` does it in one pass: one image, one
dense read for all patches (each source block is read once, however many patches
it serves), and returns one array ``(N, bands, height, width)``.

**Centred**, precisely: on the working grid, a point has fractional pixel
coordinates ``(u, v)`` (column, row). A patch ``width`` pixels wide starts at column

* ``floor(u) - (width - 1) / 2`` for an odd width: the point's pixel is the middle
  column, with ``(width - 1) / 2`` columns on each side;
* ``floor(u + 1/2) - width / 2`` for an even width: the patch's middle is the
  pixel edge nearest the point, with ``width / 2`` columns on each side.

Rows likewise with ``v`` and ``height``. Either way the point lies within half a
pixel of the patch's centre; a point exactly on an edge, or exactly halfway
between two edges, goes right and down, as ``floor`` does everywhere else.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from affine import Affine

from .dense import Windows, read_windows
from .encode import add_mask_bands, encode_geotiff, encode_npy
from .encode import file_format as canonical_format
from .errors import FormatError, GeometryError, GridError
from .grid import PixelGrid, working_grid
from .image import Image, PathLike, as_image
from .io import write_bytes
from .progress import progress_bar
from .regions import as_regions, to_working_crs, validate_regions

__all__ = ["Patches", "cut_patches", "patch_origins"]

_EXTENSIONS = {"NPY": ".npy", "GEO_TIFF": ".tif"}
#: While a progress bar is shown, patches are read in groups of this many.
PATCHES_WITH_BAR = 256


@dataclass(frozen=True)
class Patches:
    """``N`` patches of ``height x width`` pixels, all bands, with their masks and grids.

    Attributes
    ----------
    values
        ``(N, bands, height, width)`` in the bands' common dtype
        (``numpy.result_type``); 0 where masked.
    valid
        Boolean, same shape: False where a band is masked (nodata, NaN, outside
        the image).
    band_names, band_dtypes
        The bands, in order, with their own dtypes.
    labels
        The points' index labels, in order.
    grid
        The working grid (an unbounded lattice) the patches lie on.
    row_offsets, col_offsets
        Where each patch starts on ``grid``.
    """

    values: np.ndarray
    valid: np.ndarray
    band_names: list[str]
    band_dtypes: list[np.dtype]
    labels: pd.Index
    grid: PixelGrid
    row_offsets: np.ndarray
    col_offsets: np.ndarray

    def __len__(self) -> int:
        return self.values.shape[0]

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of every patch."""
        return self.values.shape[2], self.values.shape[3]

    def patch_grid(self, n: int) -> PixelGrid:
        """The bounded grid of patch ``n`` (for georeferencing it)."""
        height, width = self.shape
        return self.grid.subgrid(int(self.row_offsets[n]), int(self.col_offsets[n]), height, width)

    def band_values(self, n: int) -> list[np.ndarray]:
        """Patch ``n`` as one 2-D array per band, each in the band's own dtype."""
        return [self.values[n, k].astype(d, copy=False) for k, d in enumerate(self.band_dtypes)]

    def to_files(
        self,
        directory: str | os.PathLike,
        *,
        file_format: str = "NPY",
        prefix: str = "",
        mask: bool = False,
        overwrite: bool = False,
    ) -> list[Path]:
        """Write one file per patch, named ``<prefix><label>.npy`` or ``.tif``, atomically.

        Each file holds what :func:`~sampling.get_pixels` returns for that patch's
        grid in that format: NPY a structured array with one field per band,
        GEO_TIFF a georeferenced GeoTIFF. ``mask=True`` adds ``<band>_mask`` bands.

        Returns the paths, in patch order.
        """
        fmt = canonical_format(file_format)
        if fmt not in _EXTENSIONS:
            raise FormatError(f"patches are written as NPY or GEO_TIFF files, not {file_format!r}.")
        folder = Path(directory)
        if not folder.is_dir():
            raise FileNotFoundError(f"the directory {folder} does not exist; create it first.")
        names = [re.sub(r"[^A-Za-z0-9._-]", "_", f"{prefix}{label}") for label in self.labels]
        if len(set(names)) != len(names):
            raise FormatError(
                "the points' index labels do not give unique file names; give the points a unique index "
                "(for example `points.reset_index(drop=True)`)."
            )
        paths = [folder / f"{name}{_EXTENSIONS[fmt]}" for name in names]
        if not overwrite:
            existing = [str(p) for p in paths if p.exists()]
            if existing:
                raise FileExistsError(f"{existing[0]} already exists ({len(existing)} file(s)); pass overwrite=True.")
        for n, path in enumerate(paths):
            values, band_names = self.band_values(n), list(self.band_names)
            if mask:
                values, band_names = add_mask_bands(values, band_names, self.valid[n])
            if fmt == "NPY":
                data = encode_npy(values, band_names)
            else:
                data = encode_geotiff(values, band_names, self.patch_grid(n))
            write_bytes(data, path, overwrite=True)
        return paths


def patch_origins(u: np.ndarray, v: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``(row, col)`` of the first pixel of patches of ``size = (width, height)`` centred on ``(u, v)``.

    Examples
    --------
    >>> patch_origins(np.array([10.3, 10.7]), np.array([5.5, 5.5]), (3, 2))
    (array([5, 5]), array([9, 9]))
    >>> patch_origins(np.array([10.3, 10.7]), np.array([5.5, 5.5]), (4, 4))[1]
    array([8, 9])
    """
    width, height = size

    def start(coord: np.ndarray, side: int) -> np.ndarray:
        shift = 0.5 if side % 2 == 0 else 0.0
        return (np.floor(np.asarray(coord, dtype="float64") + shift) - side // 2).astype("int64")

    return start(v, height), start(u, width)


def _size(size: int | Sequence[int]) -> tuple[int, int]:
    sides = (size, size) if np.isscalar(size) else tuple(size)
    if len(sides) != 2 or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0
                                  for s in sides):
        raise GridError(f"size must be a positive whole number of pixels or (width, height), got {size!r}.")
    return int(sides[0]), int(sides[1])


def cut_patches(
    image: Image | PathLike | Sequence[PathLike],
    points: Any,
    *,
    size: int | Sequence[int],
    bands: Sequence[str] | None = None,
    scale: float | None = None,
    projection: Any = None,
    crs_transform: Sequence[float] | Affine | None = None,
    progress: bool = False,
) -> Patches:
    """Cut one patch of ``size`` pixels centred on each point (see the module for "centred").

    Parameters
    ----------
    image
        An :class:`~sampling.Image`, a path or a list of paths (one per band).
    points
        A GeoDataFrame or GeoSeries of Points with a CRS. Patches come in its row
        order, labelled by its index.
    size
        ``width`` (square patches) or ``(width, height)`` in pixels.
    bands
        Band names (or regular expressions), in order; all bands by default.
    scale, projection, crs_transform
        The working grid, by Earth Engine's rules (as in
        :func:`~sampling.sample_regions`): the image's first band's grid by
        default.
    progress
        If True, show a progress bar over the patches (needs tqdm).

    Returns
    -------
    Patches
        ``values`` of shape ``(N, bands, height, width)`` and ``valid`` masks.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> img = Image.from_array(np.arange(100, dtype="uint8").reshape(10, 10), Affine(1, 0, 0, 0, -1, 10),
    ...                        "EPSG:32618")
    >>> pts = gpd.GeoDataFrame(geometry=[Point(4.5, 5.5), Point(0.2, 9.8)], crs="EPSG:32618")
    >>> p = cut_patches(img, pts, size=3)
    >>> p.values.shape
    (2, 1, 3, 3)
    >>> p.values[0, 0].tolist()  # centred on pixel (row 4, col 4) = 44
    [[33, 34, 35], [43, 44, 45], [53, 54, 55]]
    >>> p.valid[1, 0].tolist()  # the corner pixel: the rest lies outside the image
    [[False, False, False], [False, True, True], [False, True, True]]
    """
    img = as_image(image)
    if bands is not None:
        img = img.select(bands)
    width, height = _size(size)
    grid = working_grid(img.grid, scale=scale, projection=projection, crs_transform=crs_transform)
    frame = validate_regions(as_regions(points, what="points"), what="points")
    geoms = np.asarray(frame.geometry.values, dtype=object)
    not_points = shapely.get_type_id(geoms) != 0
    if not_points.any():
        labels = list(frame.index[not_points][:10])
        raise GeometryError(
            f"points rows {labels} are not Points; patches are centred on points. Use their centroids "
            "(`points.centroid`) or representative points."
        )
    moved = to_working_crs(frame, grid, what="points")
    u, v = grid.pixel_coords(shapely.get_x(moved), shapely.get_y(moved))
    rows0, cols0 = patch_origins(u, v, (width, height))
    with progress_bar(len(frame), progress=progress, desc="cut_patches", unit="patch") as bar:
        # a shown bar reads the patches in groups so that it moves; the values are the same
        step = PATCHES_WITH_BAR if bar.shown else max(len(frame), 1)
        groups = []
        for a in range(0, max(len(frame), 1), step):
            groups.append(read_windows(img, grid, rows0[a : a + step], cols0[a : a + step], (height, width)))
            bar.advance_to(min(a + step, len(frame)))
    windows = groups[0] if len(groups) == 1 else Windows(
        groups[0].band_names,
        [np.concatenate([g.values[k] for g in groups]) for k in range(len(groups[0].values))],
        np.concatenate([g.valid for g in groups]),
    )
    values = np.stack(windows.values, axis=1) if windows.values else np.zeros((len(frame), 0, height, width))
    return Patches(
        values=values,
        valid=windows.valid,
        band_names=list(windows.band_names),
        band_dtypes=[b.dtype for b in img.bands],
        labels=frame.index,
        grid=grid,
        row_offsets=rows0,
        col_offsets=cols0,
    )
