"""Earth Engine's ``visualizationOptions``: data values to 8-bit RGB(A).

The rules (Earth Engine's ``VisualizationOptions``; see ``DESIGN.md``):

* Each displayed band maps linearly from ``[min, max]`` to ``0 .. 255`` and clamps:
  ``t = clip((value - min) / (max - min), 0, 1)``. ``ranges`` gives one
  ``{"min", "max"}`` per band, or one for all bands. Without ``ranges`` floats
  stretch over ``[0, 1]`` and integers over their type's full range (``uint8``
  over ``0 .. 255``, so 8-bit data is shown as is).
* ``gamma`` applies to ``t`` as ``t ** (1 / gamma)`` (above 1 brightens).
* One band is grey (``r = g = b``), unless ``paletteColors`` gives colours: the
  colours sit evenly spaced over ``t = 0 .. 1`` and ``t`` interpolates linearly
  between the two around it, channel by channel. Three bands are red, green, blue.
* A channel value ``c`` in ``[0, 255]`` becomes ``floor(c + 0.5)`` (round half up).
* ``opacity`` (0 to 1) sets the alpha of every pixel to ``floor(255 * opacity + 0.5)``;
  a pixel masked in any displayed band is transparent (alpha 0) and black.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .colours import parse_colour
from .errors import FormatError

__all__ = ["VisualizationOptions", "visualize", "check_displayable", "VIS_BANDS", "default_range"]

#: Names Earth Engine gives the bands of a visualised image.
VIS_BANDS = ("vis-red", "vis-green", "vis-blue")

_KEYS = ("ranges", "paletteColors", "gamma", "opacity")


@dataclass(frozen=True)
class VisualizationOptions:
    """Parsed ``visualizationOptions``: ranges, palette, gamma and opacity.

    Build it with :meth:`parse` from Earth Engine's dictionary.
    """

    ranges: tuple[tuple[float, float], ...] | None = None
    palette: tuple[tuple[int, int, int], ...] | None = None
    gamma: float = 1.0
    opacity: float = 1.0

    @classmethod
    def parse(cls, value: Mapping[str, Any] | VisualizationOptions | None) -> VisualizationOptions:
        """Check and convert Earth Engine's ``visualizationOptions`` dictionary.

        Examples
        --------
        >>> VisualizationOptions.parse({"ranges": [{"min": 0, "max": 3000}], "gamma": 2})
        VisualizationOptions(ranges=((0.0, 3000.0),), palette=None, gamma=2.0, opacity=1.0)
        """
        if isinstance(value, VisualizationOptions):
            return value
        if value is None:
            return cls()
        if not isinstance(value, Mapping):
            raise FormatError(f"visualizationOptions must be a dictionary with keys {list(_KEYS)}, got {value!r}.")
        unknown = sorted(set(value) - set(_KEYS))
        if unknown:
            raise FormatError(f"unknown visualizationOptions {unknown}; the options are {list(_KEYS)}.")
        ranges = _parse_ranges(value.get("ranges"))
        palette = value.get("paletteColors")
        if palette is not None:
            if isinstance(palette, str):
                palette = palette.split(",")
            palette = tuple(parse_colour(c) for c in palette)
            if not palette:
                raise FormatError("paletteColors is empty: give at least one colour, or leave it out.")
        gamma = _number(value.get("gamma", 1.0), "gamma")
        if gamma <= 0:
            raise FormatError(f"gamma must be positive, got {gamma}.")
        opacity = _number(value.get("opacity", 1.0), "opacity")
        if not 0 <= opacity <= 1:
            raise FormatError(f"opacity must lie between 0 and 1, got {opacity}.")
        return cls(ranges, palette, gamma, opacity)

    def check(self, band_names: Sequence[str]) -> None:
        """Refuse to visualise these bands with these options (checked before any pixel is read).

        Examples
        --------
        >>> VisualizationOptions(palette=((0, 0, 0), (255, 0, 0))).check(["B4", "B3", "B2"])
        Traceback (most recent call last):
        ...
        sampling.errors.FormatError: paletteColors colours one band, but 3 bands are visualised ...
        """
        names = list(band_names)
        count = len(names)
        if self.palette is not None and count != 1:
            raise FormatError(
                f"paletteColors colours one band, but {count} bands are visualised ({names}). Select one band "
                "with bandIds, or leave paletteColors out to show three bands as red, green, blue."
            )
        if count not in (1, 3):
            raise FormatError(
                f"a visualisation shows 1 band (grey or palette) or 3 bands (red, green, blue), got {count} "
                f"({names}). Select 1 or 3 bands with bandIds."
            )
        if self.ranges is not None and len(self.ranges) not in (1, count):
            raise FormatError(
                f"ranges has {len(self.ranges)} entries for {count} bands: give one per band or one for all."
            )


def _number(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise FormatError(f"{what} must be a number, got {value!r}.") from None
    if not math.isfinite(number):
        raise FormatError(f"{what} must be finite, got {value!r}.")
    return number


def _parse_ranges(value: Any) -> tuple[tuple[float, float], ...] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        value = [value]
    ranges = []
    for item in value:
        if not isinstance(item, Mapping) or set(item) - {"min", "max"}:
            raise FormatError(f"each range must be a dictionary {{'min': ..., 'max': ...}}, got {item!r}.")
        # Earth Engine's DoubleRange: an omitted bound is 0
        low, high = _number(item.get("min", 0.0), "range min"), _number(item.get("max", 0.0), "range max")
        if low == high:
            raise FormatError(f"range {{'min': {low}, 'max': {high}}} is empty: min and max must differ.")
        ranges.append((low, high))
    if not ranges:
        raise FormatError("ranges is empty: give one {'min', 'max'} per band or one for all bands.")
    return tuple(ranges)


def default_range(dtype: np.dtype) -> tuple[float, float]:
    """The range shown when none is given: ``[0, 1]`` for floats, the full range for integers.

    Examples
    --------
    >>> default_range(np.dtype("uint16")), default_range(np.dtype("float32"))
    ((0.0, 65535.0), (0.0, 1.0))
    """
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return float(info.min), float(info.max)
    return 0.0, 1.0


def check_displayable(dtypes: Sequence[np.dtype], band_names: Sequence[str], file_format: str) -> None:
    """Refuse raw data that PNG/JPEG cannot show without ``visualizationOptions``.

    Raw data must be 8-bit unsigned with one (grey) or three (RGB) bands.
    """
    dtypes = [np.dtype(d) for d in dtypes]
    if len(dtypes) in (1, 3) and all(d == np.uint8 for d in dtypes):
        return
    kinds = ", ".join(f"{n}: {d}" for n, d in zip(band_names, dtypes, strict=True))
    raise FormatError(
        f"{file_format} holds 8-bit RGB pictures, but the data are {len(dtypes)} band(s) ({kinds}). "
        "Give visualizationOptions (for example {'ranges': [{'min': 0, 'max': 3000}]}) to map the values "
        "to 0..255, select 1 or 3 bands with bandIds, or ask for a raw format (GEO_TIFF, NPY, NUMPY_NDARRAY)."
    )


def _to_byte(channel: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """Channel values in [0, 255] to uint8, rounding half up (``out`` is a float64 scratch buffer)."""
    shifted = np.add(channel, 0.5, out=out)
    return np.floor(shifted, out=shifted).astype("uint8")


def visualize(
    values: Sequence[np.ndarray],
    valid: np.ndarray,
    options: VisualizationOptions | Mapping[str, Any] | None = None,
    *,
    band_names: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render 1 or 3 bands as 8-bit RGB plus an alpha channel.

    Parameters
    ----------
    values
        One 2-D array per band (any numeric dtype; the dtype sets the default range).
    valid
        Boolean ``(bands, height, width)``: False where a band is masked.
    options
        Earth Engine's ``visualizationOptions`` (or parsed options).
    band_names
        Names used in error messages.

    Returns
    -------
    rgb
        ``uint8`` array ``(3, height, width)``; masked pixels are 0.
    alpha
        ``uint8`` array ``(height, width)``: 0 where masked, else ``255 * opacity``.

    Examples
    --------
    >>> v = np.array([[0, 1500, 3000, 6000]], dtype="uint16")
    >>> rgb, alpha = visualize([v], np.ones((1, 1, 4), bool), {"ranges": [{"min": 0, "max": 3000}]})
    >>> rgb[0].tolist(), alpha.tolist()
    ([[0, 128, 255, 255]], [[255, 255, 255, 255]])
    >>> rgb, _ = visualize([v], np.ones((1, 1, 4), bool),
    ...                    {"ranges": [{"min": 0, "max": 3000}], "paletteColors": ["000000", "FF0000"]})
    >>> rgb[:, 0, 1].tolist()
    [128, 0, 0]
    """
    opts = VisualizationOptions.parse(options)
    opts.check(list(band_names) if band_names is not None else [f"band {k + 1}" for k in range(len(values))])
    stretched = []
    for k, band in enumerate(values):
        low, high = opts.ranges[k if len(opts.ranges) > 1 else 0] if opts.ranges else default_range(band.dtype)
        t = np.subtract(band, low, dtype="float64")
        np.divide(t, high - low, out=t)
        if np.dtype(band.dtype).kind == "f":
            np.nan_to_num(t, copy=False, nan=0.0)
        np.clip(t, 0.0, 1.0, out=t)
        if opts.gamma != 1.0:
            np.power(t, 1.0 / opts.gamma, out=t)
        stretched.append(t)
    if opts.palette is not None:
        rgb = _apply_palette(stretched[0], np.asarray(opts.palette, dtype="float64"))
    else:
        channels = []
        for t in stretched:  # in place: t is not needed afterwards
            np.multiply(t, 255.0, out=t)
            channels.append(_to_byte(t, out=t))
        rgb = np.stack(channels * 3 if len(channels) == 1 else channels)
    shown = np.asarray(valid, dtype=bool).all(axis=0)
    rgb[:, ~shown] = 0
    alpha = np.where(shown, math.floor(opts.opacity * 255.0 + 0.5), 0).astype("uint8")
    return rgb, alpha


def _apply_palette(t: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Interpolate evenly spaced ``colours`` (``(n, 3)``) at positions ``t`` in [0, 1]."""
    n = len(colours)
    if n == 1:
        return np.broadcast_to(colours[0].astype("uint8")[:, None, None], (3, *t.shape)).copy()
    position = t * (n - 1)
    lower = np.minimum(np.floor(position).astype("int64"), n - 2)
    fraction = position - lower
    start, end = colours[lower], colours[lower + 1]  # (h, w, 3)
    mixed = start + (end - start) * fraction[..., None]
    return _to_byte(np.moveaxis(mixed, -1, 0))
