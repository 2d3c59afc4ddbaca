"""Sampling for machine learning: random and stratified pixel samples, blocked splits.

Earth Engine's ``Image.sample`` and ``Image.stratifiedSample``, reproducible with a
seed, plus what a training pipeline needs next:

* :func:`sample` draws random pixels from regions (or the whole image);
* :func:`stratified_sample` draws ``n_per_class`` pixels of each class, the class
  coming from a band of the image (a land-cover map) or from a column of labelled
  regions;
* ``dedupe=True`` keeps each working-grid pixel at most once when regions overlap
  (the first region in input order keeps it), so no pixel lands in a table twice;
* :func:`spatial_split` and :func:`spatial_blocks` split a table into train and test
  sets by whole spatial blocks, so that neighbouring, correlated pixels do not leak
  from the training set into the test set;
* :func:`to_xy` returns the ``X, y`` arrays scikit-learn expects.

The pixels a region offers are exactly those :func:`~sampling.sample_regions`
selects (same selection rule, working grid and engine), and a drawn pixel's row is
exactly its ``sample_regions`` row. Draws use a NumPy ``Generator`` seeded with
``seed``: the same call with the same seed returns the same table.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .engine import PixelValues, read_pixels
from .errors import BandError, OptionError, PropertyError
from .image import Image, PathLike, as_image
from .progress import progress_bar
from .sample_regions import _frame, _kept, _Plan, _plan
from .selection import Selection, iter_selections

__all__ = ["sample", "stratified_sample", "spatial_blocks", "spatial_split", "to_xy"]

Seed = int | np.random.Generator | None


# -- the population of pixels a call draws from ------------------------------------------


class _Population:
    """The candidate pixels, in sample_regions' order: by region, then row-major.

    Either an explicit selection over regions, or (no regions) the implicit window
    of the working grid that covers the image, so that sampling a whole image never
    lists all of its pixels.
    """

    def __init__(self, selection: Selection | None, window: tuple[int, int, int, int] | None = None) -> None:
        self.selection = selection
        self.window = window

    def __len__(self) -> int:
        if self.selection is not None:
            return len(self.selection)
        _, _, height, width = self.window  # type: ignore[misc]
        return height * width

    def take(self, positions: np.ndarray) -> Selection:
        positions = np.asarray(positions, dtype="int64")
        if self.selection is not None:
            s = self.selection
            return Selection(s.feature[positions], s.rows[positions], s.cols[positions])
        row0, col0, _, width = self.window  # type: ignore[misc]
        return Selection(np.zeros(len(positions), "int64"), row0 + positions // width, col0 + positions % width)


def _population(plan: _Plan, *, whole_image: bool, dedupe: bool, progress: bool) -> _Population:
    if whole_image:
        return _Population(None, plan.grid.window(shapely.bounds(plan.geometries[0]), clip=False))
    parts = []
    with progress_bar(len(plan.geometries), progress=progress, desc="selecting", unit="region") as bar:
        for part in iter_selections(plan.geometries, plan.grid, max_mask_pixels=plan.batch_pixels):
            parts.append(part)
            if len(part):
                bar.advance_to(int(part.feature[-1]))
    selection = Selection.concat(parts)
    if dedupe and len(selection):
        rows, cols = selection.rows, selection.cols
        key = (rows - rows.min()) * (int(cols.max() - cols.min()) + 1) + (cols - cols.min())
        _, first = np.unique(key, return_index=True)  # the first region (in input order) keeps a pixel
        keep = np.sort(first)
        selection = Selection(selection.feature[keep], rows[keep], cols[keep])
    return _Population(selection)


def _prepare(
    image: Image | PathLike | Sequence[PathLike],
    regions: Any,
    *,
    properties: Sequence[str] | None,
    scale: float | None,
    projection: Any,
    tile_scale: float,
) -> tuple[_Plan, bool]:
    image = as_image(image)
    whole_image = regions is None
    if whole_image:
        regions = gpd.GeoDataFrame(geometry=[shapely.box(*image.grid.bounds)], crs=image.grid.crs)
    plan = _plan(image, regions, properties=properties, scale=scale, projection=projection, tile_scale=tile_scale)
    return plan, whole_image


# -- drawing ---------------------------------------------------------------------------------


def _read(plan: _Plan, selection: Selection) -> PixelValues:
    """All bands at the selected pixels, in batches of the plan's size."""
    parts = []
    for a in range(0, max(len(selection), 1), plan.batch_pixels):
        parts.append(read_pixels(plan.image, plan.grid, selection.rows[a : a + plan.batch_pixels],
                                 selection.cols[a : a + plan.batch_pixels]))
    if len(parts) == 1:
        return parts[0]
    names = parts[0].band_names
    return PixelValues(names, {n: np.concatenate([p.values[n] for p in parts]) for n in names},
                       np.vstack([p.valid for p in parts]))


