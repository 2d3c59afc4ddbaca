"""Every output appears complete or not at all, whatever goes wrong while it is written.

Faults injected: an exception in the middle of a write (after megabytes were written), KeyboardInterrupt,
SIGINT, SIGTERM and SIGKILL to the command line mid-write, a full disk (a 1 MiB tmpfs), a target that
appears during the write, a directory in the target's place. After each: no partial target, an existing
target byte-for-byte unchanged, and no temporary file left behind (except after SIGKILL, which no
process can clean up after: then only a hidden ``.partial`` directory remains, never a partial target).
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner
from PIL import Image as PILImage
from shapely import box

from sampling import Image, sample_regions
from sampling.cli import main
from sampling.errors import WriteError
from sampling.io import atomic_path, stale_partials, write_bytes, write_table

from .conftest import EXAMPLE_DATA, REPO, coded

UTM = "EPSG:32618"
T = Affine(10, 0, 500000, 0, -10, 4000000)
OLD = b"the previous, complete output\n"


@pytest.fixture
def table() -> gpd.GeoDataFrame:
    img = Image.from_array(coded(40, 40, "uint16"), T, UTM, bands=["v"])
    fields = gpd.GeoDataFrame({"name": ["a", "b"]}, geometry=[box(500000, 3999700, 500300, 4000000),
                                                               box(500100, 3999600, 500400, 3999900)], crs=UTM)
    return sample_regions(img, fields, geometries=True)


def read_back(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path)
    return gpd.read_parquet(path) if path.suffix == ".parquet" else gpd.read_file(path)


def only(directory: Path) -> list[str]:
    """Every entry of ``directory``, hidden ones included."""
    return sorted(p.name for p in directory.iterdir())


# -- every format, written atomically --------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".gpkg", ".geojson"])
def test_every_table_format_is_written_whole_with_ordinary_permissions(tmp_path, table, suffix):
    target = tmp_path / f"out{suffix}"
    old_umask = os.umask(0o022)
    try:
        write_table(table, target)
    finally:
        os.umask(old_umask)
    assert only(tmp_path) == [target.name]
    assert target.stat().st_mode & 0o777 == 0o644  # not the 0600 of a temporary file
    back = read_back(target)
    assert len(back) == len(table)
    assert back["v"].tolist() == table["v"].tolist()


def test_replacing_a_file_keeps_its_permissions(tmp_path, table):
    target = tmp_path / "out.parquet"
    target.write_bytes(OLD)
    target.chmod(0o640)
    write_table(table, target)
    assert target.stat().st_mode & 0o777 == 0o640
    assert len(gpd.read_parquet(target)) == len(table)


def _png() -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(np.arange(48, dtype="uint8").reshape(4, 4, 3)).save(buffer, format="PNG")
    return buffer.getvalue()


def _npy() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, coded(3, 5, "int64"))
    return buffer.getvalue()


def _geotiff() -> bytes:
    with rasterio.io.MemoryFile() as memory:
        with memory.open(driver="GTiff", width=5, height=3, count=1, dtype="int32", crs=UTM, transform=T) as dst:
            dst.write(coded(3, 5))
        return memory.read()


@pytest.mark.parametrize("make", [_png, _npy, _geotiff], ids=["png", "npy", "geotiff"])
def test_bytes_outputs_are_written_whole(tmp_path, make):
    data = make()
    target = write_bytes(data, tmp_path / "pixels.bin")
    assert target.read_bytes() == data
    assert only(tmp_path) == ["pixels.bin"]


def test_writers_that_need_the_real_file_name_get_it(tmp_path):
    """The temporary path has the target's name, so np.save adds no '.npy' and drivers see the extension."""
    with atomic_path(tmp_path / "pixels.npy") as tmp:
        assert tmp.name == "pixels.npy" and tmp.parent.parent == tmp_path
        np.save(tmp, coded(3, 5, "int64"))
    with atomic_path(tmp_path / "pixels.tif") as tmp:
        with rasterio.open(tmp, "w", driver="GTiff", width=5, height=3, count=1, dtype="int32", crs=UTM,
                           transform=T) as dst:
            dst.write(coded(3, 5))
    assert only(tmp_path) == ["pixels.npy", "pixels.tif"]
    np.testing.assert_array_equal(np.load(tmp_path / "pixels.npy"), coded(3, 5, "int64"))
    with rasterio.open(tmp_path / "pixels.tif") as ds:
        np.testing.assert_array_equal(ds.read(), coded(3, 5))


