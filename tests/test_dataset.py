"""Resumable datasets survive faults: killed and resumed, they hold every row of sample_regions exactly once."""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from click.testing import CliRunner
from shapely import box

from sampling import GeometryError, Image, RasterReadError, sample_regions
from sampling.cli import main
from sampling.dataset import MANIFEST, read_dataset, sample_regions_to_dataset
from sampling.errors import DatasetError
from sampling.io import stale_partials
from sampling.selection import select_pixels

from .conftest import EXAMPLE_DATA, REPO

EXAMPLE = EXAMPLE_DATA / "example.tif"


@pytest.fixture(scope="module")
def fields() -> gpd.GeoDataFrame:
    return gpd.read_file(EXAMPLE_DATA / "example_regions.gpkg")


@pytest.fixture(scope="module")
def many_fields(tmp_path_factory) -> Path:
    """300 small fields over the example scene (a long job in many partitions), labelled 1000, 1001, ..."""
    rng = np.random.default_rng(3)
    x = rng.uniform(500000, 503100, 300)
    y = rng.uniform(4197700, 4199900, 300)
    size = rng.uniform(15, 90, 300)
    frame = gpd.GeoDataFrame(
        {"plot": [f"p{k}" for k in range(300)], "weight": rng.random(300)},
        geometry=[box(a, b, a + s, b + s) for a, b, s in zip(x, y, size, strict=True)],
        crs="EPSG:32618", index=pd.RangeIndex(1000, 1300, name="fid"),
    )
    path = tmp_path_factory.mktemp("regions") / "many.parquet"
    frame.to_parquet(path)
    return path


def parts(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("part-*.parquet"))


