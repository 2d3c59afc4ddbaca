"""Image collections: ordered images with ids and start times, filtered lazily.

:class:`ImageCollection` is Earth Engine's ``ImageCollection`` for local and remote
rasters: an ordered list of images, each with an id and a start time, built from
:class:`~sampling.Image` objects, raster files, STAC items or a catalogue table, and
narrowed with ``filter_bounds``, ``filter_date``, ``select``, ``sort`` and ``limit``.

Filters answer from the catalogue's metadata (ids, times, footprints, band names)
whenever it has them, so filtering a STAC catalogue of a thousand items opens no
file; files are opened (headers only) when metadata cannot answer, and pixels are
read only by operations such as :func:`~sampling.get_region`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from .catalogue import (
    CatalogueEntry,
    TimePattern,
    entries_from_files,
    entries_from_stac,
    entries_from_table,
    is_missing,
)
from .errors import CollectionError, PropertyError
from .grid import PixelGrid
from .image import Image, PathLike, to_millis
from .regions import as_regions, to_working_crs, validate_regions

__all__ = ["ImageCollection", "as_collection"]

#: The grid whose CRS catalogue footprints are in; its pixel size (metres) is the step
#: at which a query geometry's edges are densified before reprojection.
_FOOTPRINT_GRID = PixelGrid.from_projection("EPSG:4326", scale=1000.0)

_TIME_KEYS = ("time", "system:time_start")
_ID_KEYS = ("id", "system:index")


class ImageCollection:
    """An ordered collection of images, each with an id and a start time.

    Parameters
    ----------
    images
        :class:`~sampling.Image` objects, in order. An image without an id gets its
        position (``"0"``, ``"1"``...) as id, as in Earth Engine.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> from sampling import Image, ImageCollection
    >>> images = [Image.from_array(np.full((2, 2), k, "uint8"), Affine(10, 0, 0, 0, -10, 20), 32618,
    ...                            bands=["red"], id=f"d{k}", time=f"2020-0{k}-01") for k in (3, 1, 2)]
    >>> col = ImageCollection(images)
    >>> len(col), col.ids
    (3, ['d3', 'd1', 'd2'])
    >>> col.sort("time").ids
    ['d1', 'd2', 'd3']
    >>> col.filter_date("2020-01-01", "2020-03-01").ids
    ['d1', 'd2']
    """

    def __init__(self, images: Iterable[Image] = ()) -> None:
        entries = []
        for k, image in enumerate(images):
            if not isinstance(image, Image):
                raise CollectionError(
                    f"ImageCollection takes Images; item {k} is a {type(image).__name__}. Use "
                    "ImageCollection.from_files(...) for paths."
                )
            entries.append(CatalogueEntry.of_image(image, id=image.id if image.id is not None else str(k)))
        self._entries: tuple[CatalogueEntry, ...] = tuple(entries)

    @classmethod
    def from_entries(cls, entries: Iterable[CatalogueEntry]) -> ImageCollection:
        """A collection of catalogue entries (see :mod:`sampling.catalogue`)."""
        collection = cls.__new__(cls)
        collection._entries = tuple(entries)
        return collection

    # -- constructors ---------------------------------------------------------------------

    @classmethod
    def from_files(
        cls,
        paths_or_glob: str | PathLike | Iterable[PathLike | Sequence[PathLike]],
        *,
        ids: Sequence[str] | None = None,
        times: Sequence[Any] | None = None,
        time_pattern: str | TimePattern | None = None,
        bands: Sequence[str] | None = None,
    ) -> ImageCollection:
        """A collection of raster files, one image per file, in (sorted glob) order.

        Parameters
        ----------
        paths_or_glob
            A glob (``"scenes/*.tif"``, sorted), a directory (its rasters), or a list
            whose items are paths or lists of single-band paths forming one image.
        ids
            One id per image; by default the file names without extension.
        times
            One start time per image (datetimes, ISO strings or milliseconds).
        time_pattern
            Read each start time from the file name: a strftime pattern such as
            ``"%Y%m%d"`` or a regular expression with a named group such as
            ``r"_(?P<date>\\d{8})_"`` (see :class:`~sampling.catalogue.TimePattern`).
            Without ``times`` or ``time_pattern`` the time comes from the files' GeoTIFF
            date tags (``ACQUISITIONDATETIME``, ``TIFFTAG_DATETIME``...), or is None.
        bands
            Band names, one per band of each image; by default as :meth:`Image.open`
            names them.

        No file is opened here: a file is opened when something needs it.
        """
        return cls.from_entries(entries_from_files(paths_or_glob, ids=ids, times=times, time_pattern=time_pattern,
                                                   bands=bands))

    @classmethod
    def from_stac(cls, items: Any, *, assets: str | Sequence[str] | None = None) -> ImageCollection:
        """A collection of STAC items: each item one image, each chosen asset its band(s).

        Parameters
        ----------
        items
            A STAC ItemCollection or Item: the path of a JSON file, a parsed dict, a
            ``pystac.ItemCollection``, a ``pystac.Item`` or a list of items. Relative
            asset hrefs are relative to the JSON file.
        assets
            The asset keys to use as bands, in order (a one-band asset is named by its
            key; a multi-band asset by its ``eo:bands`` names, else ``key_1``...). By
            default the assets with role ``data`` or a GeoTIFF/JPEG 2000 media type.

        The id is the item's ``id``, the start time its ``datetime`` (or
        ``start_datetime``), the footprint its ``geometry``; item properties are kept.
        """
        return cls.from_entries(entries_from_stac(items, assets=assets))

    @classmethod
    def from_table(
        cls,
        table: Any,
        *,
        id_column: str | None = None,
        time_column: str | None = None,
        band_columns: Sequence[str] | Mapping[str, str] | None = None,
    ) -> ImageCollection:
        """A collection from a table with one row per image and one path column per band.

        Parameters
        ----------
        table
            A pandas DataFrame, a GeoDataFrame (its geometries are the footprints), or
            a ``.parquet``/``.csv`` file, whose relative paths are relative to the file.
        id_column
            The ids; by default the column ``id``, else the row labels.
        time_column
            The start times; by default the column ``time`` or ``datetime``, else none.
        band_columns
            The columns of file paths, each naming its band, or a mapping
            ``{band name: column}``. By default the text columns whose values all end
            in a raster extension (``.tif``, ``.tiff``, ``.vrt``, ``.jp2``...).

        The other columns become each image's properties.
        """
        return cls.from_entries(entries_from_table(table, id_column=id_column, time_column=time_column,
                                                   band_columns=band_columns))

    @classmethod
    def open(
        cls,
        source: Any,
        *,
        bands: Sequence[str] | None = None,
        time_pattern: str | None = None,
    ) -> ImageCollection:
        """A collection from a glob, a STAC JSON file or a catalogue table, by what ``source`` is.

        ``.json``/``.geojson`` files are STAC (``bands`` picks asset keys), ``.parquet``
        and ``.csv`` files are catalogue tables (``bands`` picks band columns); anything
        else is a raster path, directory or glob (``bands`` names the bands).
        """
        if isinstance(source, ImageCollection):
            return source
        if isinstance(source, (str, os.PathLike)):
            suffix = Path(os.fspath(source)).suffix.lower()
            kind = {".json": "STAC", ".geojson": "STAC", ".parquet": "table", ".geoparquet": "table",
                    ".csv": "table"}.get(suffix)
            if kind is not None and time_pattern is not None:
                raise CollectionError(f"time_pattern reads times from raster file names; a {kind} source has its own.")
            if kind == "STAC":
                return cls.from_stac(source, assets=bands)
            if kind == "table":
                return cls.from_table(source, band_columns=bands)
        return cls.from_files(source, bands=bands, time_pattern=time_pattern)

    # -- description ----------------------------------------------------------------------

    @property
    def entries(self) -> tuple[CatalogueEntry, ...]:
        """The catalogue entries behind the images, in order."""
        return self._entries

    @property
    def ids(self) -> list[str]:
        """The image ids, in order (Earth Engine's ``system:index``)."""
        return [e.id for e in self._entries]

    @property
    def times(self) -> list[int | None]:
        """The start times in milliseconds since the epoch (UTC), None where unknown."""
        return [e.time for e in self._entries]

    @property
    def band_names(self) -> list[str]:
        """The first image's band names."""
        first = self._first_entry()
        names = first.band_names
        return names if names is not None else first.open().band_names

    def size(self) -> int:
        """The number of images (Earth Engine's ``size``)."""
        return len(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Image]:
        for entry in self._entries:
            yield entry.open()

    def __getitem__(self, key: int | slice) -> Image | ImageCollection:
        if isinstance(key, slice):
            return self.from_entries(self._entries[key])
        return self._entries[key].open()

    def __repr__(self) -> str:
        shown = ", ".join(repr(i) for i in self.ids[:3]) + (", ..." if len(self) > 3 else "")
        return f"ImageCollection({len(self)} images: [{shown}])"

    # -- Earth Engine's methods -----------------------------------------------------------

    def first(self) -> Image:
        """The first image (Earth Engine's ``first``)."""
        return self._first_entry().open()

    def _first_entry(self) -> CatalogueEntry:
        if not self._entries:
            raise CollectionError("the collection is empty: a filter removed every image, or none was given.")
        return self._entries[0]

    def limit(self, n: int, *, key: str | None = None, ascending: bool = True) -> ImageCollection:
        """The first ``n`` images, after sorting by ``key`` when one is given."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise CollectionError(f"limit needs a whole number of images >= 0, got {n!r}.")
        source = self.sort(key, ascending=ascending) if key is not None else self
        return self.from_entries(source._entries[: int(n)])

    def select(self, bands: str | Iterable[str]) -> ImageCollection:
        """Keep only some bands of every image: names or regular expressions (``"B[2-4]"``).

        Band names the catalogue already knows are checked now (and files holding no
        selected band are never opened); otherwise when an image is opened.
        """
        return self.from_entries(e.select(bands) for e in self._entries)

    def filter_date(self, start: Any, end: Any = None) -> ImageCollection:
        """The images whose start time is in ``[start, end)``; images without a time are dropped.

        ``start`` and ``end`` are datetimes, dates, ISO strings (UTC unless they say
        otherwise) or milliseconds. Without ``end`` the window is one millisecond
        long, as in Earth Engine.
        """
        try:
            lo = to_millis(start)
            hi = to_millis(end) if end is not None else None
        except (TypeError, ValueError) as exc:
            raise CollectionError(f"filter_date: {exc}") from None
        if lo is None:
            raise CollectionError("filter_date needs a start time.")
        hi = lo + 1 if hi is None else hi
        keep = [e for e in self._entries if e.time is not None and lo <= e.time < hi]
        return self.from_entries(keep)

    def filter_bounds(self, geometry: Any) -> ImageCollection:
        """The images whose footprint intersects ``geometry``.

        ``geometry`` is a shapely geometry or GeoJSON mapping in EPSG:4326, or a
        GeoSeries/GeoDataFrame with a CRS (the union of its geometries is used). A
        footprint from the catalogue (STAC geometry, table geometry) is used without
        opening files; otherwise the image's first band's extent is.
        """
        frame = validate_regions(as_regions(geometry, default_crs="EPSG:4326", what="geometry"), what="geometry")
        queries: dict[Any, Any] = {}

        def query(grid: PixelGrid) -> Any:
            key = grid.crs.to_wkt()
            if key not in queries:
                queries[key] = shapely.union_all(to_working_crs(frame, grid, what="geometry"))
                shapely.prepare(queries[key])
            return queries[key]

        keep = []
        for entry in self._entries:
            if entry.footprint is not None:
                hit = query(_FOOTPRINT_GRID).intersects(entry.footprint)
            else:
                grid = entry.open().grid
                hit = query(grid).intersects(shapely.box(*grid.bounds))
            if hit:
                keep.append(entry)
        return self.from_entries(keep)

    def sort(self, key: str = "time", *, ascending: bool = True) -> ImageCollection:
        """The images sorted by ``key``: ``"time"``, ``"id"`` or a property name.

        Earth Engine's names ``system:time_start`` and ``system:index`` work too. The
        sort is stable; images without a value for ``key`` go last.
        """
        values = [self._value(e, key) for e in self._entries]
        if self._entries and all(v is None for v in values) and key not in _TIME_KEYS:
            known = sorted({k for e in self._entries for k in e.properties})
            raise PropertyError(f"no image has a property {key!r}; sort by 'time', 'id' or one of {known}.")
        present = [(v, e) for v, e in zip(values, self._entries, strict=True) if v is not None]
        missing = [e for v, e in zip(values, self._entries, strict=True) if v is None]
        try:
            ordered = sorted(present, key=lambda pair: pair[0], reverse=not ascending)
        except TypeError:
            kinds = sorted({type(v).__name__ for v, _ in present})
            raise PropertyError(f"cannot sort by {key!r}: its values mix {kinds}.") from None
        return self.from_entries([e for _, e in ordered] + missing)

    @staticmethod
    def _value(entry: CatalogueEntry, key: str) -> Any:
        if key in _TIME_KEYS:
            return entry.time
        if key in _ID_KEYS:
            return entry.id
        value = entry.properties.get(key)
        return None if value is None or is_missing(value) else value

    # -- operations as methods: each delegates to its function (imported lazily) ------------

    def get_region(self, geometry: Any, **options: Any) -> Any:
        """:func:`sampling.get_region` on this collection."""
        from .get_region import get_region

        return get_region(self, geometry, **options)

    def getRegion(self, *args: Any, **kwargs: Any) -> Any:
        """Earth Engine's ``getRegion``: :func:`sampling.ee.getRegion` on this collection."""
        from .ee import getRegion

        return getRegion(self, *args, **kwargs)


def as_collection(value: Any) -> ImageCollection:
    """Accept an :class:`ImageCollection`, an :class:`~sampling.Image` or a list of Images."""
    if isinstance(value, ImageCollection):
        return value
    if isinstance(value, Image):
        return ImageCollection([value])
    if isinstance(value, (str, os.PathLike)):
        return ImageCollection.open(value)
    if isinstance(value, Iterable):
        return ImageCollection(value)
    raise CollectionError(f"expected an ImageCollection, an Image or a list of Images, got {type(value).__name__}.")