def test_the_library_writes_files_only_through_atomic_path():
    """No module writes a file directly: every write goes through sampling.io."""
    direct = re.compile(
        r"\.to_(parquet|csv|file|feather)\(|np\.save\(|\.write_(bytes|text)\(|rasterio\.open\([^)]*[\"']w"
        r"|open\([^)]*[\"'](w|wb|a|ab|x|xb)[\"']"
    )
    allowed = {
        ("io.py", None),
        ("dataset.py", 'open(target / _LOCK, "a")'),  # the lock file holds no data
        ("encode.py", "np.save(buffer,"),  # into memory; the bytes go out through write_bytes
        ("cluster.py", "result.to_parquet(tmp,"),  # the workers write into io.atomic_directory's directory
    }
    offenders = []
    for path in sorted((REPO / "sampling").glob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            code = line.split("#")[0]
            if direct.search(code) and (path.name, None) not in allowed and not any(
                path.name == name and snippet and snippet in code for name, snippet in allowed
            ):
                if ">>>" not in line and "..." not in line:  # doctests write where they like
                    offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert not offenders, "write through sampling.io.atomic_path / write_bytes / write_table:\n" + "\n".join(offenders)


# -- faults while writing --------------------------------------------------------------------------


class _FailsAfter:
    """A cell whose text fails after ``n`` conversions: a CSV writer fails megabytes into the file."""

    calls = 0

    def __init__(self, n: int) -> None:
        self.n = n

    def __str__(self) -> str:
        _FailsAfter.calls += 1
        if _FailsAfter.calls > self.n:
            raise OSError("the disk went away")
        return "x"


@pytest.mark.parametrize("existing", [False, True], ids=["new", "replacing"])
def test_an_exception_mid_write_leaves_nothing_and_keeps_the_old_file(tmp_path, existing):
    target = tmp_path / "out.csv"
    if existing:
        target.write_bytes(OLD)
    _FailsAfter.calls = 0
    cell = _FailsAfter(150_000)
    frame = pd.DataFrame({"a": range(200_000), "b": [cell] * 200_000})
    with pytest.raises(WriteError, match=rf"cannot write 200000 rows as CSV to {target}: the disk went away\. "
                                         rf"Nothing was written \({'.* is unchanged' if existing else 'no .* was'}"):
        write_table(frame, target)
    assert _FailsAfter.calls > 150_000  # it did fail mid-stream, after writing most of the rows
    assert only(tmp_path) == (["out.csv"] if existing else [])
    if existing:
        assert target.read_bytes() == OLD


def test_keyboard_interrupt_mid_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(OLD)
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half of the new out")
            raise KeyboardInterrupt
    assert only(tmp_path) == ["out.bin"]
    assert target.read_bytes() == OLD


def test_a_target_that_appears_during_the_write_is_not_clobbered(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(FileExistsError, match="appeared while it was being written"):
        with atomic_path(target, overwrite=False) as tmp:
            tmp.write_bytes(b"ours")
            target.write_bytes(b"another process's")  # between the check and the rename
    assert target.read_bytes() == b"another process's"
    assert only(tmp_path) == ["out.bin"]


def test_a_directory_in_the_targets_place(tmp_path, table):
    (tmp_path / "out.parquet").mkdir()
    with pytest.raises(WriteError, match="is a directory; give the output a file name"):
        write_table(table, tmp_path / "out.parquet")


def test_a_missing_output_directory(tmp_path, table):
    with pytest.raises(WriteError, match="does not exist; create it first"):
        write_table(table, tmp_path / "nowhere" / "out.parquet")


def test_a_table_that_parquet_cannot_hold(tmp_path, table):
    bad = table.rename(columns={"v": 7})
    with pytest.raises(WriteError, match=r"requires string column names\. Nothing was written"):
        write_table(bad, tmp_path / "out.parquet")
    assert only(tmp_path) == []


@pytest.fixture
def tiny_disk():
    """A 1 MiB tmpfs: a real full disk. Needs root (or CAP_SYS_ADMIN); skipped otherwise."""
    mountpoint = Path(f"/tmp/sampling-full-disk-{uuid.uuid4().hex[:8]}")
    mountpoint.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mountpoint)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        mountpoint.rmdir()
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)
        mountpoint.rmdir()


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".gpkg"])
def test_a_full_disk_leaves_nothing_and_keeps_the_old_file(tiny_disk, suffix):
    rng = np.random.default_rng(0)
    big = pd.DataFrame({"noise": rng.random(200_000), "label": rng.integers(0, 1 << 40, 200_000)})
    big = gpd.GeoDataFrame(big, geometry=gpd.points_from_xy(big["noise"], big["noise"]), crs=UTM)
    target = tiny_disk / f"samples{suffix}"
    target.write_bytes(OLD)
    with pytest.raises(WriteError, match=rf"cannot write 200000 rows .* to {target}: .*"
                                         rf"(No space left on device|disk is full|database or disk is full).*"
                                         rf"{target} is unchanged"):
        write_table(big, target)
    assert only(tiny_disk) == [target.name]  # the temporary file was removed, freeing the space
    assert target.read_bytes() == OLD
    write_table(big.head(100), target)  # and the disk is usable again
    assert len(read_back(target)) == 100


