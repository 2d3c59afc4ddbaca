"""Catalogue entries: images described by metadata and opened only when needed.

An :class:`~sampling.ImageCollection` holds one :class:`CatalogueEntry` per image.
An entry knows what its catalogue says -- id, start time, footprint, band files and
properties -- and opens its files (headers only; pixels are read later by the engine)
the first time it is asked something its metadata cannot answer. Entries come from

* raster files or a glob (:func:`entries_from_files`), with times given, parsed from
  the file names by a pattern (:class:`TimePattern`) or read from GeoTIFF date tags;
* STAC items (:func:`entries_from_stac`): one or more bands per chosen asset,
  ``datetime`` as the start time and the item's geometry as the footprint;
* a table with one row per image and one path column per band
  (:func:`entries_from_table`).
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from .errors import BandError, CollectionError, CRSError, SamplingError
from .image import Band, Image, PathLike, match_bands, to_millis

__all__ = [
    "CatalogueEntry",
    "BandFiles",
    "TimePattern",
    "entries_from_files",
    "entries_from_stac",
    "entries_from_table",
    "time_from_tags",
    "RASTER_SUFFIXES",
    "TIME_TAGS",
]

#: File name endings taken for rasters when a table's band columns are guessed.
RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".jp2", ".img", ".nc", ".hdf", ".h5")

#: GeoTIFF metadata tags read, in this order, for an image's start time. Acquisition
#: tags come first; ``TIFFTAG_DATETIME`` ("YYYY:MM:DD HH:MM:SS") is often the time the
#: file was written, so it is used only when no acquisition tag is present.
TIME_TAGS = (
    "ACQUISITIONDATETIME",
    "ACQUISITION_DATETIME",
    "ACQUISITION_DATE",
    "DATE_ACQUIRED",
    "SENSING_TIME",
    "DATETIME",
    "TIFFTAG_DATETIME",
)


class _Unknown:
    """The start time of an entry whose files have not been opened yet."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


# -- times ------------------------------------------------------------------------------


def _parse_time_text(text: str) -> int:
    """Milliseconds from a date written as digits (``20200518``, ``2020138``) or ISO 8601."""
    compact = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S", 7: "%Y%j"}
    if text.isdigit() and len(text) in compact:
        return to_millis(dt.datetime.strptime(text, compact[len(text)]))  # type: ignore[return-value]
    if re.fullmatch(r"\d{4}:\d{2}:\d{2}[ T]\d{2}:\d{2}:\d{2}", text):  # TIFF's "YYYY:MM:DD HH:MM:SS"
        return to_millis(dt.datetime.strptime(text.replace("T", " "), "%Y:%m:%d %H:%M:%S"))  # type: ignore[return-value]
    value = to_millis(text)
    if value is None:
        raise ValueError(f"{text!r} is not a time")
    return value


def time_from_tags(tags: Mapping[str, str]) -> int | None:
    """An image's start time from its GeoTIFF metadata tags, or None.

    The first tag of :data:`TIME_TAGS` that holds a readable time wins.

    Examples
    --------
    >>> time_from_tags({"TIFFTAG_DATETIME": "2020:05:18 13:45:00"})
    1589809500000
    >>> time_from_tags({"AREA_OR_POINT": "Area"}) is None
    True
    """
    for key in TIME_TAGS:
        text = tags.get(key)
        if not text:
            continue
        try:
            return _parse_time_text(str(text).strip())
        except ValueError:
            continue
    return None


#: strftime directives a time pattern may use, and the text each matches.
_DIRECTIVES = {
    "Y": r"\d{4}",
    "y": r"\d{2}",
    "m": r"\d{2}",
    "d": r"\d{2}",
    "j": r"\d{3}",
    "H": r"\d{2}",
    "M": r"\d{2}",
    "S": r"\d{2}",
    "b": r"[A-Za-z]{3}",
    "B": r"[A-Za-z]+",
    "%": "%",
}