@pytest.mark.parametrize("partition_size", [1, 5, 12, 1000])
def test_a_dataset_equals_sample_regions(tmp_path, fields, partition_size):
    summary = sample_regions_to_dataset(EXAMPLE, fields, tmp_path / "ds", partition_size=partition_size)
    expected = sample_regions(EXAMPLE, fields)
    assert summary.partitions == -(-len(fields) // partition_size)
    assert (summary.written, summary.skipped, summary.rows) == (summary.partitions, 0, len(expected))
    got = read_dataset(tmp_path / "ds")
    pd.testing.assert_frame_equal(got, expected)
    assert got.attrs["band_order"] == ["blue", "green", "red", "nir"]
    assert got.crs == expected.crs


def test_options_pass_through(tmp_path, fields):
    options = dict(properties=["class"], geometries=True, drop_masked=False, feature_ids=True, scale=20)
    sample_regions_to_dataset(EXAMPLE, fields, tmp_path / "ds", partition_size=4, **options)
    pd.testing.assert_frame_equal(read_dataset(tmp_path / "ds"), sample_regions(EXAMPLE, fields, **options))


def test_the_parts_are_one_ordinary_geoparquet_dataset(tmp_path, fields):
    sample_regions_to_dataset(EXAMPLE, fields, tmp_path / "ds", partition_size=5)
    whole = gpd.read_parquet(tmp_path / "ds")  # any Parquet reader: '_manifest.json' and '.lock' are skipped
    assert len(whole) == 1523
    assert sorted(whole["nir"]) == sorted(sample_regions(EXAMPLE, fields)["nir"])


def test_an_existing_dataset_needs_resume_or_overwrite(tmp_path, fields):
    target = tmp_path / "ds"
    sample_regions_to_dataset(EXAMPLE, fields, target, partition_size=5)
    with pytest.raises(DatasetError, match=r"already holds a dataset; pass resume=True .* or overwrite=True"):
        sample_regions_to_dataset(EXAMPLE, fields, target, partition_size=5)
    again = sample_regions_to_dataset(EXAMPLE, fields, target, resume=True)  # the size comes from the manifest
    assert (again.written, again.skipped, again.rows) == (0, 3, 1523)
    fresh = sample_regions_to_dataset(EXAMPLE, fields.iloc[:4], target, partition_size=2, overwrite=True)
    assert (fresh.partitions, fresh.written) == (2, 2)
    assert parts(target) == ["part-00000.parquet", "part-00001.parquet"]  # the old third part is gone
    pd.testing.assert_frame_equal(read_dataset(target), sample_regions(EXAMPLE, fields.iloc[:4]))


@pytest.mark.parametrize(
    ("change", "what"),
    [
        (dict(regions=lambda f: f.iloc[:-1]), "regions"),
        (dict(regions=lambda f: f.assign(**{"class": "x"})), "regions"),
        (dict(image=lambda: Image.open(EXAMPLE).select(["red", "nir"])), "image"),
        (dict(options={"scale": 20}), "options"),
        (dict(options={"partition_size": 3}), "partition size"),
    ],
)
def test_resuming_with_other_inputs_is_refused(tmp_path, fields, change, what):
    target = tmp_path / "ds"
    sample_regions_to_dataset(EXAMPLE, fields.iloc[:5], target, partition_size=2)
    (target / "part-00001.parquet").unlink()  # as if interrupted
    regions = change.get("regions", lambda f: f)(fields.iloc[:5])
    image = change.get("image", lambda: EXAMPLE)()
    options = {"partition_size": 2, **change.get("options", {})}
    with pytest.raises(DatasetError, match=rf"cannot resume {target}: its {what} differs? from this call's"):
        sample_regions_to_dataset(image, regions, target, resume=True, **options)
    assert parts(target) == ["part-00000.parquet", "part-00002.parquet"]  # nothing was touched


def test_a_directory_of_other_files_is_left_alone(tmp_path, fields):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match=r"holds files that are not part of a dataset \(notes.txt\)"):
        sample_regions_to_dataset(EXAMPLE, fields, tmp_path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "notes.txt"]


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path, fields):
    target = tmp_path / "ds"
    target.mkdir()
    with open(target / ".lock", "a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(DatasetError, match="another process is writing the dataset"):
            sample_regions_to_dataset(EXAMPLE, fields, target)
    assert sample_regions_to_dataset(EXAMPLE, fields, target).rows == 1523  # released: fine


def test_reading_an_incomplete_dataset_says_how_to_finish_it(tmp_path, fields):
    target = tmp_path / "ds"
    sample_regions_to_dataset(EXAMPLE, fields, target, partition_size=5)
    manifest = json.loads((target / MANIFEST).read_text())
    (target / MANIFEST).write_text(json.dumps({**manifest, "complete": False}))
    (target / "part-00001.parquet").unlink()
    with pytest.raises(DatasetError, match=r"incomplete: 2 of 3 partitions are written.*resume=True"):
        read_dataset(target)
    with pytest.raises(DatasetError, match="not a dataset written by sampling"):
        read_dataset(tmp_path)


def test_feature_ids_need_unique_labels(tmp_path, fields):
    with pytest.raises(DatasetError, match="feature ids need unique region labels"):
        sample_regions_to_dataset(EXAMPLE, pd.concat([fields, fields]), tmp_path / "ds", feature_ids=True)


def test_an_empty_dataset(tmp_path, fields):
    far = fields.translate(1e6, 0)
    with pytest.warns(UserWarning, match="the dataset .* is empty"):
        summary = sample_regions_to_dataset(EXAMPLE, far, tmp_path / "ds", partition_size=5)
    assert summary.rows == 0
    with pytest.warns(UserWarning, match="entirely outside the image"):
        expected = sample_regions(EXAMPLE, far)
    pd.testing.assert_frame_equal(read_dataset(tmp_path / "ds"), expected)


def test_a_bad_region_fails_before_any_part_is_written(tmp_path, fields):
    broken = fields.copy()
    broken.loc[broken.index[-1], "geometry"] = None
    with pytest.raises(GeometryError, match=r"rows \[11\] have no geometry"):
        sample_regions_to_dataset(EXAMPLE, broken, tmp_path / "ds", partition_size=1)
    assert not (tmp_path / "ds").exists()


# -- faults: an exception mid-run, SIGKILL, damaged parts ------------------------------------------------------


def test_a_read_error_mid_run_keeps_the_finished_parts_and_resume_completes(tmp_path, fields):
    """A block of the raster is damaged: the run stops at the first partition that needs it."""
    good = tmp_path / "scene.tif"
    good.write_bytes(EXAMPLE.read_bytes())
    image = Image.open(good)
    later = select_pixels(np.asarray(fields.geometry.values[7:8]), image.grid)  # the eighth field's first pixel
    block_row, block_col = int(later.rows[0]) // 64, int(later.cols[0]) // 64
    with rasterio.open(good) as ds:
        offset = int(ds.get_tag_item(f"BLOCK_OFFSET_{block_col}_{block_row}", "TIFF", bidx=1))
        size = int(ds.get_tag_item(f"BLOCK_SIZE_{block_col}_{block_row}", "TIFF", bidx=1))
    damaged = bytearray(good.read_bytes())
    damaged[offset : offset + size] = b"\xff" * size
    raster = tmp_path / "scene_copy.tif"
    raster.write_bytes(bytes(damaged))
    target = tmp_path / "ds"
    rows = f"rows {block_row * 64}-{min(block_row * 64 + 63, 239)}"
    with pytest.raises(RasterReadError, match=rf"cannot read {raster} \({rows}, columns {block_col * 64}-"):
        sample_regions_to_dataset(raster, fields, target, partition_size=1)
    finished = parts(target)
    assert len(finished) == 7  # the first seven fields do not touch the damaged block
    assert stale_partials(target) == []
    raster.write_bytes(good.read_bytes())  # fetched again
    time.sleep(0.01)
    os.utime(raster)
    with pytest.warns(UserWarning, match=r"scene_copy.tif changed since the dataset .* was started"):
        summary = sample_regions_to_dataset(raster, fields, target, resume=True)
    assert summary.skipped == len(finished) and summary.written == len(fields) - len(finished)
    pd.testing.assert_frame_equal(read_dataset(target), sample_regions(good, fields))


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "sampling", "sample-regions", *args]


