"""``get_region``: Earth Engine's ``ImageCollection.getRegion`` as a tidy pandas table.

One row per (selected pixel, image covering it) with columns ``id, longitude,
latitude, time`` and one column per band, as Earth Engine's list of lists has; see
``docs/get_region.md`` and ``DESIGN.md`` for the rules. :func:`to_wide` turns the
long table into one row per pixel and one column per (date, band).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from .collection import ImageCollection, as_collection
from .engine import PixelPlans, PixelValues, read_pixels_many
from .errors import BandError, CollectionError, FormatError, PropertyError, TooManyValuesError
from .grid import PixelGrid, working_grid
from .image import Image
from .memory import check_fits_in_memory
from .progress import Progress, progress_bar
from .regions import as_regions, choose_properties, to_working_crs, validate_regions
from .selection import Selection, estimate_pixels, iter_selections
from .table import band_column, check_column_names

__all__ = ["get_region", "empty_table", "to_wide", "DEFAULT_MAX_VALUES", "COLUMNS"]

#: Earth Engine's cap on ``getRegion``: selected pixels x bands x images.
DEFAULT_MAX_VALUES = 1_048_576

#: The columns Earth Engine's ``getRegion`` puts before the bands.
COLUMNS = ("id", "longitude", "latitude", "time")

_LONLAT = CRS.from_epsg(4326)


def get_region(
    collection: ImageCollection | Image | Sequence[Image],
    geometry: Any,
    *,
    scale: float | None = None,
    crs: Any = "EPSG:4326",
    crs_transform: Sequence[float] | None = None,
    max_values: int | None = DEFAULT_MAX_VALUES,
    properties: Sequence[str] | None = None,
    progress: bool = False,
    partitions: int | None = None,
    client: Any = None,
) -> pd.DataFrame:
    """The values of every image at every pixel of a geometry: Earth Engine's ``getRegion``.

    Parameters
    ----------
    collection
        An :class:`~sampling.ImageCollection`, one Image, a list of Images, or what
        :meth:`ImageCollection.open` accepts (a glob, a STAC JSON file, a catalogue
        table). Every image must have the same band names in the same order.
    geometry
        Where to read. A shapely geometry or a GeoJSON geometry/Feature (both in
        EPSG:4326, as in Earth Engine), or a GeoSeries/GeoDataFrame with a CRS. A
        GeoDataFrame (or GeoSeries, list or FeatureCollection) is read region by region:
        each row then starts with the region's label and properties.
    scale
        Working pixel size in metres. By default the nominal scale of the first
        image's first band (Earth Engine would use 1 degree).
    crs
        The working CRS; its origin is the grid's origin. Default EPSG:4326.
    crs_transform
        The working grid's affine transform, used verbatim; not with ``scale``.
    max_values
        The most values (pixels x bands x images) allowed, 1,048,576 as in Earth
        Engine; ``None`` lifts the limit.
    properties
        For a GeoDataFrame: the region columns to copy (all by default).
    progress
        If True, show a progress bar over the images read (needs tqdm).
    partitions, client
        Run on a Dask cluster (see :func:`sampling.cluster.get_region_dask`): a
        GeoDataFrame of regions is cut into ``partitions`` spatially compact partitions
        (by default 2 per worker thread of ``client``) and the result is a lazy Dask
        DataFrame. Regions that are already a dask-geopandas frame take this path too.
        The value limit cannot be checked before such a run: pass ``max_values=None``.

    Returns
    -------
    pandas.DataFrame
        Columns ``id, longitude, latitude, time, <bands>`` (after ``region`` and the
        properties for several regions). ``longitude``/``latitude`` are the centre of
        the working-grid pixel in degrees; ``time`` is the image start time in integer
        milliseconds since the epoch, UTC (``<NA>`` where unknown); a masked band is
        ``<NA>``. One row per pixel and image covering it with at least one unmasked
        band, pixel-major (pixels row-major, images in collection order).

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> from shapely import box
    >>> from sampling import Image, ImageCollection, get_region
    >>> s = 8.983152841195215e-05  # 10 m in degrees
    >>> images = [Image.from_array(np.full((4, 4), k, "uint8"), Affine(s, 0, 0, 0, -s, 4 * s), 4326,
    ...                            bands=["red"], id=f"day{k}", time=f"2020-01-0{k}") for k in (1, 2)]
    >>> get_region(ImageCollection(images), box(0, 3 * s, 2 * s, 4 * s))
         id  longitude  latitude           time  red
    0  day1   0.000045  0.000314  1577836800000    1
    1  day2   0.000045  0.000314  1577923200000    2
    2  day1   0.000135  0.000314  1577836800000    1
    3  day2   0.000135  0.000314  1577923200000    2
    """
    from .cluster import get_region_dask, is_dask_collection  # (cluster.py builds on this module)

    if partitions is not None or client is not None or is_dask_collection(geometry):
        return get_region_dask(collection, geometry, scale=scale, crs=crs, crs_transform=crs_transform,
                               max_values=max_values, properties=properties, partitions=partitions, client=client)
    collection = as_collection(collection)
    if len(collection) == 0:
        raise CollectionError(
            "get_region needs at least one image, but the collection is empty (check the files, "
            "the catalogue, or the filters applied to it)."
        )
    if max_values is not None and (isinstance(max_values, bool) or not isinstance(max_values, (int, np.integer))
                                   or max_values < 1):
        raise TooManyValuesError(f"max_values must be a positive whole number or None, got {max_values!r}.")
    images = list(collection)
    bands = _common_bands(images)
    grid = working_grid(images[0].grid, scale=scale, projection="EPSG:4326" if crs is None else crs,
                        crs_transform=crs_transform)
    regions = _Regions.of(geometry, properties)
    check_column_names(bands, [*regions.columns, *COLUMNS], what="get_region's columns")
    geometries = regions.geometries(grid)
    if max_values is None:
        _check_memory(geometries, grid, images)
    selection = _select(geometries, grid, bands=len(bands), images=len(images), max_values=max_values)
    with progress_bar(len(images), progress=progress, desc="get_region", unit="image") as bar:
        table = _table(images, bands, grid, selection, regions, bar)
    if len(table) == 0:
        warnings.warn(
            "get_region found no pixel: the geometry lies outside every image, contains no pixel "
            "centre (try a finer scale), or every selected pixel is masked.",
            stacklevel=2,
        )
    return table


def empty_table(
    collection: ImageCollection | Image | Sequence[Image],
    geometry: Any,
    *,
    scale: float | None = None,
    crs: Any = "EPSG:4326",
    crs_transform: Sequence[float] | None = None,
    properties: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The table :func:`get_region` returns when no pixel is selected: its columns and dtypes.

    ``geometry`` may be an empty GeoDataFrame of regions. The arguments are checked as
    ``get_region`` checks them, but no pixel is read.

    Examples
    --------
    >>> import numpy as np, geopandas as gpd
    >>> from sampling import Image
    >>> img = Image.from_array(np.zeros((2, 2), "uint8"), [10, 0, 0, 0, -10, 20], 32618, bands=["red"], id="a")
    >>> empty_table([img], gpd.GeoDataFrame({"plot": []}, geometry=[], crs=32618)).columns.tolist()
    ['region', 'plot', 'id', 'longitude', 'latitude', 'time', 'red']
    """
    images = list(as_collection(collection))
    if not images:
        raise CollectionError("get_region needs at least one image, but the collection is empty.")
    bands = _common_bands(images)
    grid = working_grid(images[0].grid, scale=scale, projection="EPSG:4326" if crs is None else crs,
                        crs_transform=crs_transform)
    regions = _Regions.of(geometry, properties, allow_empty=True)
    check_column_names(bands, [*regions.columns, *COLUMNS], what="get_region's columns")
    with progress_bar(len(images), progress=False, desc="get_region", unit="image") as bar:
        return _table(images, bands, grid, Selection.empty(), regions, bar)


