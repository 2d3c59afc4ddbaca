"""Quick looks: an image with its regions and samples, time series, class histograms.

These figures answer the questions one asks before training a model: are the
regions where I think they are, which pixels were sampled, do the classes separate,
what does a pixel do over time. They need matplotlib (``pip install
'sampling[plot]'``); every function draws on a given ``ax`` or on a new figure, and
returns the axes so the figure can be saved or refined.

The image is read through the same engine as every operation (nearest neighbour on
a grid coarsened to at most ``max_size`` pixels a side), so what is drawn is what is
sampled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .engine import read_pixels
from .errors import BandError, OptionError, PropertyError
from .image import Image, PathLike, as_image

__all__ = ["plot_image", "plot_time_series", "plot_histograms", "plot_patches", "rgb_composite"]

_RGB_NAMES = [("red", "green", "blue"), ("r", "g", "b"), ("b4", "b3", "b2"), ("sr_b4", "sr_b3", "sr_b2")]


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "sampling.plot needs matplotlib: install it with `pip install matplotlib` "
            "(or `pip install 'sampling[plot]'`)."
        ) from None
    return plt


def _axes(ax: Any, figsize: tuple[float, float]) -> Any:
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=figsize, layout="constrained")
    return ax


def _choose_bands(names: list[str], bands: Sequence[str] | None) -> list[str]:
    if bands is None:
        lower = {b.lower(): b for b in names}
        for triple in _RGB_NAMES:
            if all(n in lower for n in triple):
                return [lower[n] for n in triple]
        return names[:3] if len(names) >= 3 else names[:1]
    chosen = list(bands)
    if len(chosen) not in (1, 3):
        raise BandError(f"an image is drawn from 1 or 3 bands, got {chosen}.")
    unknown = [b for b in chosen if b not in names]
    if unknown:
        raise BandError(f"unknown bands {unknown}; there are {names}.")
    return chosen


def _stretch(values: np.ndarray, valid: np.ndarray, stretch: tuple[float, float]) -> np.ndarray:
    """``values`` mapped linearly from their ``stretch`` percentiles (over valid pixels) to [0, 1]."""
    values = values.astype("float64")
    lo, hi = np.percentile(values[valid], stretch) if valid.any() else (0.0, 1.0)
    return np.clip((values - lo) / (hi - lo if hi > lo else 1.0), 0, 1)


def rgb_composite(
    image: Image | PathLike | Sequence[PathLike],
    *,
    bands: Sequence[str] | None = None,
    stretch: tuple[float, float] = (2, 98),
    max_size: int = 1024,
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """An RGBA array of the image for display, and its extent ``(left, right, bottom, top)``.

    Each band is stretched linearly between its ``stretch`` percentiles (over the
    unmasked pixels) and clipped to [0, 1]; masked pixels are transparent. One band
    gives a grey image. The grid is the first band's, coarsened to at most
    ``max_size`` pixels a side.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> img = Image.from_array(np.arange(12, dtype="uint8").reshape(3, 4), Affine(10, 0, 0, 0, -10, 30), 32618)
    >>> rgba, extent = rgb_composite(img, stretch=(0, 100))
    >>> rgba.shape, extent, float(rgba[0, 0, 0]), float(rgba[-1, -1, 0])
    ((3, 4, 4), (0.0, 40.0, 0.0, 30.0), 0.0, 1.0)
    """
    image = as_image(image)
    chosen = _choose_bands(image.band_names, bands)
    grid = image.grid
    height, width = grid.shape  # type: ignore[misc]
    factor = max(1, math.ceil(max(height, width) / max_size))
    if factor > 1:
        grid = grid.rescale(grid.nominal_scale * factor)
        height, width = math.ceil(height / factor), math.ceil(width / factor)
    rows, cols = np.divmod(np.arange(height * width), width)
    pixels = read_pixels(image, grid, rows, cols, bands=chosen)
    channels = [_stretch(pixels.values[name], pixels.valid[:, k], stretch) for k, name in enumerate(chosen)]
    if len(channels) == 1:
        channels *= 3
    alpha = pixels.valid.all(axis=1).astype("float64")
    rgba = np.stack([*channels, alpha], axis=1).reshape(height, width, 4)
    left, top = grid.transform.c, grid.transform.f
    right = left + grid.transform.a * width
    bottom = top + grid.transform.e * height
    return rgba, (left, right, bottom, top)


def plot_image(
    image: Image | PathLike | Sequence[PathLike],
    *,
    bands: Sequence[str] | None = None,
    regions: gpd.GeoDataFrame | None = None,
    samples: gpd.GeoDataFrame | None = None,
    column: str | None = None,
    stretch: tuple[float, float] = (2, 98),
    max_size: int = 1024,
    ax: Any = None,
    figsize: tuple[float, float] = (8, 6),
) -> Any:
    """Draw an image (RGB composite or grey) with regions outlined and sample points on top.

    Parameters
    ----------
    image
        An :class:`~sampling.Image` or raster path(s).
    bands
        Three bands for red, green and blue, or one for grey. By default bands
        named red/green/blue (or B4/B3/B2), else the first three.
    regions
        Regions to outline, in any CRS (reprojected to the image's).
    samples
        A table with point geometries (``geometries=True`` in the sampling call),
        drawn as dots at the pixel centres.
    column
        A column of ``samples`` (and of ``regions``, if it has it) to colour by,
        with a legend: typically the class label.
    stretch
        Lower and upper percentiles of each band mapped to black and full colour.
    max_size
        The image is drawn on a grid of at most this many pixels a side.
    ax, figsize
        Axes to draw on, or the size of a new figure.

    Returns
    -------
    matplotlib.axes.Axes
    """
    image = as_image(image)
    ax = _axes(ax, figsize)
    rgba, extent = rgb_composite(image, bands=bands, stretch=stretch, max_size=max_size)
    ax.imshow(rgba, extent=extent, interpolation="nearest")
    crs = image.grid.crs
    colours = _category_colours(column, regions, samples)
    if regions is not None:
        outlines = regions.to_crs(crs)
        if column is not None and column in outlines.columns:
            for value, part in outlines.groupby(column, sort=True):
                part.boundary.plot(ax=ax, color=colours[value], linewidth=1.4)
        else:
            outlines.boundary.plot(ax=ax, color="yellow", linewidth=1.4)
    if samples is not None:
        points = _points(samples).to_crs(crs)
        if column is not None:
            if column not in points.columns:
                raise PropertyError(f"unknown column {column!r}; the samples have {list(points.columns)}.")
            for value, part in points.groupby(column, sort=True):
                ax.scatter(part.geometry.x, part.geometry.y, s=6, color=colours[value], label=str(value),
                           edgecolors="black", linewidths=0.3, zorder=3)
            ax.legend(title=column, loc="best", fontsize="small", markerscale=2)
        else:
            ax.scatter(points.geometry.x, points.geometry.y, s=6, color="cyan", edgecolors="black",
                       linewidths=0.3, zorder=3)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_aspect("equal")
    ax.ticklabel_format(useOffset=False, style="plain")
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    ax.set_xlabel(f"x ({unit})" if unit else "x")
    ax.set_ylabel(f"y ({unit})" if unit else "y")
    ax.set_title(f"{image.id or 'image'}: {', '.join(_choose_bands(image.band_names, bands))}")
    return ax


def _points(samples: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if not isinstance(samples, gpd.GeoDataFrame) or samples.geometry.isna().any():
        raise OptionError(
            "samples need point geometries to be drawn: sample with geometries=True."
        )
    return samples


def _category_colours(column: str | None, *frames: Any) -> dict[Any, Any]:
    if column is None:
        return {}
    values: list[Any] = []
    for frame in frames:
        if frame is not None and column in frame.columns:
            values.extend(frame[column].dropna().unique().tolist())
    cmap = _pyplot().get_cmap("tab10")
    return {v: cmap(k % 10) for k, v in enumerate(sorted(set(values), key=str))}


def plot_time_series(
    table: pd.DataFrame,
    band: str,
    *,
    by: str | Sequence[str] = "pixel",
    ax: Any = None,
    figsize: tuple[float, float] = (8, 4),
    max_lines: int = 50,
) -> Any:
    """Lines of a band over time from a ``get_region`` table.

    Parameters
    ----------
    table
        A long table with a ``time`` column (milliseconds since the epoch, UTC) and
        the band's column, as :func:`~sampling.get_region` returns.
    band
        The band to draw.
    by
        ``"pixel"`` draws one line per pixel (``longitude``, ``latitude``); a column
        name (or several, such as a region property) draws one line per group, the
        mean of its pixels at each time.
    max_lines
        At most this many lines are drawn (the first groups, in table order).
    ax, figsize
        Axes to draw on, or the size of a new figure.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if band not in table.columns:
        raise BandError(f"unknown band {band!r}; the table has {list(table.columns)}.")
    if "time" not in table.columns:
        raise PropertyError("the table has no 'time' column: give a get_region table.")
    keys = ["longitude", "latitude"] if by == "pixel" else ([by] if isinstance(by, str) else list(by))
    missing = [k for k in keys if k not in table.columns]
    if missing:
        raise PropertyError(f"unknown columns {missing} to group by; the table has {list(table.columns)}.")
    ax = _axes(ax, figsize)
    data = pd.DataFrame({k: table[k] for k in keys})
    data["when"] = pd.to_datetime(table["time"].astype("float64"), unit="ms", utc=True)
    data["value"] = table[band].astype("float64")
    groups = data.dropna(subset=["when"]).groupby(keys, sort=False)
    drawn = 0
    for key, part in groups:
        if drawn == max_lines:
            break
        series = part.groupby("when")["value"].mean().sort_index()
        label = ", ".join(f"{v:.5f}" if isinstance(v, float) else str(v) for v in np.atleast_1d(key))
        ax.plot(series.index, series.to_numpy(), marker="o", markersize=3, linewidth=1, label=label)
        drawn += 1
    if 0 < drawn <= 10:
        ax.legend(title=", ".join(keys), fontsize="small")
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel(band)
    what = "pixel" if by == "pixel" else ", ".join(keys)
    shown = f" (first {drawn} of {groups.ngroups})" if drawn < groups.ngroups else ""
    ax.set_title(f"{band} over time, one line per {what}{shown}")
    ax.figure.autofmt_xdate()
    return ax


def plot_histograms(
    table: pd.DataFrame,
    bands: Sequence[str] | None = None,
    *,
    by: str | None = None,
    bins: int = 40,
    axes: Any = None,
    figsize: tuple[float, float] | None = None,
) -> Any:
    """One histogram per band, classes overlaid: do the classes separate?

    Parameters
    ----------
    table
        A sampled table (one row per pixel).
    bands
        The band columns; by default ``table.attrs["band_order"]``.
    by
        A class column: one semi-transparent histogram per class.
    bins
        Number of bins, shared by the classes of a band.
    axes, figsize
        A sequence of axes (one per band), or the size of a new figure.

    Returns
    -------
    numpy.ndarray of matplotlib.axes.Axes
    """
    bands = list(bands) if bands is not None else list(table.attrs.get("band_order") or [])
    if not bands:
        raise BandError("give the band columns to draw with bands=[...].")
    missing = [b for b in bands if b not in table.columns]
    if missing:
        raise BandError(f"unknown bands {missing}; the table has {list(table.columns)}.")
    if by is not None and by not in table.columns:
        raise PropertyError(f"unknown class column {by!r}; the table has {list(table.columns)}.")
    if axes is None:
        plt = _pyplot()
        columns = min(len(bands), 4)
        rows = math.ceil(len(bands) / columns)
        _, axes = plt.subplots(rows, columns, figsize=figsize or (3.2 * columns, 2.6 * rows),
                               layout="constrained", squeeze=False)
    axes = np.asarray(axes).reshape(-1)
    groups = [(None, table)] if by is None else list(table.groupby(by, sort=True))
    for ax, band in zip(axes, bands, strict=False):
        values = table[band].astype("float64").dropna()
        edges = np.histogram_bin_edges(values, bins=bins) if len(values) else bins
        for value, part in groups:
            ax.hist(part[band].astype("float64").dropna(), bins=edges, alpha=0.55,
                    label=None if value is None else str(value))
        ax.set_title(band)
        ax.set_ylabel("pixels")
    for ax in axes[len(bands):]:
        ax.set_visible(False)
    if by is not None:
        axes[0].legend(title=by, fontsize="small")
    return axes


def plot_patches(
    patches: Any,
    *,
    bands: Sequence[str] | None = None,
    titles: Sequence[Any] | None = None,
    columns: int = 8,
    stretch: tuple[float, float] = (2, 98),
    size: float = 1.6,
) -> Any:
    """A grid of image patches (from :func:`~sampling.cut_patches`), one small RGB image each.

    Every patch is stretched the same way (each band between its ``stretch``
    percentiles over all patches), so patches can be compared; masked pixels are
    transparent. ``titles`` labels the patches (by default their labels); ``size``
    is the side of one patch in inches.

    Returns
    -------
    numpy.ndarray of matplotlib.axes.Axes
    """
    chosen = _choose_bands(list(patches.band_names), bands)
    index = [list(patches.band_names).index(b) for b in chosen]
    values = patches.values[:, index]
    valid = patches.valid[:, index]
    channels = [_stretch(values[:, k], valid[:, k], stretch) for k in range(len(index))]
    if len(channels) == 1:
        channels *= 3
    alpha = valid.all(axis=1).astype("float64")
    rgba = np.stack([*channels, alpha], axis=-1)  # (N, height, width, 4)
    n = len(rgba)
    columns = max(1, min(columns, n))
    rows = max(1, math.ceil(n / columns))
    _, axes = _pyplot().subplots(rows, columns, figsize=(size * columns, size * rows + 0.3), squeeze=False,
                                 layout="constrained")
    axes = axes.reshape(-1)
    labels = list(titles) if titles is not None else list(patches.labels)
    for k, ax in enumerate(axes):
        ax.set_axis_off()
        if k < n:
            ax.imshow(rgba[k], interpolation="nearest")
            ax.set_title(str(labels[k]), fontsize="small")
    return axes
