"""Sampling on a Dask cluster: regions partitioned in space, rasters read by the workers.

:func:`sample_regions_dask` (reached through :func:`sampling.sample_regions` when the
regions are a dask-geopandas frame, or when ``partitions=`` or ``client=`` is given)
returns a lazy dask-geopandas GeoDataFrame. Nothing is read until it is computed;
then each partition of regions is sampled on a worker by the single-process engine,
exactly as :func:`~sampling.sample_regions` would sample it, so the rows and values
are the same (order aside).

What travels to the workers is small: the regions of each partition, and the image
as a *description* (paths, grids, dtypes, band names), sent once per worker. Each
worker opens the rasters itself, lazily, and reads only the blocks under its regions.
Regions are put in Hilbert-curve order before they are cut into partitions, so the
regions of one partition lie close together and each worker reads mostly its own
blocks.

:func:`get_region_dask` does the same for :func:`~sampling.get_region` over a frame of
regions (reached through ``get_region`` with ``partitions=``/``client=`` or a
dask-geopandas frame). :func:`map_regions` is the general mechanism (partition, ship,
run, report failures) behind both, for any per-region operation.

Dask, distributed and dask-geopandas are optional: ``pip install 'sampling[dask]'``.
"""

from __future__ import annotations

import functools
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from .errors import GridError, RasterReadError, SamplingError
from .grid import PixelGrid
from .image import Image, PathLike, as_image
from .io import atomic_directory
from .regions import as_regions, validate_regions
from .remote import GdalOptions, active_options, gdal_env, redact
from .sample_regions import empty_result, feature_ids_of, iter_sample_regions

__all__ = [
    "sample_regions_dask",
    "get_region_dask",
    "map_regions",
    "BlockLattice",
    "spatial_keys",
    "is_dask_collection",
    "write_dataset",
]

_INDEX_KEY = "__sampling_index_{}__"
_SORT_KEY = "__sampling_hilbert__"
#: Partitions per worker thread by default: a few, to balance the load; not many, because the blocks
#: along a partition's edge are read by its neighbours too.
PARTITIONS_PER_THREAD = 2
#: ... and at most this many regions per partition by default, to bound a partition's memory.
MAX_REGIONS_PER_PARTITION = 100_000


def is_dask_collection(value: Any) -> bool:
    """True if ``value`` is a Dask collection (a dask or dask-geopandas frame). Never imports Dask.

    Examples
    --------
    >>> import pandas as pd
    >>> is_dask_collection(pd.DataFrame())
    False
    """
    if "dask" not in sys.modules:
        return False
    import dask

    return dask.is_dask_collection(value)


def _require_dask() -> None:
    try:
        import dask  # noqa: F401
        import dask_geopandas  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"sampling on a Dask cluster needs dask, distributed and dask-geopandas ({exc}). "
            "Install them with: pip install 'sampling[dask]'"
        ) from None


