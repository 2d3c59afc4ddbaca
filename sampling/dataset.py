"""Resumable datasets: ``sample_regions`` streamed to a directory of GeoParquet parts.

A long extraction is split into partitions of consecutive regions. Each partition's
rows go to their own GeoParquet file, ``part-00000.parquet``, ``part-00001.parquet``
..., written atomically (:func:`sampling.io.atomic_path`); a small manifest,
``_manifest.json``, records what the dataset is made of (a fingerprint of the
regions, the image and the options) and, once every part is written, that it is
complete and how many rows each part holds.

Killed at any moment (a crash, an out-of-memory kill, a reboot), the directory holds
only complete parts. Run again with ``resume=True`` and the finished parts are
skipped, the others written; the fingerprint guarantees the parts all come from the
same inputs. The finished dataset holds every row of ``sample_regions(...)`` exactly
once, in the same order, and :func:`read_dataset` returns exactly that frame. The
parts are ordinary GeoParquet files that any Parquet reader can read as one dataset
(files whose names start with ``_`` or ``.`` are not data, by the usual convention).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import shutil
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import shapely

from .errors import DatasetError
from .grid import PixelGrid, as_crs
from .image import ArraySource, FileSource, Image, PathLike, as_image
from .io import stale_partials, write_bytes, write_table
from .regions import as_regions, validate_regions
from .sample_regions import sample_regions

__all__ = ["sample_regions_to_dataset", "read_dataset", "DatasetSummary", "DEFAULT_PARTITION_SIZE"]

#: Regions per partition when none is given.
DEFAULT_PARTITION_SIZE = 1000

MANIFEST = "_manifest.json"
_LOCK = ".lock"
_FORMAT = "sampling.dataset"
_VERSION = 1
_PART = "part-{:05d}.parquet"
_EMPTY_WARNINGS = r"the (regions lie entirely outside the image|result is empty)"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetSummary:
    """What :func:`sample_regions_to_dataset` did.

    ``written`` partitions were written by this call, ``skipped`` were found finished
    (by an earlier, interrupted call); ``rows`` counts the rows of the whole dataset.
    """

    directory: Path
    partitions: int
    written: int
    skipped: int
    rows: int


def sample_regions_to_dataset(
    image: Image | PathLike | Sequence[PathLike],
    regions: Any,
    directory: str | os.PathLike,
    *,
    partition_size: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    properties: Sequence[str] | None = None,
    scale: float | None = None,
    projection: Any = None,
    tile_scale: float = 1,
    geometries: bool = False,
    drop_masked: bool = True,
    feature_ids: bool = False,
) -> DatasetSummary:
    """Run :func:`~sampling.sample_regions` partition by partition into a resumable dataset.

    Parameters
    ----------
    image, regions, properties, scale, projection, tile_scale, geometries, drop_masked, feature_ids
        As for :func:`~sampling.sample_regions`. The regions are checked in full before
        any work starts.
    directory
        The dataset directory; created if missing (its parent must exist).
    partition_size
        Regions per partition (default :data:`DEFAULT_PARTITION_SIZE`, or the dataset's
        own when resuming). A partition's rows are held in memory while it is written.
    resume
        Finish a dataset an earlier call started: skip its finished parts, write the
        rest. The regions, image and options must be the same.
    overwrite
        Delete an existing dataset in ``directory`` and start again.

    Returns
    -------
    DatasetSummary

    Examples
    --------
    >>> import tempfile, numpy as np, geopandas as gpd
    >>> from affine import Affine
    >>> from shapely import box
    >>> img = Image.from_array(np.arange(16, dtype="uint16").reshape(4, 4), Affine(10, 0, 0, 0, -10, 40), 32618)
    >>> fields = gpd.GeoDataFrame({"id": [1, 2, 3]}, crs=32618,
    ...                           geometry=[box(0, 20, 20, 40), box(20, 0, 40, 20), box(0, 0, 10, 10)])
    >>> out = tempfile.mkdtemp() + "/samples"
    >>> sample_regions_to_dataset(img, fields, out, partition_size=2)
    DatasetSummary(directory=PosixPath('...samples'), partitions=2, written=2, skipped=0, rows=9)
    >>> read_dataset(out).equals(sample_regions(img, fields))
    True
    """
    image = as_image(image)
    frame = validate_regions(as_regions(regions))
    if feature_ids and not frame.index.is_unique:
        raise DatasetError(
            "feature ids need unique region labels; call `regions.reset_index(drop=True)` (or set a unique "
            "index) first."
        )
    target = Path(directory)
    options = {
        "properties": None if properties is None else list([properties] if isinstance(properties, str) else properties),
        "scale": scale,
        "projection": _describe_projection(projection),
        "geometries": bool(geometries),
        "drop_masked": bool(drop_masked),
        "feature_ids": bool(feature_ids),
    }
    with _locked(target):
        manifest = _start(target, frame, image, options, partition_size, resume=resume, overwrite=overwrite)
        size = manifest["partition_size"]
        count = manifest["partitions"]
        rows: list[int] = []
        written = skipped = 0
        for k in range(count):
            part = target / _PART.format(k)
            finished = _rows_in(part)
            if finished is not None:
                rows.append(finished)
                skipped += 1
                continue
            chunk = frame.iloc[k * size : (k + 1) * size]
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=_EMPTY_WARNINGS)
                result = sample_regions(
                    image, chunk, properties=properties, scale=scale, projection=projection,
                    tile_scale=tile_scale, geometries=geometries, drop_masked=drop_masked,
                    feature_ids=feature_ids,
                )
            write_table(result, part)
            rows.append(len(result))
            written += 1
            log.info("%s: partition %d of %d written (%d rows)", target, k + 1, count, len(result))
        manifest.update(complete=True, rows=rows, band_order=image.band_names)
        _write_manifest(target, manifest)
    total = int(sum(rows))
    if total == 0:
        warnings.warn(
            f"the dataset {target} is empty: no region selected an unmasked pixel. Check that the regions "
            "overlap the image and that its CRS is right.",
            stacklevel=2,
        )
    return DatasetSummary(target, count, written, skipped, total)


def read_dataset(directory: str | os.PathLike) -> gpd.GeoDataFrame:
    """Read a complete dataset written by :func:`sample_regions_to_dataset` as one frame.

    The frame equals what :func:`~sampling.sample_regions` returns for the same inputs.
    An incomplete dataset is an error that says how to finish it.
    """
    target = Path(directory)
    manifest = _read_manifest(target)
    if manifest is None:
        raise DatasetError(f"{target} is not a dataset written by sampling (it has no {MANIFEST}).")
    if not manifest.get("complete"):
        done = sum(1 for k in range(manifest["partitions"]) if _rows_in(target / _PART.format(k)) is not None)
        raise DatasetError(
            f"the dataset {target} is incomplete: {done} of {manifest['partitions']} partitions are written. "
            "Finish it with resume=True (`--resume`) and the same inputs."
        )
    parts = [gpd.read_parquet(target / _PART.format(k)) for k in range(manifest["partitions"])]
    non_empty = [p for p in parts if len(p)] or parts[:1]
    result = non_empty[0] if len(non_empty) == 1 else pd.concat(non_empty)
    result.attrs["band_order"] = list(manifest["band_order"])
    return result


# -- starting or resuming ------------------------------------------------------------


def _start(
    target: Path,
    frame: gpd.GeoDataFrame,
    image: Image,
    options: dict,
    partition_size: int | None,
    *,
    resume: bool,
    overwrite: bool,
) -> dict:
    """Prepare ``target`` and return its manifest: a new one, or the one being resumed."""
    fingerprint = {"regions": _hash_regions(frame), "image": _hash_image(image), "options": _hash(options)}
    try:
        existing = _read_manifest(target)
    except DatasetError:
        if not overwrite:
            raise
        existing = None  # a damaged manifest: overwriting clears it
    if existing is not None and resume and not overwrite:
        size = existing["partition_size"] if partition_size is None else _check_size(partition_size)
        changed = [k for k, v in fingerprint.items() if existing["fingerprint"].get(k) != v]
        if size != existing["partition_size"]:
            changed.append("partition size")
        if changed:
            raise DatasetError(
                f"cannot resume {target}: its {' and '.join(changed)} {'differ' if len(changed) > 1 else 'differs'} "
                "from this call's. Resume with the "
                "same regions, image and options, or start again with overwrite=True (`--overwrite`)."
            )
        _warn_if_files_changed(target, existing, image)
        for leftover in stale_partials(target):
            shutil.rmtree(leftover, ignore_errors=True)
        return existing
    if existing is not None and not overwrite:
        raise DatasetError(
            f"{target} already holds a dataset; pass resume=True (`--resume`) to finish it or "
            "overwrite=True (`--overwrite`) to start again."
        )
    _clear(target, overwrite=overwrite)
    size = _check_size(DEFAULT_PARTITION_SIZE if partition_size is None else partition_size)
    manifest = {
        "format": _FORMAT,
        "version": _VERSION,
        "complete": False,
        "regions": len(frame),
        "partition_size": size,
        "partitions": max(1, math.ceil(len(frame) / size)),
        "fingerprint": fingerprint,
        "files": _file_states(image),
    }
    _write_manifest(target, manifest)
    return manifest


def _clear(target: Path, *, overwrite: bool) -> None:
    """Empty ``target`` of a previous dataset (with ``overwrite``); refuse to touch anything else."""
    entries = [p for p in target.iterdir() if p.name != _LOCK]
    if not entries:
        return
    leftovers = set(stale_partials(target))
    foreign = sorted(
        p.name for p in entries
        if not (p.name == MANIFEST or (p.name.startswith("part-") and p.suffix == ".parquet") or p in leftovers)
    )
    if foreign:
        raise DatasetError(
            f"{target} holds files that are not part of a dataset ({', '.join(foreign[:5])}"
            f"{' ...' if len(foreign) > 5 else ''}); give a new or empty directory."
        )
    if not overwrite:
        raise DatasetError(
            f"{target} holds parts of a dataset but no manifest; pass overwrite=True (`--overwrite`) to "
            "start again."
        )
    (target / MANIFEST).unlink(missing_ok=True)  # first, so a crash below leaves nothing that looks valid
    for p in entries:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def _check_size(partition_size: Any) -> int:
    if isinstance(partition_size, bool) or not isinstance(partition_size, (int, np.integer)) or partition_size < 1:
        raise DatasetError(f"partition_size must be a positive whole number of regions, got {partition_size!r}.")
    return int(partition_size)


def _rows_in(part: Path) -> int | None:
    """The rows of a finished part, or None when it is missing or unreadable (to be written again)."""
    if not part.is_file():
        return None
    try:
        return int(pq.read_metadata(part).num_rows)
    except Exception:  # a damaged file (e.g. a disk that lost data): write it again
        log.warning("%s is unreadable and will be written again", part)
        return None


# -- manifest and lock -----------------------------------------------------------------


def _read_manifest(target: Path) -> dict | None:
    path = target / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(f"the manifest {path} cannot be read ({exc}); start again with overwrite=True.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
        raise DatasetError(f"{path} is not a manifest written by sampling.")
    if manifest.get("version") != _VERSION:
        raise DatasetError(
            f"{path} was written by another version of sampling (format {manifest.get('version')}); start "
            "again with overwrite=True."
        )
    return manifest


def _write_manifest(target: Path, manifest: dict) -> None:
    write_bytes(json.dumps(manifest, indent=1).encode(), target / MANIFEST)


@contextlib.contextmanager
def _locked(target: Path) -> Iterator[None]:
    """Create ``target`` if needed and hold an exclusive lock on it (released even if the process dies)."""
    if target.exists() and not target.is_dir():
        raise DatasetError(f"{target} is a file; a dataset is a directory. Give a directory path.")
    if not target.parent.is_dir():
        raise DatasetError(f"the directory {target.parent} does not exist; create it first.")
    target.mkdir(exist_ok=True)
    with open(target / _LOCK, "a") as handle:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            yield
            return
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise DatasetError(f"another process is writing the dataset {target}; wait for it to finish.") from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# -- fingerprints ------------------------------------------------------------------------


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _hash_regions(frame: gpd.GeoDataFrame) -> str:
    """A digest of the regions: geometries, CRS, index labels and properties."""
    digest = hashlib.sha256()
    digest.update(as_crs(frame.crs).to_wkt().encode())
    for wkb in shapely.to_wkb(np.asarray(frame.geometry.values, dtype=object)):
        digest.update(wkb)
    table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    try:
        digest.update(pd.util.hash_pandas_object(table, index=True).to_numpy().tobytes())
    except TypeError:  # unhashable cells (lists, dicts): fall back to their text
        digest.update(table.to_json(default_handler=str).encode())
    digest.update(repr(list(table.columns)).encode())
    return digest.hexdigest()


def _hash_image(image: Image) -> str:
    """A digest of what the image is: bands, their sources' paths (or pixels), grids, dtypes, nodata."""
    parts = []
    for band in image.bands:
        source = band.source
        if isinstance(source, FileSource):
            origin = source.path
        elif isinstance(source, ArraySource):
            origin = hashlib.sha256(np.ascontiguousarray(source.array).tobytes()).hexdigest()
        else:
            origin = source.name
        grid = source.grid
        parts.append([band.name, origin, band.index, grid.crs.to_wkt(), list(grid.transform)[:6],
                      list(grid.shape or ()), str(band.dtype), repr(band.nodata)])
    return _hash(parts)


def _describe_projection(projection: Any) -> Any:
    if projection is None:
        return None
    if isinstance(projection, PixelGrid):
        return {"crs": projection.crs.to_wkt(), "transform": list(projection.transform)[:6]}
    return as_crs(projection, what="projection").to_wkt()


def _file_states(image: Image) -> dict[str, list[int]]:
    """Size and modification time of each local file behind the image."""
    states = {}
    for source in image.sources:
        if isinstance(source, FileSource) and os.path.isfile(source.path):
            info = os.stat(source.path)
            states[source.path] = [info.st_size, info.st_mtime_ns]
    return states


def _warn_if_files_changed(target: Path, manifest: dict, image: Image) -> None:
    before = manifest.get("files", {})
    changed = [path for path, state in _file_states(image).items() if path in before and before[path] != state]
    if changed:
        warnings.warn(
            f"{', '.join(changed)} changed since the dataset {target} was started; its finished parts were "
            "read from the earlier file(s). If the pixels changed (not only the file, e.g. after a repaired "
            "download), start again with overwrite=True.",
            stacklevel=4,
        )
