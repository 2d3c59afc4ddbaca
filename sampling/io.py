"""Reading regions and writing results, atomically.

Every file ``sampling`` writes is first written to a temporary name in the same
directory and then renamed over the target, so the target appears complete or not
at all: an exception, an interrupt or a full disk mid-write leaves no partial file
and leaves an existing file untouched.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import pandas as pd

from .errors import FormatError, VectorReadError

__all__ = ["atomic_path", "write_bytes", "write_table", "read_regions", "TABLE_FORMATS"]

#: Output table formats by file extension.
TABLE_FORMATS = {
    ".parquet": "GeoParquet",
    ".geoparquet": "GeoParquet",
    ".csv": "CSV",
    ".gpkg": "GeoPackage",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
}


@contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    The temporary file is removed if the block raises (including ``KeyboardInterrupt``).

    Examples
    --------
    >>> import tempfile, os
    >>> target = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> open(target).read()
    'done'
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists; pass overwrite=True (or --overwrite) to replace it.")
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.exists():
        raise FileNotFoundError(f"the directory {directory} does not exist; create it first.")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=directory)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.is_dir():
            raise IsADirectoryError(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(data: bytes, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def _writer(suffix: str, index: bool = True, layer: str = "table") -> Callable[[pd.DataFrame, Path], None]:
    def parquet(frame: pd.DataFrame, tmp: Path) -> None:
        frame.to_parquet(tmp, index=None if index else False)

    def csv(frame: pd.DataFrame, tmp: Path) -> None:
        out = pd.DataFrame(frame).copy()
        if isinstance(frame, gpd.GeoDataFrame):
            geometry = frame.geometry
            if geometry.isna().all():
                out = out.drop(columns=[geometry.name])
            else:
                out[geometry.name] = geometry.to_wkt()
        out.to_csv(tmp, index=index)

    def vector(driver: str) -> Callable[[pd.DataFrame, Path], None]:
        def write(frame: pd.DataFrame, tmp: Path) -> None:
            if not isinstance(frame, gpd.GeoDataFrame):
                raise FormatError(f"{driver} needs geometries; write a table without them as .parquet or .csv.")
            # the layer is named after the target, not after the temporary file
            options = {"layer": re.sub(r"\W+", "_", layer).strip("_") or "table"} if driver == "GPKG" else {}
            frame.reset_index().to_file(tmp, driver=driver, **options)

        return write

    writers = {
        ".parquet": parquet,
        ".geoparquet": parquet,
        ".csv": csv,
        ".gpkg": vector("GPKG"),
        ".geojson": vector("GeoJSON"),
        ".json": vector("GeoJSON"),
    }
    if suffix not in writers:
        raise FormatError(
            f"cannot write a table as {suffix or 'a file without extension'}; use one of "
            f"{', '.join(TABLE_FORMATS)}."
        )
    return writers[suffix]


def write_table(frame: pd.DataFrame, path: str | os.PathLike, *, overwrite: bool = True, index: bool = True) -> Path:
    """Write a (Geo)DataFrame to ``path`` atomically, in the format its extension names.

    ``.parquet`` writes GeoParquet for a GeoDataFrame (Parquet otherwise), ``.csv``
    writes geometries as WKT, ``.gpkg`` and ``.geojson`` write vector files.
    ``index=False`` leaves out the frame's index in Parquet and CSV (for tables whose
    index is just a row number).
    """
    target = Path(path)
    writer = _writer(target.suffix.lower(), index, target.stem)
    with atomic_path(target, overwrite=overwrite) as tmp:
        writer(frame, tmp)
    return target


def read_regions(path: str | os.PathLike, *, layer: str | int | None = None) -> gpd.GeoDataFrame:
    """Read regions from any vector format GDAL reads, or from (Geo)Parquet.

    Examples
    --------
    >>> read_regions("data/example_regions.gpkg").crs.to_epsg()  # doctest: +SKIP
    32618
    """
    p = Path(path)
    if "://" not in str(path) and not p.exists():
        raise VectorReadError(f"regions file {path} does not exist. Check the path.")
    try:
        if p.suffix.lower() in (".parquet", ".geoparquet"):
            return gpd.read_parquet(p)
        return gpd.read_file(p, layer=layer) if layer is not None else gpd.read_file(p)
    except Exception as exc:
        raise VectorReadError(f"cannot read regions from {path}: {exc}") from None
