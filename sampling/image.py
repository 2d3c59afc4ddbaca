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

import os
import re
import threading
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio
from affine import Affine
from rasterio._err import CPLE_BaseError
from rasterio.enums import MaskFlags
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.windows import Window

from .errors import BandError, CRSError, GridError, RasterReadError
from .grid import PixelGrid, as_crs
from .remote import display_path, gdal_env, gdal_path, is_remote, open_error_message, redact

__all__ = ["Image", "Band", "RasterSource", "FileSource", "ArraySource", "to_millis", "match_bands"]

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
    # through datetime64 rather than Timestamp.value (nanoseconds), which overflows after 2262
    return int(ts.to_datetime64().astype("datetime64[ms]").astype("int64"))


# -- sources ----------------------------------------------------------------------------


def _nodata_in_dtype(nodata: float | None, dtype: np.dtype) -> bool:
    """Whether ``nodata`` is a value a pixel of ``dtype`` can hold (so it can mask pixels)."""
    if nodata is None:
        return False
    if dtype.kind == "f":
        return bool(not np.isfinite(nodata) or abs(nodata) <= np.finfo(dtype).max)
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

    def __post_init__(self) -> None:
        for band, (value, dtype) in enumerate(zip(self.nodata, self.dtypes, strict=True), start=1):
            if value is not None and not _nodata_in_dtype(value, np.dtype(dtype)):
                warnings.warn(
                    f"{self.name} band {band}: nodata {value} cannot be a value of {np.dtype(dtype)}, so no "
                    "pixel equals it and none is masked by it (as in GDAL). Give a nodata value the band "
                    "can hold, or a mask.",
                    stacklevel=4,
                )

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
    def open(cls, path: PathLike) -> FileSource:
        """Read a raster's header and describe it; no pixel is read."""
        text = os.fspath(path)
        shown = display_path(text)
        with _open_dataset(text) as ds:
            if ds.count == 0:
                raise RasterReadError(f"{shown} has no bands.")
            grid = _grid_of(ds, shown)
            if _is_local(text):
                _check_not_truncated(ds, text)
            dtypes = tuple(np.dtype(d) for d in ds.dtypes)
            nodata = tuple(ds.nodatavals)
            block_shape = tuple(ds.block_shapes[0]) if ds.block_shapes else (256, 256)
            return cls(
                grid=grid,
                dtypes=dtypes,
                nodata=nodata,
                block_shape=block_shape,  # type: ignore[arg-type]
                name=shown,
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
            data = _read_window(ds, bidx, win)
            valid = np.stack([self._valid_from_values(i, v) for i, v in zip(indexes, data, strict=True)])
            for k, i in enumerate(indexes):
                if self._has_mask(i):
                    valid[k] &= ds.read_masks(bidx[k], window=win) > 0
        except (RasterioError, CPLE_BaseError) as exc:
            raise self._read_error(exc, window, bidx) from None
        return list(data), valid

    def read_at(self, indexes, window, rows, cols):
        # validity only where asked: comparing whole blocks with nodata costs as much as
        # a good part of decompressing them
        row, col, height, width = window
        ds = self.dataset()
        win = Window(col, row, width, height)
        bidx = [i + 1 for i in indexes]
        try:
            data = _read_window(ds, bidx, win)[:, rows, cols]
            valid = np.stack([self._valid_from_values(i, v) for i, v in zip(indexes, data, strict=True)])
            valid = valid.reshape(len(bidx), -1)
            for k, i in enumerate(indexes):
                if self._has_mask(i):
                    valid[k] &= ds.read_masks(bidx[k], window=win)[rows, cols] > 0
        except (RasterioError, CPLE_BaseError) as exc:
            raise self._read_error(exc, window, bidx) from None
        return list(data), valid

    def _read_error(self, exc: Exception, window: tuple[int, int, int, int], bidx: list[int]) -> RasterReadError:
        """A read failure that names the file, the window and the bands, and what to do."""
        row, col, height, width = window
        return RasterReadError(
            f"cannot read {self.name} (rows {row}-{row + height - 1}, columns {col}-{col + width - 1}, "
            f"{_band_list(bidx)}): {redact(_gdal_message(exc))}. The file is corrupt or truncated, or became "
            "unreachable; check it (for example with `gdalinfo -checksum`) or fetch it again."
        )

    def __repr__(self) -> str:
        return f"FileSource({self.name!r}, shape={self.grid.shape}, count={self.count})"

    # A source travels to other processes (Dask workers) as its description; each
    # process, and each thread in it, opens its own handle on first read.
    def __getstate__(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "_local"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)
        object.__setattr__(self, "_local", threading.local())


#: Reads of more bands than this first read one band, so that a damaged block fails fast.
_PROBE_BANDS = 64


def _band_list(bands: Sequence[int]) -> str:
    """``[1]`` -> ``'band 1'``; ``[1, 2, 3]`` -> ``'bands 1-3'``; ``[2, 7]`` -> ``'bands 2, 7'``."""
    if len(bands) == 1:
        return f"band {bands[0]}"
    if list(bands) == list(range(bands[0], bands[0] + len(bands))):
        return f"bands {bands[0]}-{bands[-1]}"
    shown = ", ".join(str(b) for b in bands[:8])
    return f"bands {shown}{' ...' if len(bands) > 8 else ''}"


def _gdal_message(exc: BaseException) -> str:
    """The informative messages of a rasterio error and the GDAL errors chained under it."""
    messages: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current).strip()
        if text and "See previous exception" not in text and text not in messages:
            messages.append(text)
        current = current.__cause__ or current.__context__
    return "; ".join(m.rstrip(".") for m in reversed(messages)) or type(exc).__name__