def _common_bands(images: list[Image]) -> list[str]:
    first = images[0]
    for image in images[1:]:
        if image.band_names != first.band_names:
            raise BandError(
                f"every image must have the same bands in the same order: image {first.id!r} has "
                f"{first.band_names} but image {image.id!r} has {image.band_names}. Choose common bands "
                "with collection.select([...])."
            )
    return first.band_names


class _Regions:
    """The geometry argument as a frame, and whether rows carry region columns."""

    def __init__(self, frame: Any, per_region: bool, properties: list[str]) -> None:
        self.frame = frame
        self.per_region = per_region
        self.properties = properties
        self.label = (frame.index.name or "region") if per_region else None

    @classmethod
    def of(cls, geometry: Any, properties: Sequence[str] | None, *, allow_empty: bool = False) -> _Regions:
        single = isinstance(geometry, shapely.Geometry) or (
            isinstance(geometry, Mapping) and geometry.get("type") != "FeatureCollection"
        )
        frame = as_regions(geometry, default_crs="EPSG:4326", what="geometry")
        if len(frame) or not allow_empty:
            frame = validate_regions(frame, what="geometry")
        if single:
            if properties is not None:
                raise PropertyError("properties= needs a GeoDataFrame of regions, not a single geometry.")
            return cls(frame, False, [])
        chosen = choose_properties(frame, properties)
        regions = cls(frame, True, chosen)
        clash = sorted(set(chosen) & {regions.label, *COLUMNS})
        if clash:
            raise PropertyError(
                f"region columns {clash} collide with get_region's columns {[regions.label, *COLUMNS]}. "
                "Rename them, or leave them out with properties=[...]."
            )
        return regions

    @property
    def columns(self) -> list[str]:
        return [self.label, *self.properties] if self.per_region else []

    def geometries(self, grid: PixelGrid) -> np.ndarray:
        return to_working_crs(self.frame, grid, what="geometry")