@dataclass(frozen=True)
class TimePattern:
    """How to read an image's start time from its file name.

    Either a strftime pattern (``"%Y%m%d"``, ``"%Y-%m-%d"``, ``"%Y%j"``) searched for in
    the file name, or a regular expression with named groups: one group (preferably
    named ``time`` or ``date``) capturing a date such as ``20200518`` or
    ``2020-05-18T10:30``, or groups ``year``, ``month``, ``day`` (or ``year`` and
    ``doy``), and optionally ``hour``, ``minute``, ``second``. The file name is searched
    first, then its parent directories, nearest first. Times are UTC.

    Examples
    --------
    >>> TimePattern.parse("%Y%m%d").time_of("LC08_224078_20200518_B4.tif")
    1589760000000
    >>> TimePattern.parse(r"_(?P<year>\\d{4})(?P<doy>\\d{3})_").time_of("S_2020139_x.tif")
    1589760000000
    """

    text: str
    regex: re.Pattern
    strftime: str | None

    @classmethod
    def parse(cls, pattern: str | TimePattern) -> TimePattern:
        """Check a pattern and compile it; a bad pattern raises :class:`CollectionError`."""
        if isinstance(pattern, TimePattern):
            return pattern
        if not isinstance(pattern, str) or not pattern:
            raise CollectionError(f"time_pattern must be a non-empty string, got {pattern!r}.")
        if "%" in pattern and "(?P<" not in pattern:
            return cls(pattern, re.compile(_strftime_regex(pattern)), pattern)
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise CollectionError(f"time_pattern {pattern!r} is not a valid regular expression: {exc}.") from None
        if not regex.groupindex:
            raise CollectionError(
                f"time_pattern {pattern!r} has no strftime directive and no named group: write "
                "a strftime pattern such as '%Y%m%d', or a regular expression with a named group "
                "such as r'_(?P<date>\\d{8})_'."
            )
        return cls(pattern, regex, None)

    def time_of(self, path: str) -> int:
        """The start time (milliseconds, UTC) read from ``path``."""
        text = os.fspath(path).split("?")[0].replace("\\", "/")
        parts = [p for p in reversed(PurePosixPath(text).parts) if p not in ("/", "")]
        for part in parts:
            match = self.regex.search(part)
            if match is not None:
                return self._time_of_match(match, path)
        raise CollectionError(
            f"time_pattern {self.text!r} matches nothing in {path!r}: check the pattern against the "
            "file names, or give the times explicitly with times=[...]."
        )

    def _time_of_match(self, match: re.Match, path: str) -> int:
        try:
            if self.strftime is not None:
                return to_millis(dt.datetime.strptime(match.group(0), self.strftime))  # type: ignore[return-value]
            groups = {k: v for k, v in match.groupdict().items() if v is not None}
            if "year" in groups:
                year = int(groups["year"])
                if "doy" in groups:
                    day = dt.datetime(year, 1, 1) + dt.timedelta(days=int(groups["doy"]) - 1)
                else:
                    day = dt.datetime(year, int(groups.get("month", 1)), int(groups.get("day", 1)))
                when = day.replace(
                    hour=int(groups.get("hour", 0)), minute=int(groups.get("minute", 0)),
                    second=int(groups.get("second", 0)),
                )
                return to_millis(when)  # type: ignore[return-value]
            name = next((k for k in ("time", "date", "datetime") if k in groups), None)
            name = name or next(k for k in self.regex.groupindex if k in groups)
            return _parse_time_text(groups[name])
        except (ValueError, StopIteration) as exc:
            raise CollectionError(
                f"time_pattern {self.text!r} found {match.group(0)!r} in {path!r}, which is not a "
                f"valid date ({exc}). Fix the pattern or give the times with times=[...]."
            ) from None