def _grid_of(ds: rasterio.io.DatasetReader, path: str) -> PixelGrid:
    """The pixel grid of an open raster; a clear error when it is not georeferenced by a transform."""
    identity = ds.transform == Affine.identity()
    if identity and (ds.gcps[0] or ds.rpcs is not None):
        raise RasterReadError(
            f"{path} is georeferenced by ground control points or RPCs, not by a geotransform, so its "
            "pixels do not lie on a regular grid. Warp it onto one first, for example "
            f"`gdalwarp {path} warped.tif`."
        )
    if identity or ds.crs is None:
        missing = " and ".join(
            what for what, absent in (("coordinate reference system", ds.crs is None), ("geotransform", identity))
            if absent
        )
        raise RasterReadError(
            f"{path} has no {missing}, so its pixels cannot be placed on the Earth. Assign "
            "georeferencing (for example `gdal_edit.py -a_srs EPSG:XXXX -a_ullr ...`) or build the image "
            "with Image.from_array(array, transform, crs)."
        )
    try:
        grid = PixelGrid(ds.crs, ds.transform, ds.shape)
        finite = all(np.isfinite(grid.bounds))
    except (GridError, CRSError) as exc:
        raise RasterReadError(f"{path} has unusable georeferencing: {exc}") from None
    if not finite:
        raise RasterReadError(
            f"{path} has unusable georeferencing: its geotransform {tuple(ds.transform)[:6]} puts the "
            "image at infinity. The header is probably corrupt."
        )
    return grid