def _draw(
    plan: _Plan,
    population: _Population,
    candidates: np.ndarray | None,
    k: int,
    rng: np.random.Generator,
    *,
    drop_masked: bool,
    refill: bool,
) -> np.ndarray:
    """Positions (into the population) of ``k`` random pixels that make rows.

    ``candidates`` restricts the draw to some positions (all when None). Pixels are
    drawn in a random order and read; masked ones are skipped. With ``refill``, if
    too many were masked, a larger draw is made (from the same generator), so that
    ``k`` rows come back whenever the candidates hold that many; without it, the
    masked draws are simply dropped.
    """
    n = len(population) if candidates is None else len(candidates)
    if k <= 0 or n == 0:
        return np.empty(0, dtype="int64")
    size = min(n, k if not refill else math.ceil(k * 1.05) + 16)
    while True:
        picks = rng.choice(n, size=size, replace=False) if size < n else rng.permutation(n)
        positions = picks if candidates is None else candidates[picks]
        ok = _kept(_read(plan, population.take(positions)), drop_masked)
        good = positions[ok]
        if len(good) >= k or size == n or not refill:
            return good[:k]
        rate = max(len(good), 1) / size
        size = min(n, math.ceil(k / rate * 1.2) + 16)


def _table(
    plan: _Plan, population: _Population, positions: np.ndarray, *, geometries: bool, drop_masked: bool
) -> gpd.GeoDataFrame:
    selection = population.take(np.sort(positions))
    out = _frame(plan, selection, _read(plan, selection), geometries=geometries, drop_masked=drop_masked)
    out.attrs["band_order"] = plan.image.band_names
    return out


