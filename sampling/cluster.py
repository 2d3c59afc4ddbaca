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

:func:`map_regions` is the general mechanism (partition, ship, run, report failures)
for any per-region operation; ``sample_regions_dask`` is one use of it.

Dask, distributed and dask-geopandas are optional: ``pip install 'sampling[dask]'``.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .errors import GridError, RasterReadError, SamplingError
from .image import Image, PathLike, as_image
from .io import atomic_directory
from .regions import as_regions, validate_regions
from .remote import GdalOptions, active_options, gdal_env, redact
from .sample_regions import empty_result, feature_ids_of, iter_sample_regions

__all__ = ["sample_regions_dask", "map_regions", "is_dask_collection", "write_dataset"]

_INDEX_KEY = "__sampling_index_{}__"
#: Partitions per worker thread when only a client is given: enough to balance the load.
PARTITIONS_PER_THREAD = 4


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
        ``4 x`` the cluster's worker threads (of ``client``, or of the current
        distributed client, or of this machine).
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
        order); ``.to_parquet(directory)`` writes a partitioned GeoParquet dataset.

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
                       spatial_partitioning=spatial_partitioning, gdal_options=gdal_options)


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


def map_regions(
    func: Callable[..., pd.DataFrame],
    regions: Any,
    *args: Any,
    meta: pd.DataFrame,
    partitions: int | None = None,
    client: Any = None,
    spatial_partitioning: bool = True,
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

    Returns
    -------
    A lazy dask (or dask-geopandas, when ``meta`` is a GeoDataFrame) frame.
    """
    _require_dask()
    import dask

    # columns keep their pandas dtypes (Dask would turn strings into another string dtype)
    with dask.config.set({"dataframe.convert-string": False}):
        ddf = _partitioned(regions, partitions=partitions, client=client, spatial=spatial_partitioning)
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


def _partitioned(regions: Any, *, partitions: int | None, client: Any, spatial: bool) -> Any:
    """``regions`` as a dask-geopandas frame of ``partitions`` spatially compact partitions."""
    import dask_geopandas

    if partitions is not None:
        if isinstance(partitions, bool) or not isinstance(partitions, (int, np.integer)) or partitions < 1:
            raise GridError(f"partitions must be a positive integer, got {partitions!r}.")
        partitions = int(partitions)
    if is_dask_collection(regions):
        count = partitions or regions.npartitions
        if spatial:
            return _spatial_shuffle(regions, count)
        return regions if count == regions.npartitions else regions.repartition(npartitions=count)
    count = partitions or PARTITIONS_PER_THREAD * _worker_threads(client)
    count = max(1, min(count, len(regions)))
    if spatial:
        distance = regions.geometry.hilbert_distance(total_bounds=regions.total_bounds)
        regions = regions.take(np.argsort(distance.to_numpy(), kind="stable"))
    return dask_geopandas.from_geopandas(regions, npartitions=count, sort=False)


def _spatial_shuffle(regions: Any, count: int) -> Any:
    """Shuffle a dask-geopandas frame into Hilbert-ordered partitions, keeping its index labels."""
    names = list(regions._meta.index.names)
    keys = [_INDEX_KEY.format(k) for k in range(len(names))]

    def flatten(df: pd.DataFrame) -> pd.DataFrame:
        return df.rename_axis(keys).reset_index()

    def restore(df: pd.DataFrame) -> pd.DataFrame:
        return df.set_index(keys).rename_axis(names)

    flat = regions.map_partitions(flatten, meta=flatten(regions._meta))
    shuffled = flat.spatial_shuffle(by="hilbert", npartitions=count)
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
