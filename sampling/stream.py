"""Stream a result larger than memory straight to one GeoParquet file.

:func:`stream_sample_regions` writes what :func:`~sampling.iter_sample_regions`
yields, chunk by chunk, as row groups of a single GeoParquet file: memory is
bounded by one chunk (about ``4_000_000 / tile_scale**2`` selected pixels), not by
the size of the result. The file is written under a temporary name beside the
target and renamed when complete (:func:`sampling.io.atomic_path`), so the target
is never half-written.

Peak memory is, roughly, the Python and library baseline (about 250 MB), GDAL's
block cache (:data:`sampling.remote.DEFAULT_GDAL_OPTIONS`, 512 MB at most) and a
few hundred bytes per pixel of one chunk (about 500 MB at ``tile_scale=1`` with four
bands): about 1.3 GB at most, whatever the number of rows. Raise ``tile_scale`` to
lower the chunk's share.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

from .image import Image, PathLike
from .io import atomic_path
from .sample_regions import iter_sample_regions, sample_regions

__all__ = ["stream_sample_regions", "GeoParquetStream"]

#: The GeoParquet specification version written.
GEOPARQUET_VERSION = "1.1.0"


class GeoParquetStream:
    """Write GeoDataFrames with the same columns, one after the other, to one GeoParquet file.

    Each frame becomes one or more row groups as soon as it is written. The ``geo``
    metadata (CRS, geometry types, bounding box over all rows) is added when the
    stream is closed. Use it as a context manager around an open file path; the
    caller makes the path atomic.

    Examples
    --------
    >>> import tempfile, os, shapely
    >>> path = os.path.join(tempfile.mkdtemp(), "out.parquet")
    >>> with GeoParquetStream(path) as stream:
    ...     for k in range(2):
    ...         stream.write(gpd.GeoDataFrame({"k": [k]}, geometry=[shapely.Point(k, k)], crs=4326))
    >>> gpd.read_parquet(path)["k"].tolist(), stream.rows
    ([0, 1], 2)
    """

    def __init__(self, path: str | os.PathLike, *, compression: str = "snappy") -> None:
        self.path = path
        self.compression = compression
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._geometry: str | None = None
        self._crs: Any = None
        self._types: set[str] = set()
        self._bounds = np.array([np.inf, np.inf, -np.inf, -np.inf])

    def __enter__(self) -> GeoParquetStream:
        return self

    def __exit__(self, exc_type, *exc: Any) -> None:
        self.close(finish=exc_type is None)

    def write(self, frame: gpd.GeoDataFrame) -> None:
        """Append ``frame``'s rows (its index is kept, as ``to_parquet`` keeps it)."""
        table = self._table(frame)
        if self._writer is None:
            # readers that look at the Arrow schema find valid metadata from the start
            # (geometry types unknown, no bbox); the footer gets the exact one on close
            column = {"encoding": "WKB", "geometry_types": [], "crs": _projjson(self._crs)}
            early = {"version": GEOPARQUET_VERSION, "primary_column": self._geometry,
                     "columns": {self._geometry: column}}
            metadata = {**(table.schema.metadata or {}), b"geo": json.dumps(early).encode()}
            self._schema = table.schema.with_metadata(metadata)
            table = table.replace_schema_metadata(self._schema.metadata)
            self._writer = pq.ParquetWriter(self.path, self._schema, compression=self.compression)
        else:
            table = table.cast(self._schema)
        self._writer.write_table(table)
        self.rows += len(frame)

    def close(self, *, finish: bool = True) -> None:
        """Write the ``geo`` metadata and the footer."""
        if self._writer is None:
            return
        if finish:
            self._writer.add_key_value_metadata({"geo": json.dumps(self._metadata())})
        self._writer.close()
        self._writer = None

    def _table(self, frame: gpd.GeoDataFrame) -> pa.Table:
        geometry = frame.geometry.name
        if self._geometry is None:
            self._geometry, self._crs = geometry, frame.crs
        values = np.asarray(frame.geometry.values, dtype=object)
        present = ~shapely.is_missing(values)
        if present.any():
            kinds = shapely.get_type_id(values[present])
            self._types.update(_GEOMETRY_NAMES[int(k)] for k in np.unique(kinds))
            b = shapely.total_bounds(values[present])
            self._bounds = np.r_[np.minimum(self._bounds[:2], b[:2]), np.maximum(self._bounds[2:], b[2:])]
            wkb = pa.array(shapely.to_wkb(values, flavor="iso"), type=pa.binary())
        else:
            wkb = pa.nulls(len(frame), type=pa.binary())
        table = pa.Table.from_pandas(pd.DataFrame(frame.drop(columns=geometry)), preserve_index=True)
        return table.append_column(pa.field(geometry, pa.binary()), wkb)

    def _metadata(self) -> dict:
        column: dict[str, Any] = {
            "encoding": "WKB",
            "geometry_types": sorted(self._types),
            "crs": _projjson(self._crs),
        }
        if np.isfinite(self._bounds).all():
            column["bbox"] = self._bounds.tolist()
        return {"version": GEOPARQUET_VERSION, "primary_column": self._geometry, "columns": {self._geometry: column}}