def _check_count(value: Any, what: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
        raise OptionError(f"{what} must be a whole number of pixels (0 or more), got {value!r}.")
    return int(value)


# -- public functions ------------------------------------------------------------------------


def sample(
    image: Image | PathLike | Sequence[PathLike],
    region: Any = None,
    *,
    num_pixels: int | None = None,
    frac: float | None = None,
    seed: Seed = 0,
    scale: float | None = None,
    projection: Any = None,
    properties: Sequence[str] | None = None,
    geometries: bool = False,
    drop_masked: bool = True,
    dedupe: bool = False,
    tile_scale: float = 1,
    progress: bool = False,
) -> gpd.GeoDataFrame:
    """Random pixels of an image: Earth Engine's ``Image.sample``, reproducible.

    Parameters
    ----------
    image
        An :class:`~sampling.Image`, or the path(s) of raster file(s) to open as one.
    region
        Where to draw from: a GeoDataFrame of regions (their pixels are pooled, and
        each row carries its region's properties, as in
        :func:`~sampling.sample_regions`), a GeoSeries, a shapely geometry in
        EPSG:4326, or None for the whole image.
    num_pixels
        How many rows to return. Masked pixels are skipped and replaced by others,
        so exactly ``num_pixels`` rows come back whenever the region has that many
        unmasked pixels (all of them otherwise).
    frac
        Instead of ``num_pixels``: the fraction (0 to 1] of the region's pixels to
        draw; masked draws are dropped, as Earth Engine's ``factor`` does, so about
        ``frac`` of the unmasked pixels come back.
    seed
        Seed of the NumPy random generator (or a ``numpy.random.Generator``).
    scale, projection, properties, geometries, drop_masked, tile_scale
        As in :func:`~sampling.sample_regions`.
    dedupe
        If True, a pixel selected by several overlapping regions is a candidate
        once, for the first of those regions.
    progress
        If True, show progress bars (needs tqdm).

    Returns
    -------
    geopandas.GeoDataFrame
        Rows as :func:`~sampling.sample_regions` makes them, in its order (by region,
        then row-major), for the drawn pixels only.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> from sampling import Image
    >>> img = Image.from_array(np.arange(100, dtype="uint8").reshape(10, 10),
    ...                        Affine(10, 0, 0, 0, -10, 100), "EPSG:32618", bands=["v"])
    >>> a = sample(img, num_pixels=5, seed=42)
    >>> len(a), a["v"].equals(sample(img, num_pixels=5, seed=42)["v"])
    (5, True)
    """
    if (num_pixels is None) == (frac is None):
        raise OptionError("give exactly one of num_pixels (a count) and frac (a fraction of the pixels).")
    plan, whole_image = _prepare(image, _as_region(region), properties=properties, scale=scale,
                                 projection=projection, tile_scale=tile_scale)
    population = _population(plan, whole_image=whole_image, dedupe=dedupe, progress=progress)
    rng = np.random.default_rng(seed)
    if frac is not None:
        if isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0 < frac <= 1:
            raise OptionError(f"frac must be a fraction in (0, 1], got {frac!r}.")
        positions = _draw(plan, population, None, round(frac * len(population)), rng,
                          drop_masked=drop_masked, refill=False)
    else:
        positions = _draw(plan, population, None, _check_count(num_pixels, "num_pixels"), rng,
                          drop_masked=drop_masked, refill=True)
    return _table(plan, population, positions, geometries=geometries, drop_masked=drop_masked)


def stratified_sample(
    image: Image | PathLike | Sequence[PathLike],
    regions: Any = None,
    *,
    n_per_class: int | Mapping[Hashable, int],
    class_band: str | None = None,
    class_column: str | None = None,
    seed: Seed = 0,
    scale: float | None = None,
    projection: Any = None,
    properties: Sequence[str] | None = None,
    geometries: bool = False,
    dedupe: bool = False,
    tile_scale: float = 1,
    progress: bool = False,
) -> gpd.GeoDataFrame:
    """``n_per_class`` random pixels of each class: Earth Engine's ``stratifiedSample``.

    The class of a pixel comes from ``class_band``, a band of the image (a land-cover
    map; its masked pixels have no class), or from ``class_column``, a column of the
    labelled ``regions`` (every pixel of a region has the region's class).

    Parameters
    ----------
    image
        An :class:`~sampling.Image`, or the path(s) of raster file(s) to open as one.
    regions
        Labelled regions (a GeoDataFrame), required with ``class_column``; with
        ``class_band``, optional regions to draw from (the whole image by default).
    n_per_class
        Rows per class; or a mapping ``{class: rows}`` that samples only the classes
        it lists. A class with fewer unmasked pixels gives all of them, with a
        warning.
    class_band, class_column
        Where the class comes from; give exactly one.
    seed
        Seed of the NumPy random generator (or a ``numpy.random.Generator``).
    scale, projection, properties, geometries, tile_scale
        As in :func:`~sampling.sample_regions` (pixels masked in any band are never
        drawn). ``class_column`` is always kept in the output.
    dedupe
        If True, a pixel selected by several overlapping regions is a candidate
        once, for the first of those regions (and so with that region's class).
    progress
        If True, show progress bars (needs tqdm).

    Returns
    -------
    geopandas.GeoDataFrame
        Rows as :func:`~sampling.sample_regions` makes them, in its order, at most
        ``n_per_class`` per class.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> from sampling import Image
    >>> classes = np.repeat([[1], [2]], 50, axis=0) * np.ones((1, 10), "uint8")  # 500 + 500 pixels
    >>> img = Image.from_array(np.stack([classes, np.arange(1000).reshape(100, 10) % 7]).astype("uint8"),
    ...                        Affine(10, 0, 0, 0, -10, 1000), "EPSG:32618", bands=["landcover", "b1"])
    >>> table = stratified_sample(img, class_band="landcover", n_per_class=3, seed=1)
    >>> table["landcover"].value_counts().sort_index().to_dict()
    {1: 3, 2: 3}
    """
    if (class_band is None) == (class_column is None):
        raise OptionError("give exactly one of class_band (a band of the image) and class_column (a region column).")
    if class_column is not None:
        if regions is None:
            raise OptionError("class_column names a column of the regions: pass the labelled regions too.")
        if properties is not None:
            properties = [*properties, *([class_column] if class_column not in properties else [])]
    plan, whole_image = _prepare(image, _as_region(regions), properties=properties, scale=scale,
                                 projection=projection, tile_scale=tile_scale)
    if class_column is not None and class_column not in plan.frame.columns:
        columns = [c for c in plan.frame.columns if c != plan.frame.geometry.name]
        raise PropertyError(f"unknown class_column {class_column!r}; the regions have {columns}.")
    if class_band is not None and class_band not in plan.image.band_names:
        raise BandError(f"unknown class_band {class_band!r}; this image has {plan.image.band_names}.")
    population = _population(plan, whole_image=whole_image, dedupe=dedupe, progress=progress)

    if class_column is not None:
        labels = plan.frame[class_column]
        valid = labels.notna().to_numpy()[population.selection.feature]  # type: ignore[union-attr]
        codes, uniques = pd.factorize(labels, sort=True)
        classes = np.asarray(codes)[population.selection.feature]  # type: ignore[union-attr]
        values = list(uniques)
    else:
        classes, valid, values = _classes_from_band(plan, population, class_band, progress)  # type: ignore[arg-type]

    wanted = _wanted(n_per_class, values)
    rng = np.random.default_rng(seed)
    order = np.argsort(classes[valid], kind="stable")
    candidates = np.flatnonzero(valid)[order]
    starts = np.searchsorted(classes[candidates], np.arange(len(values) + 1))
    picked, short = [], []
    for code, value in enumerate(values):
        if value not in wanted:
            continue
        k = wanted[value]
        pool = candidates[starts[code] : starts[code + 1]]
        got = _draw(plan, population, pool, k, rng, drop_masked=True, refill=True)
        if len(got) < k:
            short.append(f"{value!r}: {len(got)}")
        picked.append(got)
    if short:
        listed = ", ".join(short[:10]) + (f" and {len(short) - 10} more classes" if len(short) > 10 else "")
        warnings.warn(
            f"some classes have fewer unmasked pixels than asked for, so all of them were taken: {listed}.",
            stacklevel=2,
        )
    positions = np.concatenate(picked) if picked else np.empty(0, dtype="int64")
    return _table(plan, population, positions, geometries=geometries, drop_masked=True)


def _as_region(region: Any) -> Any:
    """Regions as ``_plan`` takes them; a bare geometry or GeoJSON is in EPSG:4326, as in Earth Engine."""
    if region is None or isinstance(region, (gpd.GeoDataFrame, gpd.GeoSeries)):
        return region
    from .regions import as_regions

    return as_regions(region, default_crs="EPSG:4326", what="region")


def _classes_from_band(
    plan: _Plan, population: _Population, band: str, progress: bool
) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """Class codes of every candidate pixel, read from ``band`` batch by batch."""
    n = len(population)
    raw = np.zeros(n, dtype=plan.image.band(band).dtype)
    valid = np.zeros(n, dtype=bool)
    with progress_bar(n, progress=progress, desc="reading classes", unit="px") as bar:
        for a in range(0, n, plan.batch_pixels):
            part = population.take(np.arange(a, min(n, a + plan.batch_pixels)))
            pixels = read_pixels(plan.image, plan.grid, part.rows, part.cols, bands=[band])
            raw[a : a + len(part)] = pixels.values[band]
            valid[a : a + len(part)] = pixels.valid[:, 0]
            bar.advance_to(a + len(part))
    values, codes = np.unique(raw[valid], return_inverse=True)
    classes = np.full(n, -1, dtype="int64")
    classes[valid] = codes
    return classes, valid, values.tolist()


def _wanted(n_per_class: Any, values: list[Any]) -> dict[Any, int]:
    if isinstance(n_per_class, Mapping):
        unknown = [c for c in n_per_class if c not in values]
        if unknown:
            raise OptionError(
                f"n_per_class names classes {unknown} that no candidate pixel has; the classes are {values}."
            )
        return {c: _check_count(k, f"n_per_class[{c!r}]") for c, k in n_per_class.items()}
    k = _check_count(n_per_class, "n_per_class")
    return dict.fromkeys(values, k)


# -- after sampling: splits and arrays -------------------------------------------------------


def _coordinates(table: pd.DataFrame, columns: Sequence[str] | None) -> tuple[np.ndarray, np.ndarray]:
    if columns is not None:
        if len(columns) != 2:
            raise OptionError(f"columns must name two columns (x and y, or col and row), got {columns!r}.")
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise PropertyError(f"unknown columns {missing}; the table has {list(table.columns)}.")
        return (table[columns[0]].to_numpy(dtype="float64"), table[columns[1]].to_numpy(dtype="float64"))
    geometry = table.geometry if isinstance(table, gpd.GeoDataFrame) else None
    if geometry is None or geometry.isna().any():
        raise OptionError(
            "the table has no geometries to split by: sample with geometries=True (pixel centres), "
            "or name coordinate columns with columns=('x', 'y')."
        )
    points = shapely.centroid(np.asarray(geometry.values, dtype=object))
    return shapely.get_x(points), shapely.get_y(points)


def spatial_blocks(
    table: pd.DataFrame, block_size: float | tuple[float, float], *, columns: Sequence[str] | None = None
) -> np.ndarray:
    """The spatial block of each row: an integer id, for grouped cross-validation.

    Blocks are squares (or ``(width, height)`` rectangles) of ``block_size`` in the
    units of the table's CRS (of ``columns``, if given), aligned on the origin. The
    ids suit scikit-learn's ``GroupKFold(...).split(X, y, groups=ids)``.

    Examples
    --------
    >>> import geopandas as gpd
    >>> t = gpd.GeoDataFrame(geometry=gpd.points_from_xy([5, 15, 105, 110], [5, 5, 5, 195]), crs=32618)
    >>> spatial_blocks(t, 100).tolist()
    [0, 0, 1, 2]
    """
    width, height = block_size if isinstance(block_size, (tuple, list)) else (block_size, block_size)
    if not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in (width, height)):
        raise OptionError(f"block_size must be a positive size in CRS units, got {block_size!r}.")
    x, y = _coordinates(table, columns)
    keys = np.stack([np.floor(x / width), np.floor(y / height)], axis=1)
    _, ids = np.unique(keys, axis=0, return_inverse=True)
    return ids.reshape(-1).astype("int64")


