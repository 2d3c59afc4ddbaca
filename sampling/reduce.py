"""``reduce_regions``: Earth Engine's ``Image.reduceRegions`` on local rasters.

One output row per region with per-band statistics of the pixels the region
selects. The pixels are exactly those :func:`~sampling.sample_regions` would return
(the same selection rule, working grid and engine); each band is then reduced over
the pixels where *that band* is unmasked, as Earth Engine reduces each band under
its own mask.

The statistics are computed for all regions at once with NumPy: the selected
pixels arrive sorted by region, so sums, minima and maxima are ``reduceat`` calls
over the region boundaries, and medians and percentiles index a sort by
``(region, value)``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np

from .engine import PixelValues
from .errors import OptionError
from .image import Image, PathLike
from .progress import progress_bar
from .regions import choose_properties
from .sample_regions import _batches, _plan
from .table import band_column, check_column_names

__all__ = ["reduce_regions", "STATISTICS"]

#: The statistics ``reduce_regions`` computes by default, in their column order.
STATISTICS = ("count", "sum", "mean", "min", "max", "std", "median")


def reduce_regions(
    image: Image | PathLike | Sequence[PathLike],
    regions: Any,
    *,
    reducers: Sequence[str] | str = STATISTICS,
    percentiles: Sequence[float] = (),
    scale: float | None = None,
    projection: Any = None,
    tile_scale: float = 1,
    properties: Sequence[str] | None = None,
    progress: bool = False,
) -> gpd.GeoDataFrame:
    """Per-band statistics of the pixels in each region: Earth Engine's ``reduceRegions``.

    Parameters
    ----------
    image
        An :class:`~sampling.Image`, or the path(s) of raster file(s) to open as one.
    regions
        A GeoDataFrame of points, lines or polygons in any CRS (it must have one).
        Each region selects the same pixels as in :func:`~sampling.sample_regions`:
        polygons the pixels whose centre is inside, points the pixel that contains
        them, lines every pixel they cross.
    reducers
        Statistics to compute, in column order, from ``"count"`` (unmasked pixels),
        ``"sum"``, ``"mean"``, ``"min"``, ``"max"``, ``"std"`` (population standard
        deviation, Earth Engine's ``stdDev``) and ``"median"``.
    percentiles
        Percentiles (0 to 100) to add, with linear interpolation between the
        closest ranks (NumPy's default method); ``50`` equals the median.
    scale, projection, tile_scale
        The working grid and the chunk size, exactly as in
        :func:`~sampling.sample_regions`; ``tile_scale`` never changes the result.
    properties
        Region columns to keep; all by default.
    progress
        If True, show a progress bar over the regions (needs tqdm).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per region, in input order, with the region's index, its kept
        columns, its geometry and one column ``<band>_<statistic>`` per band and
        statistic (bands in band order), percentiles as ``<band>_p<q>`` (``B4_p90``).
        ``count`` is an int64; ``sum`` is an integer for integer bands; ``min`` and
        ``max`` keep the band's dtype; the rest are float64. A region with no
        unmasked pixel in a band has count 0 and nulls (``<NA>``) elsewhere.

    Notes
    -----
    Earth Engine's reducers weight edge pixels by the fraction of the pixel inside
    the polygon unless ``.unweighted()`` is called; ``reduce_regions`` always counts
    whole pixels by the centre rule, which is what ``.unweighted()`` and
    ``rasterstats.zonal_stats(..., all_touched=False)`` do.

    Examples
    --------
    >>> import numpy as np, geopandas as gpd
    >>> from affine import Affine
    >>> from shapely import box
    >>> from sampling import Image, reduce_regions
    >>> img = Image.from_array(np.arange(16, dtype="uint16").reshape(4, 4),
    ...                        Affine(10, 0, 0, 0, -10, 40), "EPSG:32618", bands=["B1"])
    >>> fields = gpd.GeoDataFrame({"crop": ["wheat", "rye"]},
    ...                           geometry=[box(0, 20, 20, 40), box(100, 100, 110, 110)], crs=32618)
    >>> stats = reduce_regions(img, fields, reducers=["count", "mean", "max"], percentiles=[25])
    >>> stats.drop(columns="geometry")
        crop  B1_count  B1_mean  B1_max  B1_p25
    0  wheat         4      2.5       5    0.75
    1    rye         0     <NA>    <NA>    <NA>
    """
    stats = _check_reducers(reducers)
    quantiles = _check_percentiles(percentiles)
    plan = _plan(image, regions, properties=(), scale=scale, projection=projection, tile_scale=tile_scale)
    kept = choose_properties(plan.frame, properties)
    bands = plan.image.band_names
    names = [f"{b}_{s}" for b in bands for s in [*stats, *(f"p{q:g}" for q in quantiles)]]
    check_column_names(names, kept + [plan.frame.geometry.name], what="region columns")

    n = len(plan.frame)
    reducer = _Reducer(n, {b: plan.image.band(b).dtype for b in bands}, stats, quantiles)
    carry: tuple[np.ndarray, PixelValues] | None = None
    with progress_bar(n, progress=progress, desc="reduce_regions", unit="region") as bar:
        for selection, pixels in _batches(plan, bar):
            feature, pixels = _join(carry, selection.feature, pixels)
            # the last region of a batch may continue in the next one: hold it back
            cut = int(np.searchsorted(feature, feature[-1])) if len(feature) else 0
            reducer.add(feature[:cut], _take(pixels, slice(None, cut)))
            carry = (feature[cut:], _take(pixels, slice(cut, None)))
        if carry is not None:
            reducer.add(*carry)

    out = plan.frame[[*kept, plan.frame.geometry.name]].copy()
    for name, column in zip(names, reducer.columns(bands), strict=True):
        out[name] = column
    out.attrs["band_order"] = bands
    if not reducer.any_pixel():
        warnings.warn(
            "no region contains an unmasked pixel: every count is 0. Check that the regions' CRS "
            "is right, that they overlap the image, and use a finer scale for regions smaller "
            "than a pixel.",
            stacklevel=2,
        )
    return out


def _check_reducers(reducers: Sequence[str] | str) -> list[str]:
    chosen = [reducers] if isinstance(reducers, str) else list(reducers)
    unknown = [r for r in chosen if r not in STATISTICS]
    if unknown:
        raise OptionError(
            f"unknown statistics {unknown}; choose from {list(STATISTICS)} and give percentiles "
            "with percentiles=[...]."
        )
    dupes = sorted({r for r in chosen if chosen.count(r) > 1})
    if dupes:
        raise OptionError(f"statistics {dupes} are listed more than once.")
    return chosen


def _check_percentiles(percentiles: Sequence[float]) -> list[float]:
    values = [percentiles] if isinstance(percentiles, (int, float)) else list(percentiles)
    out = []
    for q in values:
        try:
            value = float(q)
        except (TypeError, ValueError):
            raise OptionError(f"percentiles must be numbers from 0 to 100, got {q!r}.") from None
        if not (math.isfinite(value) and 0 <= value <= 100):
            raise OptionError(f"percentiles must be numbers from 0 to 100, got {q!r}.")
        if value in out:
            raise OptionError(f"percentile {q!r} is listed more than once.")
        out.append(value)
    return out


def _take(pixels: PixelValues, index: Any) -> PixelValues:
    return PixelValues(pixels.band_names, {k: v[index] for k, v in pixels.values.items()}, pixels.valid[index])


def _join(
    carry: tuple[np.ndarray, PixelValues] | None, feature: np.ndarray, pixels: PixelValues
) -> tuple[np.ndarray, PixelValues]:
    if carry is None or len(carry[0]) == 0:
        return feature, pixels
    held, old = carry
    values = {k: np.concatenate([old.values[k], pixels.values[k]]) for k in pixels.band_names}
    return np.concatenate([held, feature]), PixelValues(pixels.band_names, values, np.vstack([old.valid, pixels.valid]))


class _Reducer:
    """Per-region statistics, filled group by group; each region arrives whole, once."""

    def __init__(self, n: int, dtypes: dict[str, np.dtype], stats: list[str], quantiles: list[float]) -> None:
        self.n = n
        self.stats = stats
        self.quantiles = quantiles
        self.count = {b: np.zeros(n, dtype="int64") for b in dtypes}
        self.results: dict[tuple[str, str], np.ndarray] = {}
        for band, dtype in dtypes.items():
            for stat in stats:
                self.results[band, stat] = np.zeros(n, dtype=_result_dtype(stat, dtype))
            for q in quantiles:
                self.results[band, f"p{q:g}"] = np.zeros(n, dtype="float64")

    def add(self, feature: np.ndarray, pixels: PixelValues) -> None:
        for k, band in enumerate(pixels.band_names):
            ok = pixels.valid[:, k]
            self._add_band(band, feature[ok], pixels.values[band][ok])

    def _add_band(self, band: str, feature: np.ndarray, values: np.ndarray) -> None:
        if len(feature) == 0:
            return
        # feature is sorted: groups are runs of equal region positions
        starts = np.flatnonzero(np.r_[True, feature[1:] != feature[:-1]])
        regions = feature[starts]
        counts = np.diff(np.r_[starts, len(feature)])
        self.count[band][regions] = counts
        need = set(self.stats)
        out = self.results
        if need & {"sum", "mean", "std"}:
            sums = np.add.reduceat(values, starts, dtype=_sum_dtype(values.dtype))
            if "sum" in need:
                out[band, "sum"][regions] = sums
            mean = sums.astype("float64") / counts
            if "mean" in need:
                out[band, "mean"][regions] = mean
            if "std" in need:
                deviation = values.astype("float64") - np.repeat(mean, counts)
                out[band, "std"][regions] = np.sqrt(np.add.reduceat(deviation * deviation, starts) / counts)
        if "min" in need:
            out[band, "min"][regions] = np.minimum.reduceat(values, starts)
        if "max" in need:
            out[band, "max"][regions] = np.maximum.reduceat(values, starts)
        wanted = set(self.quantiles) | ({50.0} if "median" in need else set())
        if wanted:
            ordered = values[np.lexsort((values, feature))].astype("float64")
            for q in sorted(wanted):
                value = _percentile(ordered, starts, counts, q)
                if q == 50.0 and "median" in need:
                    out[band, "median"][regions] = value
                if q in self.quantiles:
                    out[band, f"p{q:g}"][regions] = value

    def any_pixel(self) -> bool:
        return any(c.any() for c in self.count.values())

    def columns(self, bands: list[str]) -> list[Any]:
        columns = []
        for band in bands:
            has = self.count[band] > 0
            for stat in self.stats:
                columns.append(self.count[band] if stat == "count" else band_column(self.results[band, stat], has))
            for q in self.quantiles:
                columns.append(band_column(self.results[band, f"p{q:g}"], has))
        return columns


def _percentile(ordered: np.ndarray, starts: np.ndarray, counts: np.ndarray, q: float) -> np.ndarray:
    """Per-group percentile of values sorted within groups, as ``numpy.percentile`` (linear) computes it."""
    position = (counts - 1) * (q / 100.0)
    below = np.floor(position).astype("int64")
    above = np.minimum(below + 1, counts - 1)
    t = position - below
    a = ordered[starts + below]
    b = ordered[starts + above]
    difference = b - a
    # numpy's _lerp: exact at both ends of the interval
    return np.where(t >= 0.5, b - difference * (1 - t), a + difference * t)


def _sum_dtype(dtype: np.dtype) -> np.dtype:
    if dtype.kind == "u":
        return np.dtype("uint64")
    if dtype.kind in "ib":
        return np.dtype("int64")
    return np.dtype("float64")


def _result_dtype(stat: str, dtype: np.dtype) -> np.dtype:
    if stat == "count":
        return np.dtype("int64")
    if stat == "sum":
        return _sum_dtype(dtype)
    if stat in ("min", "max"):
        return dtype
    return np.dtype("float64")
