"""The engine: threads, block plans and many images never change values, only speed."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

import sampling.engine as engine
from sampling import Image, RasterReadError
from sampling.engine import BlockPlan, PixelPlans, read_pixels, read_pixels_many
from sampling.grid import PixelGrid
from sampling.remote import gdal_env


def coded(height: int, width: int, dtype: str = "int32", bands: int = 1) -> np.ndarray:
    """Values that encode their position: ``band * 1e6 + row * 1000 + col``."""
    b, r, c = np.mgrid[0:bands, 0:height, 0:width]
    return (b * 1_000_000 + r * 1000 + c).astype(dtype)


def random_pixels(grid: PixelGrid, n: int, seed: int = 0, margin: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    h, w = grid.shape
    return rng.integers(-margin, h + margin, n), rng.integers(-margin, w + margin, n)


def test_threads_do_not_change_values_and_equal_rasterio(landsat_paths):
    image = Image.open(landsat_paths)
    rows, cols = random_pixels(image.grid, 5000, margin=20)
    one = read_pixels(image, image.grid, rows, cols, threads=1)
    two = read_pixels(image, image.grid, rows, cols, threads=2)
    many = read_pixels(image, image.grid, rows, cols, threads=7)
    inside = image.grid.contains(rows, cols)
    for name, path in zip(image.band_names, landsat_paths, strict=True):
        assert np.array_equal(one.values[name], two.values[name])
        assert np.array_equal(one.values[name], many.values[name])
        with rasterio.open(path) as ds:
            full = ds.read(1)
        assert np.array_equal(one.values[name][inside], full[rows[inside], cols[inside]])
        assert (one.values[name][~inside] == 0).all()
    assert np.array_equal(one.valid, two.valid)
    assert np.array_equal(one.valid, inside[:, None].repeat(3, axis=1))


def test_read_pixels_many_equals_one_by_one_on_different_lattices(shared_data):
    images = [Image.open(shared_data / name) for name in ("rgbn.tif", "rgbn_suba.tif", "rgbn_subb.tif")]
    grid = images[0].grid
    rows, cols = random_pixels(grid, 3000, seed=1)
    together = read_pixels_many(images, grid, rows, cols, threads=2)
    for image, got in zip(images, together, strict=True):
        alone = read_pixels(image, grid, rows, cols, threads=1)
        assert got.band_names == alone.band_names
        assert np.array_equal(got.valid, alone.valid)
        for name in got.band_names:
            assert np.array_equal(got.values[name], alone.values[name])
    # the shifted lattice really is mapped, and covers fewer pixels than the full scene
    assert together[2].valid.any() and not together[2].valid.all()


def test_the_mapping_is_computed_once_per_distinct_grid(monkeypatch, make_raster):
    calls = []
    real = engine.source_pixels

    def counting(*args, **kwargs):
        calls.append(args[3])
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "source_pixels", counting)
    same = [Image.open(make_raster(coded(40, 50, "int32") + k, block=16)) for k in range(6)]
    moved = Affine(10, 0, 500005, 0, -10, 4000000)
    shifted = Image.open(make_raster(coded(40, 50, "int32"), transform=moved, block=16))
    working = PixelGrid("EPSG:32618", Affine(5, 0, 500000, 0, -5, 4000000))  # finer than the sources
    rows, cols = random_pixels(PixelGrid("EPSG:32618", working.transform, (80, 100)), 500, seed=2)
    plans = PixelPlans(working, rows, cols)
    out = read_pixels_many([*same, shifted], working, rows, cols, plans=plans)
    assert len(calls) == 2  # one per distinct source grid, not one per image
    assert len(plans) == 2
    read_pixels(same[0], working, rows, cols, plans=plans)  # reused: no new mapping
    assert len(calls) == 2
    for k, values in enumerate(out[:6]):  # value = row * 1000 + col of the source pixel + k
        src_rows, src_cols = rows // 2, cols // 2
        inside = (src_rows >= 0) & (src_rows < 40) & (src_cols >= 0) & (src_cols < 50)
        assert np.array_equal(values.values["b1"][inside], src_rows[inside] * 1000 + src_cols[inside] + k)


def test_block_plan_groups_pixels_by_block_in_block_order():
    rows = np.array([5, 0, 17, 3, -1, 19, 16])
    cols = np.array([5, 9, 2, 12, 0, 19, 0])
    plan = BlockPlan.build(rows, cols, (20, 20), (8, 8))
    assert plan.windows == [(0, 0, 8, 8), (0, 8, 8, 8), (16, 0, 4, 8), (16, 16, 4, 4)]
    assert plan.targets.tolist() == [0, 1, 3, 2, 6, 5]  # pixel 4 lies outside
    assert plan.rows.tolist() == [5, 0, 3, 1, 0, 3]
    assert plan.cols.tolist() == [5, 1, 4, 2, 0, 3]
    assert plan.starts.tolist() == [0, 1, 3, 5, 6]


def test_masks_nodata_and_internal_masks(make_raster, tmp_path):
    data = coded(30, 30, "uint16", bands=2)
    data[0, :5] = 7
    path = make_raster(data, nodata=7, block=16)
    with rasterio.open(path, "r+") as ds:  # an internal mask hiding a corner, on top of nodata
        mask = np.full((30, 30), 255, dtype="uint8")
        mask[20:, 20:] = 0
        ds.write_mask(mask)
    image = Image.open(path)
    rows, cols = np.mgrid[0:30, 0:30]
    got = read_pixels(image, image.grid, rows.ravel(), cols.ravel(), threads=2)
    expected = np.ones((30, 30, 2), dtype=bool)
    expected[:5, :, 0] = False
    expected[20:, 20:, :] = False
    assert np.array_equal(got.valid, expected.reshape(-1, 2))
    source = image.bands[0].source
    values, valid = source.read([0, 1], (0, 0, 30, 30))
    assert np.array_equal(valid.reshape(2, -1).T, got.valid)


def test_array_source_read_at_equals_read():
    data = coded(12, 9, "float32", bands=2)
    data[1, 3, 4] = np.nan
    mask = np.ones_like(data, dtype=bool)
    mask[0, 5:, :2] = False
    image = Image.from_array(data, Affine(1, 0, 0, 0, -1, 12), 32618, mask=mask, block_shape=(4, 4))
    rows, cols = np.mgrid[0:12, 0:9]
    got = read_pixels(image, image.grid, rows.ravel(), cols.ravel())
    values, valid = image.bands[0].source.read([0, 1], (0, 0, 12, 9))
    assert np.array_equal(valid.reshape(2, -1).T, got.valid)
    assert np.array_equal(values[0].ravel(), got.values["b1"])


def test_an_error_in_a_reading_thread_reaches_the_caller(make_raster):
    path = make_raster(coded(256, 256, "int32"), block=64, compress="deflate")
    image = Image.open(path)
    with rasterio.open(path) as ds:
        offset = int(ds.get_tag_item("BLOCK_OFFSET_2_2", "TIFF", bidx=1))
    with open(path, "r+b") as fh:  # corrupt one tile's compressed bytes
        fh.seek(offset)
        fh.write(b"\xff" * 64)
    rows, cols = np.mgrid[0:256:8, 0:256:8]
    with pytest.raises(RasterReadError, match=r"cannot read .*raster_0.tif \(rows 128-191, columns 128-191, band 1\)"):
        read_pixels(image, image.grid, rows.ravel(), cols.ravel(), threads=2)


def test_empty_and_outside_pixels():
    image = Image.from_array(np.ones((4, 4), "uint8"), Affine(1, 0, 0, 0, -1, 4), 32618)
    empty = read_pixels(image, image.grid, np.array([], "int64"), np.array([], "int64"))
    assert len(empty) == 0 and empty.values["b1"].dtype == np.uint8
    outside = read_pixels(image, image.grid, np.array([-1, 4]), np.array([0, 0]))
    assert not outside.valid.any()


def test_gdal_block_cache_is_megabytes_not_bytes():
    # rasterio passes an integer GDAL_CACHEMAX to GDALSetCacheMax64, which counts bytes
    from rasterio._env import get_gdal_config

    with gdal_env():
        assert int(get_gdal_config("GDAL_CACHEMAX")) >= 64 * 1024 * 1024


def test_a_block_cache_of_one_tile_still_reads_every_pixel(make_raster):
    path = make_raster(coded(100, 100, "int32", bands=3), block=32, compress="deflate")
    image = Image.open(path)
    rows, cols = np.mgrid[0:100:3, 0:100:7]
    with rasterio.Env(GDAL_CACHEMAX=4096):
        got = read_pixels(image, image.grid, rows.ravel(), cols.ravel(), threads=2)
    with rasterio.open(path) as ds:
        full = ds.read(window=Window(0, 0, 100, 100))
    assert np.array_equal(got.values["b3"], full[2][rows.ravel(), cols.ravel()])


def _read_in_child(path, queue) -> None:
    image = Image.open(path)
    got = read_pixels(image, image.grid, np.arange(0, 64, 3), np.arange(0, 64, 3), threads=2)
    queue.put(got.values["b1"].tolist())


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_reading_works_in_a_forked_child(make_raster):
    """A child forked after the pool started gets a pool of its own, not a dead one."""
    import multiprocessing

    path = make_raster(coded(64, 64, "int32"), block=16)
    image = Image.open(path)
    read_pixels(image, image.grid, np.arange(64), np.arange(64), threads=2)  # the parent's pool exists
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_read_in_child, args=(str(path), queue))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert queue.get(timeout=5) == [r * 1000 + r for r in range(0, 64, 3)]