def sample_regions_dask(
    image: Image | PathLike | Sequence[PathLike],
    regions: Any,
    *,
    properties: Sequence[str] | None = None,
    scale: float | None = None,
    projection: Any = None,
    tile_scale: float = 1,
    geometries: bool = False,
    drop_masked: bool = True,
    feature_ids: bool = False,
    partitions: int | None = None,
    client: Any = None,
    spatial_partitioning: bool = True,
    gdal_options: dict[str, Any] | None = None,
) -> Any:
    """:func:`~sampling.sample_regions` on a Dask cluster, as a lazy dask-geopandas GeoDataFrame.

    Parameters
    ----------
    image
        An :class:`~sampling.Image` or the path(s)/URL(s) of raster file(s). Workers
        must be able to open the same paths (shared storage, HTTP or S3).
    regions
        A dask-geopandas GeoDataFrame, or a GeoDataFrame (in memory) to cut into
        ``partitions``.
    properties, scale, projection, tile_scale, geometries, drop_masked, feature_ids
        As in :func:`~sampling.sample_regions`; the result is the same.
    partitions
        Number of partitions of regions. By default: the dask frame's own number, or
        2 per worker thread of the cluster (of ``client``, or of the current
        distributed client, or of this machine's cores), and at least one per
        100,000 regions.
    client
        A ``distributed.Client``, used to choose the number of partitions. The result
        is computed by whichever scheduler is active when it is computed (creating a
        ``Client`` makes it the default one).
    spatial_partitioning
        Put the regions in Hilbert-curve order before cutting them into partitions,
        so each partition covers a compact area (for a dask frame this shuffles it,
        which computes the regions once). False keeps the regions' own partitioning.
    gdal_options
        GDAL/rasterio options for the workers' reads, added to those of the
        ``rasterio.Env`` active in this thread, which are shipped too. Workers'
        own environment variables apply under these.

    Returns
    -------
    dask_geopandas.GeoDataFrame
        Lazy; its partitions are computed on the workers. ``.compute()`` gives a
        GeoDataFrame with the rows of ``sample_regions`` (regions grouped by
        partition instead of in input order; within a region, pixels in row-major
        order); :func:`write_dataset` (or the frame's ``to_parquet`` method) writes a
        partitioned GeoParquet dataset.

    Examples
    --------
    >>> import numpy as np, geopandas as gpd
    >>> from shapely import box
    >>> from sampling import Image
    >>> img = Image.from_array(np.arange(16, dtype="uint16").reshape(4, 4),
    ...                        [10, 0, 0, 0, -10, 40], "EPSG:32618", bands=["B1"])
    >>> fields = gpd.GeoDataFrame({"crop": ["wheat", "rye"]},
    ...                           geometry=[box(0, 20, 20, 40), box(20, 0, 40, 20)], crs=32618)
    >>> lazy = sample_regions_dask(img, fields, partitions=2)
    >>> lazy.npartitions
    2
    >>> lazy.compute(scheduler="sync").sort_index()["B1"].tolist()
    [0, 1, 4, 5, 10, 11, 14, 15]
    """
    _require_dask()
    image = as_image(image)
    options = dict(properties=properties, scale=scale, projection=projection, tile_scale=tile_scale,
                   geometries=geometries, drop_masked=drop_masked, feature_ids=feature_ids)
    lazy_input = is_dask_collection(regions)
    if lazy_input:
        as_regions(regions._meta)  # a CRS is required, as for an in-memory frame
        schema_of = regions._meta
    else:
        regions = validate_regions(as_regions(regions))
        schema_of = regions.iloc[:0]
    meta = empty_result(image, schema_of, **options)  # checks the options here, not on the workers
    sample = functools.partial(_sample_partition, options=options, meta=meta)
    return map_regions(sample, regions, image, meta=meta, partitions=partitions, client=client,
                       spatial_partitioning=spatial_partitioning, blocks=BlockLattice.of(image),
                       gdal_options=gdal_options)