def _check_not_truncated(ds: rasterio.io.DatasetReader, path: str) -> None:
    """Refuse a local GeoTIFF whose last block lies past the end of the file (an interrupted copy)."""
    if ds.driver != "GTiff" or not ds.block_shapes:
        return
    block_height, block_width = ds.block_shapes[0]
    x = -(-ds.width // block_width) - 1
    y = -(-ds.height // block_height) - 1
    try:
        size = os.path.getsize(path)
        ends = []
        pixel_interleaved = ds.interleaving is not None and ds.interleaving.name == "pixel"
        for band in range(1, 2 if pixel_interleaved else ds.count + 1):  # bands share blocks if interleaved
            offset = ds.get_tag_item(f"BLOCK_OFFSET_{x}_{y}", "TIFF", bidx=band)
            length = ds.get_tag_item(f"BLOCK_SIZE_{x}_{y}", "TIFF", bidx=band)
            if offset and length:  # sparse files have no offset for empty blocks
                ends.append(int(offset) + int(length))
    except (OSError, ValueError, RasterioError, CPLE_BaseError):  # cannot tell: let reads decide
        return
    if ends and max(ends) > size:
        raise RasterReadError(
            f"{path} is truncated: its data should end at byte {max(ends)} but the file has only {size} "
            "bytes (an interrupted download or copy?). Fetch or copy it again."
        )


def _is_local(path: str) -> bool:
    """True for a path on a local file system (not a URL or GDAL virtual path)."""
    return not is_remote(path)


def _read_window(ds: rasterio.io.DatasetReader, bidx: list[int], win: Window) -> np.ndarray:
    """Read bands ``bidx`` of a window; a damaged block fails on one band, not slowly on thousands."""
    if len(bidx) > _PROBE_BANDS:
        ds.read(bidx[:1], window=win)
    return ds.read(bidx, window=win)


def _open_dataset(path: str) -> rasterio.io.DatasetReader:
    """Open a raster with rasterio, turning GDAL's errors into clear ones."""
    local = _is_local(path)
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
                return rasterio.open(gdal_path(path))
    except (RasterioError, CPLE_BaseError, ValueError) as exc:  # ValueError: undecodable header text
        message = _gdal_message(exc)
        if local:
            raise RasterReadError(
                f"{path} is not a raster GDAL can read (corrupt, truncated or another kind of "
                f"file): {message}"
            ) from None
        raise RasterReadError(open_error_message(path, message)) from None


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


def match_bands(names: str | Iterable[str], band_names: Sequence[str]) -> list[int]:
    """Positions in ``band_names`` chosen by ``names``, in the order asked: Earth Engine's ``select`` rule.

    Each name is an exact band name or a regular expression matched against whole band
    names (``"B[2-4]"``); a pattern matching several bands gives them in band order.

    Examples
    --------
    >>> match_bands(["B8", "B[2-4]"], ["B2", "B3", "B4", "B8"])
    [3, 0, 1, 2]
    """
    patterns = [names] if isinstance(names, str) else list(names)
    chosen: list[int] = []
    for pattern in patterns:
        if pattern in band_names:
            chosen.append(list(band_names).index(pattern))
            continue
        try:
            regex = re.compile(pattern)
        except (re.error, TypeError):
            regex = None
        matches = [k for k, name in enumerate(band_names) if regex is not None and regex.fullmatch(name)]
        if not matches:
            raise BandError(f"unknown band {pattern!r}; this image has {list(band_names)}.")
        chosen.extend(matches)
    return chosen


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
        dupes = sorted(n for n, count in Counter(names).items() if count > 1)
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
    ) -> Image:
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
    ) -> Image:
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

    def select(self, names: str | Iterable[str]) -> Image:
        """A new image with only the named bands, in the given order.

        Each name may be an exact band name or a regular expression matched against the
        whole name (``"B[2-4]"``), as Earth Engine's ``select`` does.
        """
        chosen = [self._bands[k] for k in match_bands(names, self.band_names)]
        return Image(chosen, id=self.id, time=self.time, properties=self.properties)

    def rename(self, names: Sequence[str]) -> Image:
        """A new image whose bands carry ``names``."""
        names = list(names)
        if len(names) != len(self._bands):
            raise BandError(f"rename needs {len(self._bands)} names, got {len(names)}.")
        bands = [replace(b, name=n) for b, n in zip(self._bands, names)]
        return Image(bands, id=self.id, time=self.time, properties=self.properties)

    def set(self, **properties: Any) -> Image:
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

    def __enter__(self) -> Image:
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

    # -- operations as methods: each delegates to its function (imported lazily) -------

    def sample_regions(self, regions: Any, **options: Any) -> Any:
        """:func:`sampling.sample_regions` on this image."""
        from .sample_regions import sample_regions

        return sample_regions(self, regions, **options)

    def reduce_regions(self, regions: Any, **options: Any) -> Any:
        """:func:`sampling.reduce_regions` on this image."""
        from .reduce import reduce_regions

        return reduce_regions(self, regions, **options)

    def sampleRegions(self, *args: Any, **kwargs: Any) -> Any:
        """Earth Engine's ``sampleRegions``: :func:`sampling.ee.sampleRegions` on this image."""
        from .ee import sampleRegions

        return sampleRegions(self, *args, **kwargs)

    def reduceRegions(self, *args: Any, **kwargs: Any) -> Any:
        """Earth Engine's ``reduceRegions``: :func:`sampling.ee.reduceRegions` on this image."""
        from .ee import reduceRegions

        return reduceRegions(self, *args, **kwargs)

    def sample(self, *args: Any, **kwargs: Any) -> Any:
        """Earth Engine's ``sample``: :func:`sampling.ee.sample` on this image."""
        from .ee import sample

        return sample(self, *args, **kwargs)

    def stratifiedSample(self, *args: Any, **kwargs: Any) -> Any:
        """Earth Engine's ``stratifiedSample``: :func:`sampling.ee.stratifiedSample` on this image."""
        from .ee import stratifiedSample

        return stratifiedSample(self, *args, **kwargs)


def as_image(image: Image | PathLike | Sequence[PathLike]) -> Image:
    """Accept an :class:`Image`, a path or a list of paths, and return an :class:`Image`."""
    if isinstance(image, Image):
        return image
    return Image.open(image)
