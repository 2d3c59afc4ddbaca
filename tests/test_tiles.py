"""The direct DEFLATE tile path returns exactly what GDAL returns, or hands over to GDAL."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

import sampling.tiles as tiles
from sampling import Image
from sampling.engine import read_pixels
from sampling.tiles import TileReader, reader_for

pytest.importorskip("deflate")


def scene(dtype: str, bands: int = 3, height: int = 70, width: int = 90, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is not None:
        data = rng.integers(info.min, info.max, (bands, height, width), endpoint=True, dtype=dtype)
    else:
        data = rng.normal(0, 1000, (bands, height, width)).astype(dtype)
    data[:, 5:9, :] = data[:, 5:9, :1]  # runs, so that predictors and DEFLATE have work
    return data


def both_paths(path, rows, cols, monkeypatch):
    image = Image.open(path)
    fast = read_pixels(image, image.grid, rows, cols, threads=2)
    monkeypatch.setattr(tiles, "ENABLED", False)
    slow = read_pixels(Image.open(path), image.grid, rows, cols, threads=1)
    monkeypatch.setattr(tiles, "ENABLED", True)
    return image, fast, slow


LAYOUTS = [
    dict(dtype="uint16", predictor=1, interleave="pixel"),
    dict(dtype="uint16", predictor=2, interleave="pixel"),
    dict(dtype="int16", predictor=2, interleave="band"),
    dict(dtype="uint8", predictor=2, interleave="pixel"),
    dict(dtype="int8", predictor=1, interleave="band"),
    dict(dtype="int32", predictor=2, interleave="pixel", endianness="big"),
    dict(dtype="uint32", predictor=1, interleave="band", endianness="big"),
    dict(dtype="float32", predictor=1, interleave="pixel"),
    dict(dtype="float64", predictor=1, interleave="pixel", endianness="big"),
    dict(dtype="int64", predictor=2, interleave="pixel"),
]


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda d: "-".join(str(v) for v in d.values()))
def test_fast_path_equals_gdal(make_raster, monkeypatch, layout):
    layout = dict(layout)
    dtype = layout.pop("dtype")
    data = scene(dtype)
    nodata = data[0, 0, 0].item()
    path = make_raster(data, block=32, compress="deflate", nodata=nodata, **layout)
    rows, cols = np.mgrid[-2:72:3, -1:92:2]
    image, fast, slow = both_paths(path, rows.ravel(), cols.ravel(), monkeypatch)
    assert isinstance(reader_for(image.bands[0].source), TileReader)
    assert np.array_equal(fast.valid, slow.valid)
    for name in fast.band_names:
        assert fast.values[name].dtype == slow.values[name].dtype
        assert np.array_equal(fast.values[name], slow.values[name], equal_nan=dtype.startswith("float"))
    with rasterio.open(path) as ds:
        full = ds.read()
    inside = (rows.ravel() >= 0) & (rows.ravel() < 70) & (cols.ravel() >= 0) & (cols.ravel() < 90)
    assert np.array_equal(fast.values["b2"][inside], full[1][rows.ravel()[inside], cols.ravel()[inside]])


def test_sparse_tiles_are_read_by_gdal(make_raster, monkeypatch):
    data = scene("uint16", bands=2, height=64, width=64)
    path = make_raster(data, block=16, compress="deflate", nodata=0, sparse_ok=True)
    with rasterio.open(path, "r+") as ds:  # a file whose first tiles were never written
        pass
    empty = make_raster(np.zeros((2, 64, 64), "uint16"), block=16, compress="deflate", nodata=0, sparse_ok=True)
    with rasterio.open(empty, "r+") as ds:
        ds.write(data[:, 32:, 32:], window=rasterio.windows.Window(32, 32, 32, 32))
    rows, cols = np.mgrid[0:64:5, 0:64:5]
    image, fast, slow = both_paths(empty, rows.ravel(), cols.ravel(), monkeypatch)
    with rasterio.open(empty) as ds:
        assert ds.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1) in (None, "0")
    assert np.array_equal(fast.valid, slow.valid)
    assert np.array_equal(fast.values["b1"], slow.values["b1"])
    assert fast.valid.any() and not fast.valid.all()
    assert path.exists()


@pytest.mark.parametrize("options", [
    dict(compress="lzw"),
    dict(compress="deflate", predictor=3, dtype="float32"),
    dict(compress="zstd"),
    dict(compress="deflate", tiled=False),
    dict(compress="deflate", nbits=12),
])
def test_other_layouts_go_through_gdal(make_raster, options):
    options = dict(options)
    dtype = options.pop("dtype", "uint16")
    data = scene(dtype) % 4000 if dtype == "uint16" else scene(dtype)
    path = make_raster(data.astype(dtype), block=None if options.get("tiled") is False else 32, **options)
    image = Image.open(path)
    assert reader_for(image.bands[0].source) is None
    rows, cols = np.mgrid[0:70:4, 0:90:4]
    got = read_pixels(image, image.grid, rows.ravel(), cols.ravel())
    with rasterio.open(path) as ds:
        assert np.array_equal(got.values["b1"], ds.read(1)[rows.ravel(), cols.ravel()])


def test_internal_masks_go_through_gdal(make_raster):
    path = make_raster(scene("uint16"), block=32, compress="deflate")
    with rasterio.open(path, "r+") as ds:
        ds.write_mask(np.full((70, 90), 255, dtype="uint8"))
    assert reader_for(Image.open(path).bands[0].source) is None


def test_in_memory_images_and_disabled_path_use_no_reader(monkeypatch, make_raster):
    image = Image.from_array(np.ones((4, 4), "uint8"), Affine(1, 0, 0, 0, -1, 4), 32618)
    assert reader_for(image.bands[0].source) is None
    path = make_raster(scene("uint16"), block=32, compress="deflate")
    monkeypatch.setattr(tiles, "ENABLED", False)
    assert reader_for(Image.open(path).bands[0].source) is None


def test_a_corrupt_tile_falls_back_to_gdal_and_its_error(make_raster):
    from sampling import RasterReadError

    path = make_raster(scene("uint16", height=64, width=64), block=32, compress="deflate")
    image = Image.open(path)
    with rasterio.open(path) as ds:
        offset = int(ds.get_tag_item("BLOCK_OFFSET_1_1", "TIFF", bidx=1))
    with open(path, "r+b") as fh:
        fh.seek(offset + 2)
        fh.write(b"\x00" * 40)
    assert isinstance(reader_for(image.bands[0].source), TileReader)
    with pytest.raises(RasterReadError):
        read_pixels(image, image.grid, np.array([40]), np.array([40]))
    good = read_pixels(image, image.grid, np.array([3]), np.array([3]))  # other tiles still read
    assert good.valid.all()