def _sample_partition(part: gpd.GeoDataFrame, image: Image, *, options: dict[str, Any],
                      meta: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The single-process sampling of one partition of regions (runs on a worker)."""
    chunk_options = {k: v for k, v in options.items() if k != "feature_ids"}
    frames = list(iter_sample_regions(image, part, **chunk_options))
    if not frames:
        return meta
    result = frames[0] if len(frames) == 1 else pd.concat(frames)
    if options["feature_ids"]:
        result.index = feature_ids_of(result.index)
    result.attrs["band_order"] = image.band_names
    return result


def get_region_dask(
    collection: Any,
    regions: Any,
    *,
    scale: float | None = None,
    crs: Any = "EPSG:4326",
    crs_transform: Sequence[float] | None = None,
    max_values: int | None = None,
    properties: Sequence[str] | None = None,
    partitions: int | None = None,
    client: Any = None,
    spatial_partitioning: bool = True,
    gdal_options: dict[str, Any] | None = None,
) -> Any:
    """:func:`~sampling.get_region` for a frame of regions on a Dask cluster, as a lazy Dask DataFrame.

    Each partition of regions is read on a worker by ``get_region`` itself, so the rows
    and values are those of ``get_region(collection, regions, max_values=None)``:
    the region's label and properties, ``id, longitude, latitude, time`` and the bands.
    Order aside: rows come partition by partition, and each partition's index counts
    from 0 (``.compute().reset_index(drop=True)`` renumbers them).

    Parameters
    ----------
    collection
        What ``get_region`` accepts. Its images are opened here (headers only) and
        travel to each worker once, as descriptions.
    regions
        A GeoDataFrame or a dask-geopandas GeoDataFrame of regions (a single geometry
        has nothing to split: call ``get_region`` directly).
    max_values
        Must be None: Earth Engine's value limit counts the values of the whole
        request, which a cluster run does not know before it runs.
    scale, crs, crs_transform, properties
        As in :func:`~sampling.get_region`.
    partitions, client, spatial_partitioning, gdal_options
        As in :func:`sample_regions_dask`.

    Examples
    --------
    >>> import numpy as np, geopandas as gpd
    >>> from shapely import box
    >>> from sampling import Image
    >>> images = [Image.from_array(np.full((4, 4), k, "uint8"), [10, 0, 0, 0, -10, 40], 32618,
    ...                            bands=["red"], id=f"day{k}", time=f"2020-01-0{k}") for k in (1, 2)]
    >>> fields = gpd.GeoDataFrame({"crop": ["wheat", "rye"]},
    ...                           geometry=[box(0, 30, 10, 40), box(30, 0, 40, 10)], crs=32618)
    >>> lazy = get_region_dask(images, fields, crs=32618, partitions=2)
    >>> lazy.compute(scheduler="sync")[["region", "crop", "id", "red"]].to_numpy().tolist()
    [[0, 'wheat', 'day1', 1], [0, 'wheat', 'day2', 2], [1, 'rye', 'day1', 1], [1, 'rye', 'day2', 2]]
    """
    from .collection import as_collection
    from .errors import TooManyValuesError
    from .get_region import empty_table

    _require_dask()
    if max_values is not None:
        raise TooManyValuesError(
            "get_region on a Dask cluster cannot check Earth Engine's value limit before the work starts: "
            "pass max_values=None."
        )
    images = list(as_collection(collection))
    options = dict(scale=scale, crs=crs, crs_transform=crs_transform, properties=properties)
    if is_dask_collection(regions):
        as_regions(regions._meta, what="geometry")
        schema_of = regions._meta
    elif isinstance(regions, gpd.GeoDataFrame):
        regions = validate_regions(as_regions(regions, what="geometry"), what="geometry")
        schema_of = regions.iloc[:0]
    else:
        raise GridError(
            "get_region on a Dask cluster splits a GeoDataFrame of regions into partitions; for one geometry "
            "call get_region without partitions= or client=."
        )
    meta = empty_table(images, schema_of, **options)
    read = functools.partial(_get_region_partition, options=options)
    return map_regions(read, regions, images, meta=meta, partitions=partitions, client=client,
                       spatial_partitioning=spatial_partitioning, blocks=BlockLattice.of(images[0]),
                       gdal_options=gdal_options)


def _get_region_partition(part: gpd.GeoDataFrame, images: list[Image], *, options: dict[str, Any]) -> pd.DataFrame:
    """``get_region`` on one partition of regions (runs on a worker)."""
    from .get_region import get_region

    with warnings.catch_warnings():  # one partition finding no pixel says nothing about the whole run
        warnings.filterwarnings("ignore", message="get_region found no pixel")
        return get_region(images, part, max_values=None, **options)


def map_regions(
    func: Callable[..., pd.DataFrame],
    regions: Any,
    *args: Any,
    meta: pd.DataFrame,
    partitions: int | None = None,
    client: Any = None,
    spatial_partitioning: bool = True,
    blocks: BlockLattice | None = None,
    gdal_options: dict[str, Any] | None = None,
) -> Any:
    """Run ``func(partition, *args)`` on every partition of ``regions`` on a Dask cluster.

    The general mechanism behind :func:`sample_regions_dask`: regions are put in
    Hilbert order and cut into partitions (see its parameters), each of ``args`` is
    shipped once to each worker that needs it (give image *descriptions*, not pixel
    arrays), and each partition runs inside :func:`~sampling.remote.gdal_env` with the
    caller's GDAL options. An empty partition gives ``meta`` without calling
    ``func``. A failure names the partition and its regions, and keeps the error's
    class (a raster that cannot be read raises
    :class:`~sampling.errors.RasterReadError` naming the source).

    Parameters
    ----------
    func
        ``func(regions_of_one_partition, *args) -> DataFrame`` with ``meta``'s schema;
        it must be picklable (a module-level function or a ``functools.partial``).
    regions
        A dask-geopandas GeoDataFrame or an in-memory GeoDataFrame.
    meta
        The empty frame ``func`` would return: the result's schema.
    blocks
        The raster blocks that partitions should not cut (see :class:`BlockLattice`):
        regions are ordered by the Hilbert index of the block under their centre, and
        partition boundaries move to block boundaries when that costs little balance.

    Returns
    -------
    A lazy dask (or dask-geopandas, when ``meta`` is a GeoDataFrame) frame.
    """
    _require_dask()
    import dask

    # columns keep their pandas dtypes (Dask would turn strings into another string dtype)
    with dask.config.set({"dataframe.convert-string": False}):
        ddf = _partitioned(regions, partitions=partitions, client=client, spatial=spatial_partitioning,
                           blocks=blocks)
        env = GdalOptions({**active_options(), **(gdal_options or {})})
        shipped = [dask.delayed(a, pure=True, traverse=False) for a in args]
        run = functools.partial(_run_partition, func=func, env=env, meta=meta, total=ddf.npartitions)
        return ddf.map_partitions(run, *shipped, meta=meta, align_dataframes=False)


def _run_partition(part: pd.DataFrame, *args: Any, func: Callable[..., pd.DataFrame], env: GdalOptions,
                   meta: pd.DataFrame, total: int, partition_info: dict | None = None) -> pd.DataFrame:
    if len(part) == 0:
        return meta
    try:
        with gdal_env(**env):
            return func(part, *args)
    except (SamplingError, OSError) as exc:
        number = partition_info["number"] if partition_info else None
        failure = _partition_error(exc, number, total, part.index)
    # raised outside the handler, so no chained GDAL error rides along (some cannot be unpickled
    # on the client, which would then get a bare Exception)
    raise failure


def _partition_error(exc: Exception, number: int | None, total: int, labels: pd.Index) -> Exception:
    """``exc`` with the partition and its regions named, of the same class when that can be rebuilt."""
    shown = ", ".join(repr(v) for v in labels[:5]) + (f" ... ({len(labels)} regions)" if len(labels) > 5 else "")
    where = f"partition {number} of {total}" if number is not None else "a partition"
    message = f"{where} (regions {shown}): {redact(str(exc))}"
    cls = type(exc) if isinstance(exc, SamplingError) else RasterReadError
    try:
        error = cls(message)
    except TypeError:
        error = RasterReadError(message)
    error.partition = number  # type: ignore[attr-defined]
    return error


def _worker_threads(client: Any) -> int:
    if client is None:
        try:
            from distributed import default_client

            client = default_client()
        except (ImportError, ValueError):
            return os.cpu_count() or 1
    return max(1, sum(client.nthreads().values()))


@dataclass(frozen=True)
class BlockLattice:
    """The raster blocks partitions should not cut: a source grid and its block shape (rows, cols)."""

    grid: PixelGrid
    block_shape: tuple[int, int]

    @classmethod
    def of(cls, image: Image) -> BlockLattice:
        """The blocks of the image's first band, whose grid is the default working grid."""
        band = image.bands[0]
        return cls(band.grid, tuple(band.source.block_shape))  # type: ignore[arg-type]


def spatial_keys(regions: gpd.GeoDataFrame, blocks: BlockLattice | None) -> tuple[np.ndarray, np.ndarray]:
    """Sort keys that put regions in Hilbert order: ``(block_key, fine_key)`` per region.

    ``block_key`` is the Hilbert index of the raster block under the centre of each
    region's bounding box (all 0 when ``blocks`` is None); ``fine_key`` the Hilbert
    index of the centre itself. Sorting by both keeps the regions of one block
    together, and neighbouring blocks near each other.
    """
    bounds = regions.geometry.bounds.to_numpy()
    x = (bounds[:, 0] + bounds[:, 2]) / 2
    y = (bounds[:, 1] + bounds[:, 3]) / 2
    fine = regions.geometry.hilbert_distance(total_bounds=regions.total_bounds).to_numpy().astype("int64")
    if blocks is None or len(regions) == 0:
        return np.zeros(len(regions), dtype="int64"), fine
    grid = blocks.grid
    if regions.crs != grid.crs:
        x, y = Transformer.from_crs(regions.crs, grid.crs, always_xy=True).transform(x, y, errcheck=False)
    u, v = grid.pixel_coords(x, y)
    height, width = grid.shape  # type: ignore[misc]
    rows_of_blocks = -(-height // blocks.block_shape[0])
    cols_of_blocks = -(-width // blocks.block_shape[1])
    block_row = np.clip(np.nan_to_num(v, nan=0.0) // blocks.block_shape[0], 0, rows_of_blocks - 1)
    block_col = np.clip(np.nan_to_num(u, nan=0.0) // blocks.block_shape[1], 0, cols_of_blocks - 1)
    centres = gpd.GeoSeries(shapely.points(block_col + 0.5, block_row + 0.5))
    key = centres.hilbert_distance(total_bounds=(0, 0, cols_of_blocks, rows_of_blocks)).to_numpy()
    return key.astype("int64"), fine.astype("int64")


def _cuts(block_key: np.ndarray, count: int) -> list[int]:
    """Positions that cut sorted rows into ``count`` parts of about equal size, at block changes when near."""
    n = len(block_key)
    size = n / count
    changes = np.flatnonzero(block_key[1:] != block_key[:-1]) + 1  # first row of each new block
    cuts = [0]
    for k in range(1, count):
        ideal = int(round(k * size))
        if len(changes):
            j = np.searchsorted(changes, ideal)
            near = min((changes[i] for i in (j - 1, j) if 0 <= i < len(changes)), key=lambda c: abs(c - ideal))
            if abs(near - ideal) <= 0.25 * size:  # moving the cut costs less balance than a block read twice
                ideal = int(near)
        if cuts[-1] < ideal < n:
            cuts.append(ideal)
    cuts.append(n)
    return cuts


def _partitioned(regions: Any, *, partitions: int | None, client: Any, spatial: bool,
                 blocks: BlockLattice | None) -> Any:
    """``regions`` as a dask-geopandas frame of spatially compact partitions."""
    import dask.dataframe as dd

    if partitions is not None:
        if isinstance(partitions, bool) or not isinstance(partitions, (int, np.integer)) or partitions < 1:
            raise GridError(f"partitions must be a positive integer, got {partitions!r}.")
        partitions = int(partitions)
    if is_dask_collection(regions):
        count = partitions or regions.npartitions
        if spatial:
            return _spatial_shuffle(regions, count, blocks)
        return regions if count == regions.npartitions else regions.repartition(npartitions=count)
    if partitions is None:
        partitions = max(PARTITIONS_PER_THREAD * _worker_threads(client), -(-len(regions) // MAX_REGIONS_PER_PARTITION))
    count = max(1, min(partitions, len(regions)))
    if spatial:
        block_key, fine_key = spatial_keys(regions, blocks)
        order = np.lexsort((fine_key, block_key))
        regions = regions.take(order)
        cuts = _cuts(block_key[order], count)
    else:
        cuts = [int(round(k * len(regions) / count)) for k in range(count + 1)]
    pieces = [regions.iloc[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    return dd.from_map(_identity, pieces, meta=regions.iloc[:0], label="regions", enforce_metadata=False)


def _identity(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


def _spatial_shuffle(regions: Any, count: int, blocks: BlockLattice | None) -> Any:
    """Shuffle a dask-geopandas frame into Hilbert-ordered partitions, keeping its index labels.

    With ``blocks``, rows are shuffled on their block's Hilbert key, so the regions of
    one block never land in two partitions (there may then be fewer partitions than
    asked when a few blocks hold most regions); without, on the Hilbert distance of
    each region (dask-geopandas' ``spatial_shuffle``).
    """
    names = list(regions._meta.index.names)
    keys = [_INDEX_KEY.format(k) for k in range(len(names))]

    def flatten(df: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        flat = df.rename_axis(keys).reset_index()
        if blocks is None:
            return flat
        return flat.assign(**{_SORT_KEY: spatial_keys(flat, blocks)[0]})

    def restore(df: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        return df.set_index(keys).rename_axis(names)

    flat = regions.map_partitions(flatten, meta=flatten(regions._meta))
    if blocks is None:
        shuffled = flat.spatial_shuffle(by="hilbert", npartitions=count)
    else:
        # (task-based shuffle: the peer-to-peer one goes through Arrow, which cannot carry geometries)
        shuffled = flat.set_index(_SORT_KEY, npartitions=count, shuffle_method="tasks")
    return shuffled.map_partitions(restore, meta=restore(shuffled._meta.reset_index(drop=True)))


def write_dataset(result: Any, directory: str | os.PathLike, *, overwrite: bool = False) -> int:
    """Compute a lazy result and write it as a partitioned GeoParquet dataset in ``directory``.

    One file per partition, written by the workers; the directory appears complete or
    not at all (see :func:`sampling.io.atomic_directory`). Returns the number of rows.
    Read it back with ``geopandas.read_parquet(directory)`` or
    ``dask_geopandas.read_parquet(directory)``.
    """
    import dask

    with atomic_directory(directory, overwrite=overwrite) as tmp:
        counts = result.map_partitions(len, meta=(None, "int64"))
        written, sizes = dask.compute(result.to_parquet(tmp, compute=False, write_index=True), counts)
    return int(np.sum(sizes))