def _check_memory(geometries: np.ndarray, grid: PixelGrid, images: list[Image]) -> None:
    """With the value limit lifted, refuse before reading a table that cannot fit in memory."""
    pixels = float(estimate_pixels(geometries, grid).sum())
    # per (pixel, image): lon, lat, time, the id, and every band with its mask
    per_row = 8 * 4 + sum(b.dtype.itemsize + 1 for b in images[0].bands)
    check_fits_in_memory(
        pixels * len(images) * per_row,
        what=f"get_region's table (about {pixels:,.0f} pixels x {len(images)} images)",
        advice="Use a smaller geometry, a coarser scale, fewer images (filter_date, filter_bounds) or "
        "fewer bands (select), or split the regions into several calls.",
    )


def _select(geometries: np.ndarray, grid: PixelGrid, *, bands: int, images: int, max_values: int | None) -> Selection:
    """The selected pixels, refusing (before any pixel is read) more than ``max_values`` values."""
    parts: list[Selection] = []
    count = 0
    for part in iter_selections(geometries, grid):
        count += len(part)
        if max_values is None or count * bands * images <= max_values:
            parts.append(part)  # past the limit only the count is kept, to report it
    if max_values is not None and count * bands * images > max_values:
        raise TooManyValuesError(
            f"Too many values: {count} points x {bands} bands x {images} images > {max_values}. "
            "Pass max_values=None to lift this limit, or use a smaller region, a coarser scale, "
            "fewer bands (select) or fewer images (filter_date, filter_bounds)."
        )
    return Selection.concat(parts)