_GEOMETRY_NAMES = {
    0: "Point",
    1: "LineString",
    2: "LineString",  # a LinearRing is written as a LineString
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}


def _projjson(crs: Any) -> dict | None:
    return None if crs is None else crs.to_json_dict()


def stream_sample_regions(
    image: Image | PathLike | Sequence[PathLike],
    regions: Any,
    path: str | os.PathLike,
    *,
    properties: Sequence[str] | None = None,
    scale: float | None = None,
    projection: Any = None,
    tile_scale: float = 1,
    geometries: bool = False,
    drop_masked: bool = True,
    overwrite: bool = True,
    compression: str = "snappy",
) -> int:
    """Write ``sample_regions(image, regions, ...)`` to a GeoParquet file, chunk by chunk.

    The file holds exactly the rows, columns, dtypes and index of
    :func:`~sampling.sample_regions` with the same arguments (read it back with
    ``geopandas.read_parquet``), but memory stays bounded by one chunk however many
    rows there are, so results larger than memory can be written. See the module
    docstring for the peak memory.

    Parameters
    ----------
    image, regions, properties, scale, projection, tile_scale, geometries, drop_masked
        As for :func:`~sampling.sample_regions`. ``tile_scale`` makes chunks (and row
        groups) smaller.
    path
        The ``.parquet`` file to write. It appears only once complete.
    overwrite
        Replace an existing file (the default); if False an existing file is an error.
    compression
        Parquet compression codec (``"snappy"``, ``"zstd"``, ``"gzip"``, ``"none"``...).

    Returns
    -------
    int
        The number of rows written.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from affine import Affine
    >>> from shapely import box
    >>> img = Image.from_array(np.arange(16, dtype="uint16").reshape(4, 4),
    ...                        Affine(10, 0, 0, 0, -10, 40), "EPSG:32618", bands=["B1"])
    >>> fields = gpd.GeoDataFrame({"crop": ["wheat"]}, geometry=[box(0, 20, 20, 40)], crs=32618)
    >>> path = os.path.join(tempfile.mkdtemp(), "samples.parquet")
    >>> stream_sample_regions(img, fields, path)
    4
    >>> gpd.read_parquet(path)["B1"].tolist()
    [0, 1, 4, 5]
    """
    options = dict(properties=properties, scale=scale, projection=projection, tile_scale=tile_scale,
                   geometries=geometries, drop_masked=drop_masked)
    with atomic_path(path, overwrite=overwrite) as tmp:
        with GeoParquetStream(tmp, compression=compression) as stream:
            for chunk in iter_sample_regions(image, regions, **options):
                stream.write(chunk)
            if stream.rows == 0:  # no chunk: write the (empty) result, so the file has its columns
                stream.write(sample_regions(image, regions, **options))
        return stream.rows
