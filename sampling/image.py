"""Images: named bands over raster sources, read lazily and by window.

An :class:`Image` is an ordered list of :class:`Band` objects plus an id, a start
time and properties, like an Earth Engine image. Each band refers to one band of
a :class:`RasterSource` (a file or an in-memory array) and carries that source's
pixel grid, so the bands of one image may lie on different grids, as Sentinel-2's
10, 20 and 60 m bands do.

Nothing is read when an image is opened beyond the files' headers; pixels are read
later, one block window at a time, by :mod:`sampling.engine`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import rasterio
from affine import Affine
from rasterio.enums import MaskFlags
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window

from .errors import BandError, GridError, RasterReadError
from .grid import PixelGrid, as_crs

__all__ = ["Image", "Band", "RasterSource", "FileSource", "ArraySource", "to_millis"]

PathLike = str | os.PathLike


# -- time -----------------------------------------------------------------------------


def to_millis(value: Any) -> int | None:
    """Convert a time into integer milliseconds since the Unix epoch, UTC.

    Accepts ``None``, a :class:`datetime.datetime` or :class:`datetime.date`, a
    :class:`pandas.Timestamp`, an :class:`numpy.datetime64`, an ISO 8601 string, or an
    integer number of milliseconds. Naive times are taken as UTC.

    Examples
    --------
    >>> to_millis("2020-05-18T13:45:00Z")
    1589809500000
    >>> to_millis(1589809500000)
    1589809500000
    """
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"time must be a date, a datetime or milliseconds, got {value!r}.")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot read {value!r} as a time: {exc}") from None
    if ts is pd.NaT:
        return None
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.value // 1_000_000)


# -- sources ----------------------------------------------------------------------------


def _nodata_in_dtype(nodata: float | None, dtype: np.dtype) -> bool:
    if nodata is None:
        return False
    if dtype.kind == "f":
        return True
    if np.isnan(nodata) or not float(nodata).is_integer():
        return False
    info = np.iinfo(dtype)
    return info.min <= nodata <= info.max


@dataclass(frozen=True, eq=False)
class RasterSource:
    """Where pixels come from: one raster (file or array) with one grid and its bands.

    Subclasses implement :meth:`read`. A source knows its grid, dtypes, nodata values
    and block shape; it reads ``(values, valid)`` for a window of some of its bands.
    """

    grid: PixelGrid
    dtypes: tuple[np.dtype, ...]
    nodata: tuple[float | None, ...]
    block_shape: tuple[int, int]
    name: str

    @property
    def count(self) -> int:
        return len(self.dtypes)

    def read(self, indexes: Sequence[int], window: tuple[int, int, int, int]) -> tuple[list[np.ndarray], np.ndarray]:
        """Read a window of some bands.

        Parameters
        ----------
        indexes
            Zero-based band positions in this source.
        window
            ``(row_off, col_off, height, width)``, inside the grid.

        Returns
        -------
        values
            One 2-D array per requested band, in the band's dtype.
        valid
            A boolean array ``(len(indexes), height, width)``: False where masked.
        """
        raise NotImplementedError

    def read_at(
        self, indexes: Sequence[int], window: tuple[int, int, int, int], rows: np.ndarray, cols: np.ndarray
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """Read some bands at pixels ``(rows, cols)`` of a window (indices within the window).

        Returns one 1-D array of values per requested band and a boolean array
        ``(len(indexes), len(rows))``, False where masked. Subclasses may read less
        than the window; the result is the same as indexing :meth:`read`'s.
        """
        values, valid = self.read(indexes, window)
        return [v[rows, cols] for v in values], valid[:, rows, cols]

    def _valid_from_values(self, index: int, values: np.ndarray) -> np.ndarray:
        nodata = self.nodata[index]
        valid = np.ones(values.shape, dtype=bool)
        if values.dtype.kind == "f":
            valid &= ~np.isnan(values)
        if nodata is not None and _nodata_in_dtype(nodata, values.dtype) and not np.isnan(nodata):
            valid &= values != values.dtype.type(nodata)
        return valid


@dataclass(frozen=True, eq=False)
class ArraySource(RasterSource):
    """An in-memory source over a ``(bands, height, width)`` NumPy array."""

    array: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    mask: np.ndarray | None = field(default=None, repr=False)

    def read(self, indexes, window):
        row, col, height, width = window
        values = [self.array[i, row : row + height, col : col + width] for i in indexes]
        valid = np.stack([self._valid_from_values(i, v) for i, v in zip(indexes, values)])
        if self.mask is not None:
            valid &= self.mask[list(indexes), row : row + height, col : col + width]
        return values, valid

    def read_at(self, indexes, window, rows, cols):
        r = rows + window[0]
        c = cols + window[1]
        values = [self.array[i, r, c] for i in indexes]
        valid = np.stack([self._valid_from_values(i, v) for i, v in zip(indexes, values)]).reshape(len(indexes), -1)
        if self.mask is not None:
            valid &= self.mask[np.asarray(indexes)[:, None], r, c]
        return values, valid


@dataclass(frozen=True, eq=False)
class FileSource(RasterSource):
    """A raster file, URL or GDAL path, opened per thread and read by window."""

    path: str = ""
    mask_flags: tuple[frozenset, ...] = ()
    descriptions: tuple[str | None, ...] = ()
    tags: dict = field(default_factory=dict, repr=False)
    _local: threading.local = field(default_factory=threading.local, repr=False, compare=False)

    @classmethod
    def open(cls, path: PathLike) -> "FileSource":
        """Read a raster's header and describe it; no pixel is read."""
        text = os.fspath(path)
        with _open_dataset(text) as ds:
            if ds.count == 0:
                raise RasterReadError(f"{text} has no bands.")
            if ds.crs is None:
                raise RasterReadError(
                    f"{text} has no coordinate reference system, so its pixels cannot be placed "
                    "on the Earth. Assign one (for example with `gdal_edit.py -a_srs EPSG:XXXX`) "
                    "or build the image with Image.from_array(..., crs=...)."
                )
            if ds.transform == Affine.identity() and not ds.gcps[0] and ds.rpcs is None:
                raise RasterReadError(
                    f"{text} has no georeferencing (its transform is the identity). Assign a "
                    "geotransform or build the image with Image.from_array(..., transform=...)."
                )
            grid = PixelGrid(ds.crs, ds.transform, ds.shape)
            dtypes = tuple(np.dtype(d) for d in ds.dtypes)
            nodata = tuple(ds.nodatavals)
            for value, dtype, band in zip(nodata, dtypes, range(1, ds.count + 1)):
                if value is not None and not _nodata_in_dtype(value, dtype):
                    warnings.warn(
                        f"{text} band {band}: nodata {value} lies outside {dtype}, so no pixel can "
                        "equal it and none is masked by it.",
                        stacklevel=3,
                    )
            block_shape = tuple(ds.block_shapes[0]) if ds.block_shapes else (256, 256)
            return cls(
                grid=grid,
                dtypes=dtypes,
                nodata=nodata,
                block_shape=block_shape,  # type: ignore[arg-type]
                name=text,
                path=text,
                mask_flags=tuple(frozenset(f) for f in ds.mask_flag_enums),
                descriptions=tuple(ds.descriptions),
                tags=dict(ds.tags()),
            )

    def dataset(self) -> rasterio.io.DatasetReader:
        """This thread's open dataset (opened on first use)."""
        ds = getattr(self._local, "ds", None)
        if ds is None or ds.closed:
            ds = _open_dataset(self.path)
            self._local.ds = ds
        return ds

    def close(self) -> None:
        """Close this thread's dataset, if open."""
        ds = getattr(self._local, "ds", None)
        if ds is not None:
            ds.close()
            self._local.ds = None

    def _has_mask(self, index: int) -> bool:
        """Whether band ``index`` has an internal or alpha mask beyond nodata."""
        flags = self.mask_flags[index] if self.mask_flags else frozenset()
        return MaskFlags.per_dataset in flags or MaskFlags.alpha in flags

    def read(self, indexes, window):
        row, col, height, width = window
        ds = self.dataset()
        win = Window(col, row, width, height)
        bidx = [i + 1 for i in indexes]
        try:
            data = ds.read(bidx, window=win)
            valid = np.stack([self._valid_from_values(i, v) for i, v in zip(indexes, data)])
            for k, i in enumerate(indexes):
                if self._has_mask(i):
                    valid[k] &= ds.read_masks(bidx[k], window=win) > 0
        except RasterioIOError as exc:
            raise RasterReadError(f"cannot read window {window} of {self.path}: {exc}") from None
        return list(data), valid

    def read_at(self, indexes, window, rows, cols):
        # validity only where asked: comparing whole blocks with nodata costs as much as
        # a good part of decompressing them
        row, col, height, width = window
        ds = self.dataset()
        win = Window(col, row, width, height)
        bidx = [i + 1 for i in indexes]
        try:
            data = ds.read(bidx, window=win)[:, rows, cols]
            valid = np.stack([self._valid_from_values(i, v) for i, v in zip(indexes, data)]).reshape(len(bidx), -1)
            for k, i in enumerate(indexes):
                if self._has_mask(i):
                    valid[k] &= ds.read_masks(bidx[k], window=win)[rows, cols] > 0
        except RasterioIOError as exc:
            raise RasterReadError(f"cannot read window {window} of {self.path}: {exc}") from None
        return list(data), valid