# -- the command line: --overwrite and signals -------------------------------------------------------


def test_cli_refuses_to_replace_an_output_without_overwrite(tmp_path):
    target = tmp_path / "samples.csv"
    target.write_bytes(OLD)
    args = ["sample-regions", str(EXAMPLE_DATA / "example.tif"), str(EXAMPLE_DATA / "example_regions.gpkg"),
            "-o", str(target)]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 2
    assert f"{target} already exists; pass --overwrite to replace it." in refused.output
    assert target.read_bytes() == OLD
    replaced = CliRunner().invoke(main, [*args, "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert len(pd.read_csv(target)) == 1523
    assert only(tmp_path) == ["samples.csv"]


def test_cli_output_that_is_a_directory(tmp_path):
    args = ["sample-regions", str(EXAMPLE_DATA / "example.tif"), str(EXAMPLE_DATA / "example_regions.gpkg"),
            "-o", str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "is a directory: give a file name, or --partition-size N to write a dataset" in result.output


@pytest.fixture(scope="module")
def big_job(tmp_path_factory):
    """A raster and a region whose CSV takes seconds to write: time to interrupt it."""
    directory = tmp_path_factory.mktemp("big")
    raster = directory / "big.tif"
    with rasterio.open(raster, "w", driver="GTiff", width=1500, height=1500, count=2, dtype="uint16", crs=UTM,
                       transform=T, tiled=True, blockxsize=256, blockysize=256) as dst:
        dst.write(np.random.default_rng(1).integers(1, 60000, (2, 1500, 1500), dtype="uint16"))
    regions = directory / "all.geojson"
    gpd.GeoDataFrame({"name": ["everything"]}, geometry=[box(500000, 3985000, 515000, 4000000)], crs=UTM).to_file(
        regions)
    return raster, regions


def _run_and_signal(big_job, target: Path, signum: int) -> subprocess.CompletedProcess:
    """Start the CLI writing ``target``, send ``signum`` once the new file is being written, wait for the end."""
    raster, regions = big_job
    child = subprocess.Popen(
        [sys.executable, "-m", "sampling", "sample-regions", str(raster), str(regions), "-o", str(target),
         "--overwrite"],
        env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        partial = [p for d in stale_partials(target.parent) for p in d.iterdir() if p.stat().st_size > 100_000]
        if partial:
            break
        time.sleep(0.01)
    else:
        child.kill()
        pytest.fail(f"the CLI never started writing (or finished first): {child.communicate()[1][-500:]}")
    child.send_signal(signum)
    out, err = child.communicate(timeout=60)
    return subprocess.CompletedProcess(child.args, child.returncode, out, err)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 1), (signal.SIGTERM, 128 + signal.SIGTERM)],
                         ids=["SIGINT", "SIGTERM"])
def test_cli_interrupted_mid_write_leaves_the_old_file_and_nothing_else(tmp_path, big_job, signum, code):
    target = tmp_path / "samples.csv"
    target.write_bytes(OLD)
    done = _run_and_signal(big_job, target, signum)
    assert done.returncode == code, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert target.read_bytes() == OLD
    assert only(tmp_path) == ["samples.csv"]


def test_cli_killed_mid_write_never_leaves_a_partial_output(tmp_path, big_job):
    target = tmp_path / "samples.csv"
    target.write_bytes(OLD)
    done = _run_and_signal(big_job, target, signal.SIGKILL)
    assert done.returncode == -signal.SIGKILL
    assert target.read_bytes() == OLD  # no process can clean up after SIGKILL: the target is still whole
    leftovers = stale_partials(tmp_path)
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".samples.csv.")  # hidden, and findable