def _strftime_regex(pattern: str) -> str:
    out = []
    k = 0
    while k < len(pattern):
        char = pattern[k]
        if char != "%":
            out.append(re.escape(char))
            k += 1
            continue
        directive = pattern[k + 1 : k + 2]
        if directive not in _DIRECTIVES:
            raise CollectionError(
                f"time_pattern {pattern!r} uses %{directive}, which cannot be read from file names; "
                f"use %{', %'.join(d for d in _DIRECTIVES if d != '%')}."
            )
        out.append(_DIRECTIVES[directive])
        k += 2
    return "".join(out)


# -- entries --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BandFiles:
    """Files opened together as some of an image's bands.

    ``names`` are the band names when the catalogue knows them; otherwise the file
    names them (:meth:`Image.open`'s rule) or, for a STAC asset, ``key`` does (``key``
    for one band, ``key_1``, ``key_2``... for several).
    """

    paths: tuple[str, ...]
    names: tuple[str, ...] | None = None
    key: str | None = None

    def open(self) -> list[Band]:
        paths = self.paths[0] if len(self.paths) == 1 else list(self.paths)
        image = Image.open(paths)
        if self.names is not None:
            if len(image) != len(self.names):
                raise BandError(
                    f"{', '.join(self.paths)} has {len(image)} bands but {len(self.names)} band names "
                    f"were given ({list(self.names)}): give one name per band (a catalogue table needs "
                    "one single-band file per band column)."
                )
            image = image.rename(self.names)
        elif self.key is not None:
            names = [self.key] if len(image) == 1 else [f"{self.key}_{k + 1}" for k in range(len(image))]
            image = image.rename(names)
        return list(image.bands)


class CatalogueEntry:
    """One image of a collection: its metadata now, its files when needed.

    Parameters
    ----------
    id
        The image id (Earth Engine's ``system:index``).
    time
        Start time in milliseconds (UTC), None when the image has none, or
        :data:`UNKNOWN` when only the files' tags can say (they are read on opening).
    files
        The band files, opened in order by :meth:`open`.
    image
        An image that is already open (instead of ``files``).
    footprint
        The image's footprint as a shapely geometry in EPSG:4326, if the catalogue
        gives one; otherwise the first band's grid is used (which opens the files).
    properties
        Other metadata (STAC item properties, table columns).
    """

    def __init__(
        self,
        id: str,
        *,
        time: Any = UNKNOWN,
        files: Sequence[BandFiles] = (),
        image: Image | None = None,
        footprint: Any = None,
        properties: Mapping[str, Any] | None = None,
        selection: tuple[tuple[str, ...], ...] = (),
    ) -> None:
        if image is None and not files:
            raise CollectionError(f"image {id!r} has neither files nor an opened image.")
        self.id = str(id)
        self._time = time
        self.files = tuple(files)
        self._source = image
        self.footprint = footprint
        self.properties = dict(properties or {})
        self._selection = selection
        self._image: Image | None = None
        _ = self.band_names  # checks the selection now when the names are known

    @classmethod
    def of_image(cls, image: Image, *, id: str) -> CatalogueEntry:
        """An entry for an image that is already open (given ``id`` if it has none)."""
        if image.id != id:
            image = image.set(id=id)
        return cls(id, time=image.time, image=image, properties=image.properties)

    # -- metadata -----------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """Whether the entry's files have been opened."""
        return self._image is not None or (self._source is not None and not self._selection)

    @property
    def time(self) -> int | None:
        """Start time in milliseconds since the epoch, UTC, or None (opens files if needed)."""
        if self._time is UNKNOWN:
            self._time = self.open().time
        return self._time

    @property
    def band_names(self) -> list[str] | None:
        """The band names when known without opening any file, else None."""
        if self._source is not None:
            names = self._source.band_names
        elif all(f.names is not None for f in self.files):
            names = [n for f in self.files for n in f.names]  # type: ignore[union-attr]
        else:
            return None
        for patterns in self._selection:
            try:
                names = [names[k] for k in match_bands(patterns, names)]
            except BandError as exc:
                raise BandError(f"image {self.id!r}: {exc}") from None
        return names

    def select(self, names: str | Iterable[str]) -> CatalogueEntry:
        """The same image with only the bands ``names`` selects (names or regular expressions)."""
        patterns = (names,) if isinstance(names, str) else tuple(names)
        return CatalogueEntry(
            self.id, time=self._time, files=self.files, image=self._source, footprint=self.footprint,
            properties=self.properties, selection=(*self._selection, patterns),
        )

    # -- opening ------------------------------------------------------------------------

    def open(self) -> Image:
        """The image, opening its files (headers only) the first time."""
        if self._image is None:
            try:
                self._image = self._open()
            except SamplingError as exc:
                if str(exc).startswith(f"image {self.id!r}"):
                    raise
                raise type(exc)(f"image {self.id!r}: {exc}") from None
            if self._time is UNKNOWN:
                self._time = self._image.time
        return self._image

    def _open(self) -> Image:
        wanted = self.band_names
        if self._source is not None:
            return self._source if wanted == self._source.band_names else self._source.select(wanted)
        chosen = set(wanted) if wanted is not None else None
        groups = [f for f in self.files if chosen is None or chosen & set(f.names or ())]
        bands = [b for group in groups for b in group.open()]
        if self._time is UNKNOWN:
            tags = getattr(bands[0].source, "tags", {})
            time = time_from_tags(tags)
        else:
            time = self._time
        image = Image(bands, id=self.id, time=time, properties=self.properties)
        if wanted is not None:
            return image.select(wanted) if image.band_names != wanted else image
        for patterns in self._selection:
            image = image.select(patterns)
        return image

    def __repr__(self) -> str:
        state = "open" if self.is_open else "not opened"
        return f"CatalogueEntry(id={self.id!r}, time={self._time!r}, {state})"