def _kill_after(command: list[str], target: Path, parts_at_least: int) -> int:
    """Run ``command`` and SIGKILL it once ``target`` holds enough new parts; return how many it had."""
    before = len(parts(target)) if target.exists() else 0
    child = subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(REPO)},
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while child.poll() is None and time.monotonic() < deadline:
        if target.exists() and len(parts(target)) >= before + parts_at_least:
            break
        time.sleep(0.005)
    if child.poll() is not None:
        pytest.fail(f"the run ended before it could be killed: {child.stderr.read()[-1000:]}")
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    return len(parts(target))


def test_killed_twice_and_resumed_every_row_exactly_once(tmp_path, many_fields):
    target = tmp_path / "ds"
    command = _cli(str(EXAMPLE), str(many_fields), "-o", str(target), "--partition-size", "3", "--geometries")
    first = _kill_after(command, target, 5)
    manifest = json.loads((target / MANIFEST).read_text())
    assert manifest["complete"] is False and manifest["partitions"] == 100
    assert 5 <= first < 100
    with pytest.raises(DatasetError, match="incomplete"):
        read_dataset(target)
    for name in parts(target):  # whatever was there when the process died is a complete file
        assert len(gpd.read_parquet(target / name)) >= 0
    second = _kill_after([*command, "--resume"], target, 5)
    assert second >= first + 5
    damaged = target / parts(target)[1]  # a part the disk lost after a crash: written again
    damaged.write_bytes(damaged.read_bytes()[:100])
    result = CliRunner().invoke(main, [*command[3:], "--resume"])
    assert result.exit_code == 0, result.output
    assert re.search(rf"wrote {100 - second + 1} of 100 parts \({second - 1} were already written\)", result.output)
    assert stale_partials(target) == []
    regions = gpd.read_parquet(many_fields)
    expected = sample_regions(EXAMPLE, regions, geometries=True)
    got = read_dataset(target)
    pd.testing.assert_frame_equal(got, expected)
    # every (region, pixel) once: no duplicate, nothing missing
    keys = pd.DataFrame({"fid": got.index, "x": got.geometry.x, "y": got.geometry.y})
    assert not keys.duplicated().any() and len(keys) == len(expected)