def _open_dataset(path: str) -> rasterio.io.DatasetReader:
    """Open a raster with rasterio, turning GDAL's errors into clear ones."""
    from .remote import gdal_env  # GDAL settings for remote reads

    local = "://" not in path and not path.startswith("/vsi")
    if local:
        p = Path(path)
        if not p.exists():
            raise RasterReadError(f"raster {path} does not exist. Check the path.")
        if p.is_dir():
            raise RasterReadError(f"{path} is a directory, not a raster file.")
        if not os.access(p, os.R_OK):
            raise RasterReadError(f"raster {path} is not readable: check its permissions.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with gdal_env():
                return rasterio.open(path)
    except RasterioIOError as exc:
        message = str(exc)
        if local:
            raise RasterReadError(
                f"{path} is not a raster GDAL can read (corrupt, truncated or another kind of "
                f"file): {message}"
            ) from None
        raise RasterReadError(f"cannot open raster {path}: {message}") from None


# -- bands and images ----------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    """One named band: a band of a source, with that source's grid, dtype and nodata."""

    name: str
    source: RasterSource = field(repr=False)
    index: int = 0

    @property
    def grid(self) -> PixelGrid:
        return self.source.grid

    @property
    def dtype(self) -> np.dtype:
        return self.source.dtypes[self.index]

    @property
    def nodata(self) -> float | None:
        return self.source.nodata[self.index]


_GENERIC_NAME = re.compile(r"^(band[ _]?)?\d+$", re.IGNORECASE)


def _names_from_stems(paths: Sequence[str]) -> list[str]:
    """Band names from file names: the stems without their common prefix."""
    stems = [Path(p.split("?")[0]).name.split(".")[0] for p in paths]
    if len(stems) == 1:
        return stems
    prefix = os.path.commonprefix(stems)
    cut = max(prefix.rfind(c) for c in "_-.") + 1
    names = [s[cut:] for s in stems]
    if all(names) and len(set(names)) == len(names):
        return names
    return stems


class Image:
    """An image: ordered, named bands, an id, a start time and properties.

    Build one with :meth:`Image.open` (files) or :meth:`Image.from_array` (NumPy).

    Parameters
    ----------
    bands
        The bands, in order. Names must be unique.
    id
        The image id (Earth Engine's ``system:index``).
    time
        The start time (anything :func:`to_millis` accepts).
    properties
        Any other metadata.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> img = Image.from_array(np.zeros((2, 4, 4), "uint8"), Affine(10, 0, 0, 0, -10, 40),
    ...                        "EPSG:32618", bands=["red", "nir"])
    >>> img.band_names
    ['red', 'nir']
    """

    def __init__(
        self,
        bands: Sequence[Band],
        *,
        id: str | None = None,
        time: Any = None,
        properties: Mapping[str, Any] | None = None,
    ) -> None:
        bands = list(bands)
        if not bands:
            raise BandError("an image needs at least one band.")
        names = [b.name for b in bands]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise BandError(f"duplicate band names {dupes}: give unique names with bands=[...].")
        self._bands = tuple(bands)
        self.id = None if id is None else str(id)
        self.time = to_millis(time)
        self.properties = dict(properties or {})

    # -- constructors -------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path_or_paths: PathLike | Sequence[PathLike],
        *,
        bands: Sequence[str] | None = None,
        id: str | None = None,
        time: Any = None,
        properties: Mapping[str, Any] | None = None,
    ) -> "Image":
        """Open one multi-band raster, or several single-band rasters as one image.

        Parameters
        ----------
        path_or_paths
            A path or URL, or a list of them (one file per band, possibly at different
            resolutions and on different grids).
        bands
            Band names, one per band. By default: the band descriptions when every band
            has a distinct one; for several files, the file names without their common
            prefix (``LC08_..._B2.tif`` -> ``B2``); otherwise ``b1, b2, ...``.
        id
            Image id; defaults to the (first) file's name without extension.
        time
            Start time: a datetime, a pandas Timestamp, an ISO string or integer
            milliseconds since the epoch.
        properties
            Extra metadata stored on the image.

        Examples
        --------
        >>> img = Image.open("data/example.tif")  # doctest: +SKIP
        """
        if isinstance(path_or_paths, (str, os.PathLike)):
            paths = [os.fspath(path_or_paths)]
        else:
            paths = [os.fspath(p) for p in path_or_paths]
            if not paths:
                raise RasterReadError("no raster paths were given.")
        sources = [FileSource.open(p) for p in paths]
        raw: list[tuple[RasterSource, int]] = [(s, i) for s in sources for i in range(s.count)]
        if bands is not None:
            names = [str(b) for b in ([bands] if isinstance(bands, str) else bands)]
            if len(names) != len(raw):
                raise BandError(f"bands= names {len(names)} bands but the raster(s) have {len(raw)}.")
        else:
            descriptions = [s.descriptions[i] for s, i in raw]
            if all(descriptions) and len(set(descriptions)) == len(descriptions) and not any(
                _GENERIC_NAME.match(d) for d in descriptions
            ):
                names = list(descriptions)
            elif len(sources) > 1 and all(s.count == 1 for s in sources):
                names = _names_from_stems(paths)
            else:
                names = [f"b{k + 1}" for k in range(len(raw))]
        image_id = id if id is not None else Path(paths[0].split("?")[0]).name.split(".")[0]
        return cls([Band(n, s, i) for n, (s, i) in zip(names, raw)], id=image_id, time=time, properties=properties)

    @classmethod
    def from_array(
        cls,
        array: np.ndarray,
        transform: Affine | Sequence[float],
        crs: Any,
        *,
        bands: Sequence[str] | None = None,
        nodata: float | Sequence[float | None] | None = None,
        mask: np.ndarray | None = None,
        id: str | None = None,
        time: Any = None,
        properties: Mapping[str, Any] | None = None,
        block_shape: tuple[int, int] = (256, 256),
    ) -> "Image":
        """An image over an in-memory array of shape ``(bands, height, width)`` or ``(height, width)``.

        ``mask`` (same shape, True = valid) adds to the nodata and NaN masks.

        Examples
        --------
        >>> import numpy as np
        >>> img = Image.from_array(np.arange(6, dtype="int16").reshape(2, 3), [10, 0, 0, 0, -10, 20], 32618)
        >>> img.band_names, img.grid.shape
        (['b1'], (2, 3))
        """
        data = np.asarray(array)
        if data.ndim == 2:
            data = data[np.newaxis]
        if data.ndim != 3:
            raise GridError(f"array must have shape (bands, height, width), got {data.shape}.")
        count = data.shape[0]
        names = list(bands) if bands is not None else [f"b{k + 1}" for k in range(count)]
        if len(names) != count:
            raise BandError(f"bands= names {len(names)} bands but the array has {count}.")
        if nodata is None or np.isscalar(nodata):
            nodatas = (nodata,) * count
        else:
            nodatas = tuple(nodata)
            if len(nodatas) != count:
                raise BandError(f"nodata has {len(nodatas)} values for {count} bands.")
        if mask is not None:
            mask = np.broadcast_to(np.asarray(mask, dtype=bool), data.shape)
        grid = PixelGrid(as_crs(crs), transform, data.shape[1:])
        source = ArraySource(
            grid=grid,
            dtypes=(data.dtype,) * count,
            nodata=nodatas,
            block_shape=block_shape,
            name=id or "array",
            array=data,
            mask=mask,
        )
        return cls([Band(n, source, i) for i, n in enumerate(names)], id=id, time=time, properties=properties)

    # -- description ---------------------------------------------------------------

    @property
    def bands(self) -> tuple[Band, ...]:
        return self._bands

    @property
    def band_names(self) -> list[str]:
        return [b.name for b in self._bands]

    @property
    def dtypes(self) -> dict[str, np.dtype]:
        return {b.name: b.dtype for b in self._bands}

    @property
    def grid(self) -> PixelGrid:
        """The grid of the first band: Earth Engine's default working projection."""
        return self._bands[0].grid

    @property
    def sources(self) -> list[RasterSource]:
        """The distinct sources behind the bands, in band order."""
        seen: dict[int, RasterSource] = {}
        for b in self._bands:
            seen.setdefault(id(b.source), b.source)
        return list(seen.values())

    def band(self, name: str) -> Band:
        for b in self._bands:
            if b.name == name:
                return b
        raise BandError(f"unknown band {name!r}; this image has {self.band_names}.")

    def select(self, names: str | Iterable[str]) -> "Image":
        """A new image with only the named bands, in the given order.

        Each name may be an exact band name or a regular expression matched against the
        whole name (``"B[2-4]"``), as Earth Engine's ``select`` does.
        """
        patterns = [names] if isinstance(names, str) else list(names)
        chosen: list[Band] = []
        for pattern in patterns:
            if pattern in self.band_names:
                chosen.append(self.band(pattern))
                continue
            try:
                regex = re.compile(pattern)
            except re.error:
                regex = None
            matches = [b for b in self._bands if regex is not None and regex.fullmatch(b.name)]
            if not matches:
                raise BandError(f"unknown band {pattern!r}; this image has {self.band_names}.")
            chosen.extend(matches)
        return Image(chosen, id=self.id, time=self.time, properties=self.properties)

    def rename(self, names: Sequence[str]) -> "Image":
        """A new image whose bands carry ``names``."""
        names = list(names)
        if len(names) != len(self._bands):
            raise BandError(f"rename needs {len(self._bands)} names, got {len(names)}.")
        return Image([replace(b, name=n) for b, n in zip(self._bands, names)], id=self.id, time=self.time, properties=self.properties)

    def set(self, **properties: Any) -> "Image":
        """A new image with updated properties (``id`` and ``time`` included)."""
        props = dict(self.properties)
        image_id = properties.pop("id", self.id)
        time = properties.pop("time", self.time)
        props.update(properties)
        return Image(self._bands, id=image_id, time=time, properties=props)

    @property
    def footprint_bounds(self) -> tuple[float, float, float, float]:
        """Bounds of the first band's grid, in its CRS."""
        return self.grid.bounds

    def close(self) -> None:
        """Close any file handles this thread holds for the image's sources."""
        for s in self.sources:
            if isinstance(s, FileSource):
                s.close()

    def __enter__(self) -> "Image":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __iter__(self) -> Iterator[Band]:
        return iter(self._bands)

    def __len__(self) -> int:
        return len(self._bands)

    def __repr__(self) -> str:
        when = "" if self.time is None else f", time={pd.Timestamp(self.time, unit='ms', tz='UTC').isoformat()}"
        return f"Image(id={self.id!r}, bands={self.band_names}{when})"


def as_image(image: "Image | PathLike | Sequence[PathLike]") -> Image:
    """Accept an :class:`Image`, a path or a list of paths, and return an :class:`Image`."""
    if isinstance(image, Image):
        return image
    return Image.open(image)