# -- files ------------------------------------------------------------------------------------

_GLOB_CHARS = re.compile(r"[*?\[]")


def _expand(paths_or_glob: Any) -> list[tuple[str, ...]]:
    """One tuple of paths per image from a glob, a directory, a path or a list."""
    if isinstance(paths_or_glob, (str, os.PathLike)):
        text = os.path.expanduser(os.fspath(paths_or_glob))
        if _GLOB_CHARS.search(text) and "://" not in text:
            found = sorted(glob.glob(text, recursive=True))
            if not found:
                raise CollectionError(f"no file matches {text!r}: check the pattern and the directory.")
            return [(p,) for p in found]
        if Path(text).is_dir():
            found = sorted(str(p) for p in Path(text).iterdir() if p.suffix.lower() in RASTER_SUFFIXES)
            if not found:
                raise CollectionError(f"the directory {text} holds no raster file ({', '.join(RASTER_SUFFIXES)}).")
            return [(p,) for p in found]
        return [(text,)]
    images = []
    for item in paths_or_glob:
        if isinstance(item, (str, os.PathLike)):
            images.append((os.fspath(item),))
        else:
            group = tuple(os.fspath(p) for p in item)
            if not group:
                raise CollectionError("an image was given as an empty list of files.")
            images.append(group)
    return images


def _stem(path: str) -> str:
    return PurePosixPath(path.split("?")[0].replace("\\", "/")).name.split(".")[0]


def default_ids(paths: Sequence[str]) -> list[str]:
    """Image ids from file paths: the file names without extension, or, where two are
    equal, the paths relative to their common directory.

    Examples
    --------
    >>> default_ids(["a/2020/B4.tif", "a/2021/B4.tif"])
    ['2020/B4', '2021/B4']
    """
    stems = [_stem(p) for p in paths]
    if len(set(stems)) == len(stems):
        return stems
    posix = [p.split("?")[0].replace("\\", "/") for p in paths]
    if len(set(posix)) != len(posix):
        dupes = sorted({p for p in paths if paths.count(p) > 1})
        raise CollectionError(f"files {dupes} are listed more than once: give each image once, or ids=[...].")
    common = os.path.commonpath(posix)
    return [str(PurePosixPath(os.path.relpath(p, common)).with_suffix("")) for p in posix]