def spatial_split(
    table: pd.DataFrame,
    *,
    block_size: float | tuple[float, float],
    test_fraction: float = 0.25,
    seed: Seed = 0,
    columns: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a table into train and test sets by whole spatial blocks.

    Rows are grouped in blocks as :func:`spatial_blocks` makes them; blocks are
    shuffled with ``seed`` and assigned to the test set until it holds the share
    of rows closest to ``test_fraction`` (at least one block goes to each side).
    No block has rows on both sides, so pixels a few metres apart are never split
    between training and testing.

    Returns
    -------
    train, test
        The two parts of ``table``, each in ``table``'s order.

    Examples
    --------
    >>> import geopandas as gpd
    >>> xy = [(i % 20 * 10, i // 20 * 10) for i in range(40)]  # a 20 x 2 lattice of points 10 m apart
    >>> t = gpd.GeoDataFrame({"v": range(40)}, geometry=gpd.points_from_xy(*zip(*xy)), crs=32618)
    >>> train, test = spatial_split(t, block_size=50, test_fraction=0.25, seed=0)
    >>> len(train), len(test)
    (30, 10)
    """
    if not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise OptionError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction!r}.")
    blocks = spatial_blocks(table, block_size, columns=columns)
    n_blocks = int(blocks.max()) + 1 if len(blocks) else 0
    if n_blocks < 2:
        raise OptionError(
            f"all {len(table)} rows fall in {n_blocks} block of {block_size}: use a smaller block_size "
            "to have blocks on both sides."
        )
    counts = np.bincount(blocks, minlength=n_blocks)
    order = np.random.default_rng(seed).permutation(n_blocks)
    in_test = np.cumsum(counts[order])[: n_blocks - 1]  # rows in the test set after 1, 2, ... blocks
    taken = 1 + int(np.argmin(np.abs(in_test - test_fraction * len(table))))
    is_test = np.isin(blocks, order[:taken])
    return table[~is_test], table[is_test]


def to_xy(
    table: pd.DataFrame, label: str | None = None, *, features: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """``X`` (float64, one column per feature) and ``y`` for scikit-learn.

    ``features`` defaults to the table's bands (``table.attrs["band_order"]``, or
    every numeric column but the label), without the label. Nulls become NaN.

    Examples
    --------
    >>> t = pd.DataFrame({"red": [1, 2], "nir": [5, 6], "crop": ["a", "b"]})
    >>> X, y = to_xy(t, "crop")
    >>> X.tolist(), y.tolist()
    ([[1.0, 5.0], [2.0, 6.0]], ['a', 'b'])
    """
    if label is not None and label not in table.columns:
        raise PropertyError(f"unknown label column {label!r}; the table has {list(table.columns)}.")
    if features is None:
        bands = table.attrs.get("band_order")
        if bands:
            features = [b for b in bands if b != label and b in table.columns]
        else:
            geometry = table.geometry.name if isinstance(table, gpd.GeoDataFrame) else None
            features = [
                c for c in table.columns
                if c not in (label, geometry) and pd.api.types.is_numeric_dtype(table[c])
            ]
    missing = [f for f in features if f not in table.columns]
    if missing:
        raise PropertyError(f"unknown feature columns {missing}; the table has {list(table.columns)}.")
    X = pd.DataFrame(table[list(features)]).to_numpy(dtype="float64", na_value=np.nan)
    y = table[label].to_numpy() if label is not None else None
    return X, y