def _lonlat(grid: PixelGrid, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres in EPSG:4326 longitude/latitude (exact when the grid is in EPSG:4326)."""
    x, y = grid.centre(rows, cols)
    if grid.crs == _LONLAT:
        return x, y
    transformer = Transformer.from_crs(grid.crs, _LONLAT, always_xy=True)
    lon, lat = transformer.transform(x, y)
    return np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64")


def _table(images: list[Image], bands: list[str], grid: PixelGrid, selection: Selection,
           regions: _Regions, bar: Progress) -> pd.DataFrame:
    n = len(selection)
    # the working -> source mapping is made once per distinct source grid and shared by
    # every image; a shown bar reads image by image so that it moves
    plans = PixelPlans(grid, selection.rows, selection.cols)
    groups = [[image] for image in images] if bar.shown else [images]
    pixels: list[PixelValues] = []
    for group in groups:
        pixels.extend(read_pixels_many(group, grid, selection.rows, selection.cols, plans=plans))
        bar.update(len(group))
    covered = np.stack([p.valid.any(axis=1) for p in pixels], axis=1)  # (pixels, images)
    pixel, image = np.nonzero(covered)  # row-major: pixel-major, images in order
    flat = image * n + pixel
    data: dict[str, Any] = {}
    if regions.per_region:
        feature = selection.feature[pixel]
        data[regions.label] = regions.frame.index.take(feature)
        for name in regions.properties:
            data[name] = regions.frame[name].array.take(feature)
    data["id"] = np.array([i.id for i in images], dtype=object)[image]
    lon, lat = _lonlat(grid, selection.rows, selection.cols)
    data["longitude"] = lon[pixel]
    data["latitude"] = lat[pixel]
    times = np.array([i.time if i.time is not None else 0 for i in images], dtype="int64")
    unknown = np.array([i.time is None for i in images], dtype=bool)
    data["time"] = pd.arrays.IntegerArray(times[image], unknown[image])
    for k, name in enumerate(bands):
        values = np.concatenate([p.values[name] for p in pixels])[flat]
        valid = np.concatenate([p.valid[:, k] for p in pixels])[flat]
        data[name] = band_column(values, valid)
    table = pd.DataFrame(data)
    table.attrs["band_order"] = list(bands)
    return table


def to_wide(
    table: pd.DataFrame,
    *,
    by: str = "time",
    date_format: str = "%Y-%m-%d",
    separator: str = "_",
) -> pd.DataFrame:
    """Turn a :func:`get_region` table into one row per pixel and one column per (date, band).

    Parameters
    ----------
    table
        A table as :func:`get_region` returns it.
    by
        ``"time"``: columns are named ``<band><separator><date>`` with the image's
        start time formatted by ``date_format``, in time order; ``"id"``: named
        ``<band><separator><image id>``, in the table's order.
    date_format
        A strftime format for the dates (UTC).
    separator
        Between band name and date or id.

    Returns
    -------
    pandas.DataFrame
        The columns before ``id`` (region and properties, if any), ``longitude``,
        ``latitude``, then the (date, band) columns, dates outer and bands inner.
        A pixel that an image does not cover is ``<NA>`` in that image's columns.

    Examples
    --------
    >>> long = pd.DataFrame({"id": ["a", "b", "a"], "longitude": [0.5, 0.5, 1.5], "latitude": [0.5] * 3,
    ...                      "time": pd.array([0, 86400000, 0], dtype="Int64"), "red": [1, 2, 3]})
    >>> to_wide(long)
       longitude  latitude  red_1970-01-01  red_1970-01-02
    0        0.5       0.5               1               2
    1        1.5       0.5               3            <NA>
    """
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise FormatError(f"to_wide needs a get_region table; this one lacks columns {missing}.")
    columns = list(table.columns)
    bands = columns[columns.index("time") + 1:]
    keys = [c for c in columns if c not in bands and c not in ("id", "time")]
    if by == "time":
        if table["time"].isna().any():
            ids = sorted(set(table.loc[table["time"].isna(), "id"]))
            raise FormatError(f"images {ids} have no time, so they cannot be named by date: use by='id'.")
        times = pd.to_datetime(table["time"].astype("int64"), unit="ms", utc=True)
        order = np.argsort(table["time"].to_numpy(dtype="int64"), kind="stable")
        labels = times.dt.strftime(date_format).astype(object).to_numpy()
    elif by == "id":
        order = np.arange(len(table))
        labels = table["id"].astype(object).to_numpy()
    else:
        raise FormatError(f"by must be 'time' or 'id', got {by!r}.")
    names = list(dict.fromkeys(labels[order]))  # labels in time (or table) order
    label_code = pd.Index(names).get_indexer(labels)
    row_code = table.groupby(keys, sort=False, dropna=False).ngroup().to_numpy() if keys else np.zeros(len(table), int)
    n_rows = int(row_code.max()) + 1 if len(table) else 0
    position = np.full((n_rows, len(names)), -1, dtype="int64")
    pair = row_code * len(names) + label_code
    if len(np.unique(pair)) != len(pair):
        first = pd.Series(pair).duplicated(keep=False).to_numpy()
        clash = sorted(set(table.loc[first, "id"]))[:4]
        raise FormatError(
            f"images {clash} share the column name {labels[first][0]!r} at the same pixel: use by='id', "
            "or a finer date_format such as '%Y-%m-%dT%H%M%S'."
        )
    position[row_code, label_code] = np.arange(len(table))
    rows = table[keys].drop_duplicates().reset_index(drop=True) if keys else pd.DataFrame(index=range(n_rows))
    arrays = {band: _nullable(table[band]) for band in bands}
    wide = {
        f"{band}{separator}{label}": arrays[band].take(position[:, j], allow_fill=True)
        for j, label in enumerate(names)
        for band in bands
    }
    return pd.concat([rows, pd.DataFrame(wide, index=rows.index)], axis=1)


def _nullable(column: pd.Series) -> Any:
    """The column's values as an array that can hold ``<NA>`` in its own dtype."""
    array = column.array
    if isinstance(array, pd.arrays.NumpyExtensionArray) and array.dtype.kind in "iufb":
        values = column.to_numpy()
        return band_column(values, np.ones(len(values), dtype=bool))
    return array