def _check_length(values: Sequence[Any] | None, n: int, what: str) -> list[Any] | None:
    if values is None:
        return None
    values = [values] if isinstance(values, str) else list(values)
    if len(values) != n:
        raise CollectionError(f"{what}= has {len(values)} values for {n} images: give one per image.")
    return values


def entries_from_files(
    paths_or_glob: Any,
    *,
    ids: Sequence[str] | None = None,
    times: Sequence[Any] | None = None,
    time_pattern: str | TimePattern | None = None,
    bands: Sequence[str] | None = None,
) -> list[CatalogueEntry]:
    """Entries for raster files: one image per path (or per list of single-band paths).

    Nothing is opened here. Without ``times`` or ``time_pattern``, an image's time
    comes from its GeoTIFF date tags (:data:`TIME_TAGS`) when it is opened.
    """
    images = _expand(paths_or_glob)
    if not images:
        raise CollectionError("no raster files were given: the collection would be empty.")
    if times is not None and time_pattern is not None:
        raise CollectionError("give either times=[...] or time_pattern=..., not both.")
    ids = _check_length(ids, len(images), "ids") or default_ids([group[0] for group in images])
    given = _check_length(times, len(images), "times")
    if given is not None:
        try:
            times_ms = [to_millis(t) for t in given]
        except (TypeError, ValueError) as exc:
            raise CollectionError(f"times=: {exc}") from None
    elif time_pattern is not None:
        pattern = TimePattern.parse(time_pattern)
        times_ms = [pattern.time_of(group[0]) for group in images]
    else:
        times_ms = [UNKNOWN] * len(images)
    names = None if bands is None else tuple([bands] if isinstance(bands, str) else bands)
    return [
        CatalogueEntry(str(i), time=t, files=[BandFiles(group, names)], properties={"path": group[0]})
        for i, t, group in zip(ids, times_ms, images, strict=True)
    ]


# -- STAC ---------------------------------------------------------------------------------------


def _resolve(href: str, base: str | None) -> str:
    if href.startswith("file://"):
        return href[len("file://"):]
    if "://" in href or href.startswith("/vsi") or os.path.isabs(href) or base is None:
        return href
    if "://" in base:
        return base.rstrip("/") + "/" + href
    return os.path.normpath(os.path.join(base, href))


def _stac_items(source: Any) -> list[tuple[dict, str | None]]:
    """``(item dict, directory that relative hrefs are relative to)`` for each STAC item."""
    base = None
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise CollectionError(f"STAC file {path} does not exist. Check the path.")
        try:
            source = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CollectionError(f"{path} is not a STAC JSON file: {exc}") from None
        base = str(path.resolve().parent)
    if hasattr(source, "items") and hasattr(source, "to_dict") and not isinstance(source, Mapping):
        source = list(source.items)  # a pystac ItemCollection
    if hasattr(source, "to_dict") and hasattr(source, "assets"):
        source = [source]  # a pystac Item
    if isinstance(source, Mapping):
        kind = source.get("type")
        if kind == "FeatureCollection":
            items = list(source.get("features") or [])
        elif kind == "Feature":
            items = [source]
        else:
            raise CollectionError(
                f"a STAC source must be an ItemCollection (type 'FeatureCollection') or an Item "
                f"(type 'Feature'), got type {kind!r}."
            )
        return [(dict(item), base) for item in items]
    out = []
    for item in source:
        if isinstance(item, Mapping):
            out.append((dict(item), base))
            continue
        data = item.to_dict(include_self_link=False, transform_hrefs=False)
        for key, asset in item.assets.items():  # pystac knows where relative hrefs point
            absolute = asset.get_absolute_href()
            if absolute:
                data["assets"][key]["href"] = absolute
        out.append((data, None))
    return out


