"""Reading regions and writing results, atomically.

Every file ``sampling`` writes is first written to a temporary name in the same
directory and then renamed over the target, so the target appears complete or not
at all: an exception, an interrupt or a full disk mid-write leaves no partial file
and leaves an existing file untouched.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import pandas as pd

from .errors import FormatError, SamplingError, VectorReadError, WriteError

__all__ = [
    "atomic_path",
    "atomic_directory",
    "stale_partials",
    "write_bytes",
    "write_table",
    "read_regions",
    "TABLE_FORMATS",
]

#: Output table formats by file extension.
TABLE_FORMATS = {
    ".parquet": "GeoParquet",
    ".geoparquet": "GeoParquet",
    ".csv": "CSV",
    ".gpkg": "GeoPackage",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
}


#: Suffix of the hidden temporary directories :func:`atomic_path` writes in.
PARTIAL_SUFFIX = ".partial"


@contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path for ``path``; move it to ``path`` if the block succeeds.

    The temporary path has the target's own file name (so a writer that looks at the
    extension, or names a layer after the file, sees the real one), inside a hidden
    directory ``.<name>.<random>.partial`` beside the target, so that the final rename
    is atomic. When the block succeeds the file is flushed to disk, given the
    permissions a new file gets (or those of the file it replaces) and renamed over
    the target. When the block raises (``KeyboardInterrupt`` included) the temporary
    directory is removed and the target is untouched. A process killed outright can
    leave the hidden directory behind, never a partial target; :func:`stale_partials`
    finds such leftovers.

    With ``overwrite=False`` an existing target is an error, checked before writing
    and again, atomically, at the rename.

    Examples
    --------
    >>> import tempfile, os
    >>> target = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> open(target).read()
    'done'
    >>> os.listdir(os.path.dirname(target))
    ['out.txt']
    """
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"{target} is a directory; give the output a file name.")
    if not overwrite and (target.exists() or target.is_symlink()):
        raise FileExistsError(f"{target} already exists; pass overwrite=True (or --overwrite) to replace it.")
    directory = target.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"the directory {directory} does not exist; create it first.")
    workdir = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=PARTIAL_SUFFIX, dir=directory))
    tmp = workdir / target.name
    try:
        yield tmp
        if not tmp.is_file():
            raise FileNotFoundError(f"nothing was written for {target}: the writer produced no file.")
        _sync(tmp)
        os.chmod(tmp, _new_file_mode(target))
        _publish(tmp, target, overwrite=overwrite)
        _sync(directory)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def stale_partials(directory: str | os.PathLike) -> list[Path]:
    """The temporary directories a killed writer left in ``directory``.

    Examples
    --------
    >>> import tempfile
    >>> stale_partials(tempfile.mkdtemp())
    []
    """
    return sorted(p for p in Path(directory).glob(f".*{PARTIAL_SUFFIX}") if p.is_dir())


def _publish(tmp: Path, target: Path, *, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)  # fails if the target appeared meanwhile
    except FileExistsError:
        raise FileExistsError(f"{target} appeared while it was being written; it was left as it is.") from None
    except OSError:  # a file system without hard links
        if target.exists():
            raise FileExistsError(f"{target} appeared while it was being written; it was left as it is.") from None
        os.replace(tmp, target)


def _sync(path: Path) -> None:
    """Flush a file (or a directory's entries) to disk, where the platform allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # directories cannot be opened on some platforms
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _new_file_mode(target: Path) -> int:
    """The mode of the file being replaced, or what the umask gives a new file."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    try:
        with open("/proc/self/status") as status:  # read without changing it (thread-safe)
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def _writing(target: Path, what: str) -> Iterator[None]:
    """Turn a failure while writing ``target`` into a :class:`WriteError` that says nothing was written."""
    existed = target.exists()
    try:
        yield
    except (SamplingError, FileExistsError):
        raise
    except Exception as exc:
        left = f"{target} is unchanged" if existed else f"no {target} was created"
        raise WriteError(f"cannot write {what} to {target}: {exc}. Nothing was written ({left}).") from exc


def write_bytes(data: bytes, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically.

    Examples
    --------
    >>> import tempfile, os
    >>> target = write_bytes(b"abc", os.path.join(tempfile.mkdtemp(), "x.bin"))
    >>> target.read_bytes()
    b'abc'
    """
    target = Path(path)
    with _writing(target, f"{len(data)} bytes"), atomic_path(target, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return target


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
    what = f"{len(frame)} rows as {TABLE_FORMATS[target.suffix.lower()]}"
    with _writing(target, what), atomic_path(target, overwrite=overwrite) as tmp:
        writer(frame, tmp)
    return target


def read_regions(path: str | os.PathLike, *, layer: str | int | None = None) -> gpd.GeoDataFrame:
    """Read regions from any vector format GDAL reads, or from (Geo)Parquet; local paths or URLs.

    Examples
    --------
    >>> read_regions("data/example_regions.gpkg").crs.to_epsg()  # doctest: +SKIP
    32618
    """
    from .remote import display_path, gdal_env, gdal_path, is_remote, redact

    text = os.fspath(path)
    if is_remote(text):  # a URL: GDAL reads it, as it reads remote rasters
        try:
            with gdal_env():
                return gpd.read_file(gdal_path(text), layer=layer)
        except Exception as exc:
            raise VectorReadError(f"cannot read regions from {display_path(text)}: {redact(str(exc))}") from None
    p = Path(path)
    if not p.exists():
        raise VectorReadError(f"regions file {path} does not exist. Check the path.")
    try:
        if p.suffix.lower() in (".parquet", ".geoparquet"):
            return gpd.read_parquet(p)
        return gpd.read_file(p, layer=layer) if layer is not None else gpd.read_file(p)
    except Exception as exc:
        raise VectorReadError(f"cannot read regions from {path}: {exc}") from None


@contextmanager
def atomic_directory(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a new empty directory beside ``path``; move it to ``path`` if the block succeeds.

    For outputs that are directories (partitioned datasets written by several
    processes). The temporary directory is hidden (``.<name>.<random>.partial``, found by
    :func:`stale_partials` if a killed process leaves it) and removed if the block
    raises. With ``overwrite``, an existing ``path`` is replaced only once the new
    directory is complete.

    Examples
    --------
    >>> import tempfile, os
    >>> target = os.path.join(tempfile.mkdtemp(), "dataset")
    >>> with atomic_directory(target) as tmp:
    ...     _ = (tmp / "part.0.txt").write_text("done")
    >>> os.listdir(target)
    ['part.0.txt']
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"{target} is a file; a dataset is written as a directory. Choose another name.")
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists; pass overwrite=True (or --overwrite) to replace it.")
    directory = target.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"the directory {directory} does not exist; create it first.")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=PARTIAL_SUFFIX, dir=directory))
    try:
        yield tmp
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=PARTIAL_SUFFIX, dir=directory))
            os.replace(target, old / target.name)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
        _sync(directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