def _is_data_asset(asset: Mapping) -> bool:
    roles = asset.get("roles") or []
    media = str(asset.get("type") or "").lower()
    return "data" in roles or "tiff" in media or "jp2" in media


def _asset_band_names(key: str, asset: Mapping) -> tuple[str, ...] | None:
    described = asset.get("eo:bands") or asset.get("bands") or asset.get("raster:bands") or []
    if len(described) == 1:
        return (key,)
    if len(described) > 1:
        names = [b.get("name") if isinstance(b, Mapping) else None for b in described]
        if all(names) and len(set(names)) == len(names):
            return tuple(str(n) for n in names)
        return tuple(f"{key}_{k + 1}" for k in range(len(described)))
    return None


def entries_from_stac(source: Any, *, assets: str | Sequence[str] | None = None) -> list[CatalogueEntry]:
    """Entries for STAC items: the chosen assets as bands, ``datetime`` as time.

    ``source`` is a STAC ItemCollection or Item as a JSON file path, a dict or a
    ``pystac`` object. Relative hrefs are relative to the JSON file. By default the
    assets whose role is ``data`` or whose media type is GeoTIFF or JPEG 2000 are used.
    """
    items = _stac_items(source)
    if not items:
        raise CollectionError("the STAC source holds no items: the collection would be empty.")
    chosen = None if assets is None else ([assets] if isinstance(assets, str) else list(assets))
    entries = []
    for item, base in items:
        item_id = item.get("id")
        if item_id is None:
            raise CollectionError("a STAC item has no 'id'.")
        available = dict(item.get("assets") or {})
        keys = chosen if chosen is not None else [k for k, a in available.items() if _is_data_asset(a)]
        if not keys:
            raise CollectionError(
                f"STAC item {item_id!r} has no data asset; choose the assets with assets=[...] "
                f"among {sorted(available)}."
            )
        missing = [k for k in keys if k not in available]
        if missing:
            raise CollectionError(
                f"STAC item {item_id!r} has no asset {missing}; it has {sorted(available)}."
            )
        files = [BandFiles((_resolve(str(available[k]["href"]), base),), _asset_band_names(k, available[k]), k)
                 for k in keys]
        properties = dict(item.get("properties") or {})
        when = properties.get("datetime") or properties.get("start_datetime")
        try:
            time = to_millis(when)
        except (TypeError, ValueError) as exc:
            raise CollectionError(f"STAC item {item_id!r}: its datetime {when!r} is not a time ({exc}).") from None
        entries.append(CatalogueEntry(str(item_id), time=time, files=files, footprint=_stac_footprint(item),
                                      properties=properties))
    return entries


def _stac_footprint(item: Mapping) -> Any:
    if item.get("geometry"):
        try:
            return shapely.geometry.shape(item["geometry"])
        except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.GEOSException) as exc:
            raise CollectionError(f"STAC item {item.get('id')!r} has an invalid geometry: {exc}") from None
    bbox = item.get("bbox")
    if bbox:
        n = len(bbox) // 2
        return shapely.box(bbox[0], bbox[1], bbox[n], bbox[n + 1])
    return None


# -- tables -------------------------------------------------------------------------------------


def _read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise CollectionError(f"catalogue table {path} does not exist. Check the path.")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".geoparquet"):
            try:
                return gpd.read_parquet(path)
            except ValueError:  # plain Parquet without geo metadata
                return pd.read_parquet(path)
        if suffix == ".csv":
            return pd.read_csv(path)
    except Exception as exc:
        raise CollectionError(f"cannot read catalogue table {path}: {exc}") from None
    raise CollectionError(f"cannot read a catalogue table from {path.name}: use .parquet or .csv.")


def _looks_like_rasters(column: pd.Series) -> bool:
    values = column.dropna()
    return len(values) > 0 and all(
        isinstance(v, str) and v.split("?")[0].lower().endswith(RASTER_SUFFIXES) for v in values
    )


def is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def entries_from_table(
    table: pd.DataFrame | PathLike,
    *,
    id_column: str | None = None,
    time_column: str | None = None,
    band_columns: Sequence[str] | Mapping[str, str] | None = None,
) -> list[CatalogueEntry]:
    """Entries for a table with one row per image and one path column per band.

    ``table`` is a (Geo)DataFrame or a ``.parquet``/``.csv`` file (relative paths in a
    file are relative to its directory). ``id_column`` defaults to ``id`` (else the
    row labels), ``time_column`` to ``time`` or ``datetime`` (else no times), and the
    band columns to the text columns whose every value ends in a raster extension;
    ``band_columns`` may map band names to columns. A GeoDataFrame's geometries are
    the footprints; the other columns become properties.
    """
    base = None
    if isinstance(table, (str, os.PathLike)):
        path = Path(table)
        frame = _read_table(path)
        base = str(path.resolve().parent)
    elif isinstance(table, pd.DataFrame):
        frame = table
    else:
        raise CollectionError(
            f"a catalogue table must be a DataFrame or a .parquet/.csv path, got {type(table).__name__}."
        )
    if len(frame) == 0:
        raise CollectionError("the catalogue table has no rows: the collection would be empty.")
    columns = list(frame.columns)
    geometry = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None

    def column(name: str | None, defaults: Sequence[str], what: str) -> str | None:
        if name is not None:
            if name not in columns:
                raise CollectionError(f"the catalogue has no {what} column {name!r}; it has {columns}.")
            return name
        return next((c for c in defaults if c in columns), None)

    id_col = column(id_column, ["id"], "id")
    time_col = column(time_column, ["time", "datetime"], "time")
    if band_columns is None:
        candidates = [c for c in columns if c not in (id_col, time_col, geometry)]
        mapping = {str(c): c for c in candidates if _looks_like_rasters(frame[c])}
        if not mapping:
            raise CollectionError(
                f"found no column of raster paths in the catalogue (columns {columns}); name them "
                "with band_columns=[...]."
            )
    elif isinstance(band_columns, Mapping):
        mapping = {str(k): v for k, v in band_columns.items()}
    else:
        mapping = {str(c): c for c in ([band_columns] if isinstance(band_columns, str) else band_columns)}
    unknown = [c for c in mapping.values() if c not in columns]
    if unknown:
        raise CollectionError(f"the catalogue has no band columns {unknown}; it has {columns}.")

    ids = frame[id_col].astype(str).tolist() if id_col is not None else [str(v) for v in frame.index]
    if time_col is not None:
        try:
            times = [None if is_missing(v) else to_millis(v) for v in frame[time_col]]
        except (TypeError, ValueError) as exc:
            raise CollectionError(f"the catalogue's {time_col!r} column: {exc}") from None
    else:
        times = [None] * len(frame)
    footprints = [None] * len(frame)
    if geometry is not None:
        if frame.crs is None:
            raise CRSError(
                "the catalogue's geometries have no CRS, so its footprints cannot be compared with "
                "regions. Set it with `table.set_crs('EPSG:XXXX')`."
            )
        footprints = list(frame.geometry.to_crs("EPSG:4326").values)
    used = {id_col, time_col, geometry, *mapping.values()}
    property_columns = [c for c in columns if c not in used]
    entries = []
    for k, row in enumerate(frame.itertuples(index=False, name=None)):
        values = dict(zip(columns, row, strict=True))
        files = []
        for band, col in mapping.items():
            href = values[col]
            if is_missing(href) or not str(href):
                raise CollectionError(f"image {ids[k]!r} has no file in band column {col!r}.")
            files.append(BandFiles((_resolve(str(href), base),), (band,)))
        entries.append(CatalogueEntry(
            ids[k], time=times[k], files=files, footprint=footprints[k],
            properties={c: values[c] for c in property_columns},
        ))
    return entries
