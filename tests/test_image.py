"""Image: opening files, band names, masks, times and in-memory images."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine

from sampling import BandError, Image, RasterReadError
from sampling.engine import read_pixels
from sampling.image import to_millis

from .conftest import coded


def test_open_multiband_names_from_descriptions(make_raster):
    path = make_raster(coded(4, 5, "uint16", bands=3), descriptions=["red", "green", "blue"])
    image = Image.open(path)
    assert image.band_names == ["red", "green", "blue"]
    assert image.id == path.stem
    assert image.dtypes == {"red": np.dtype("uint16"), "green": np.dtype("uint16"), "blue": np.dtype("uint16")}


def test_open_multiband_without_descriptions_uses_b1_b2(make_raster):
    image = Image.open(make_raster(coded(4, 5, bands=2)))
    assert image.band_names == ["b1", "b2"]


def test_several_single_band_files_are_named_by_their_distinct_suffix(make_raster):
    paths = [make_raster(coded(4, 5), name=f"LC08_224078_20200518_{b}.tif") for b in ("B2", "B3", "B4")]
    image = Image.open(paths)
    assert image.band_names == ["B2", "B3", "B4"]
    assert len(image.sources) == 3


def test_bands_argument_names_bands_and_must_match_the_count(make_raster):
    path = make_raster(coded(4, 5, bands=2))
    assert Image.open(path, bands=["red", "nir"]).band_names == ["red", "nir"]
    with pytest.raises(BandError, match="names 3 bands but the raster"):
        Image.open(path, bands=["a", "b", "c"])


def test_duplicate_band_names_are_refused(make_raster):
    path = make_raster(coded(4, 5, bands=2))
    with pytest.raises(BandError, match="duplicate band names"):
        Image.open(path, bands=["x", "x"])


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2020, 5, 18, 13, 45, tzinfo=dt.timezone.utc),
        dt.datetime(2020, 5, 18, 13, 45),
        pd.Timestamp("2020-05-18T13:45:00Z"),
        "2020-05-18T13:45:00Z",
        "2020-05-18 13:45",
        1589809500000,
        np.datetime64("2020-05-18T13:45"),
    ],
)
def test_time_in_every_accepted_form_becomes_utc_milliseconds(value):
    assert to_millis(value) == 1589809500000


def test_time_with_an_offset_is_converted_to_utc():
    assert to_millis("2020-05-18T15:45:00+02:00") == 1589809500000
    assert to_millis(None) is None
    with pytest.raises(ValueError, match="cannot read"):
        to_millis("not a date")


def test_nodata_mask(make_raster):
    data = coded(3, 3, "int16")
    data[0, 1, 1] = -1
    image = Image.open(make_raster(data, nodata=-1))
    values = read_pixels(image, image.grid, np.array([1, 0]), np.array([1, 0]))
    assert values.valid[:, 0].tolist() == [False, True]


def test_nan_is_masked_in_float_bands_even_without_nodata(make_raster):
    data = coded(3, 3, "float32")
    data[0, 2, 0] = np.nan
    image = Image.open(make_raster(data))
    values = read_pixels(image, image.grid, np.array([2, 2]), np.array([0, 1]))
    assert values.valid[:, 0].tolist() == [False, True]


def test_nan_nodata_in_float_bands(make_raster):
    data = coded(3, 3, "float64")
    data[0, 0, 0] = np.nan
    image = Image.open(make_raster(data, nodata=float("nan")))
    values = read_pixels(image, image.grid, np.array([0, 0]), np.array([0, 1]))
    assert values.valid[:, 0].tolist() == [False, True]


def test_internal_mask(make_raster, tmp_path):
    path = tmp_path / "masked.tif"
    data = coded(4, 4, "uint8", bands=2)
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=2, dtype="uint8",
                           crs="EPSG:32618", transform=Affine(10, 0, 0, 0, -10, 40)) as dst:
            dst.write(data)
            mask = np.full((4, 4), 255, dtype="uint8")
            mask[3, 3] = 0
            dst.write_mask(mask)
    image = Image.open(path)
    values = read_pixels(image, image.grid, np.array([3, 0]), np.array([3, 0]))
    assert values.valid.tolist() == [[False, False], [True, True]]


def test_alpha_band_masks(tmp_path):
    path = tmp_path / "alpha.tif"
    data = np.zeros((4, 3, 3), dtype="uint8")
    data[:3] = 7
    data[3] = 255
    data[3, 1, 2] = 0
    with rasterio.open(path, "w", driver="GTiff", width=3, height=3, count=4, dtype="uint8", photometric="RGB",
                       alpha="YES", crs="EPSG:32618", transform=Affine(10, 0, 0, 0, -10, 30)) as dst:
        dst.write(data)
    image = Image.open(path)
    values = read_pixels(image, image.grid, np.array([1, 0]), np.array([2, 0]), bands=image.band_names[:3])
    assert values.valid.tolist() == [[False] * 3, [True] * 3]


def test_nodata_outside_the_dtype_warns_and_masks_nothing():
    with pytest.warns(UserWarning, match="nodata -9999 cannot be a value of uint8"):
        image = Image.from_array(coded(2, 2, "uint8"), Affine(1, 0, 0, 0, -1, 2), 32618, nodata=-9999)
    values = read_pixels(image, image.grid, np.array([0]), np.array([0]))
    assert values.valid.tolist() == [[True]]


def test_from_array_and_select_by_name_or_regex():
    image = Image.from_array(coded(3, 3, bands=4), Affine(1, 0, 0, 0, -1, 3), "EPSG:32618",
                             bands=["B1", "B2", "B3", "B4"], id="x", time="2021-01-01")
    assert image.select("B[2-3]").band_names == ["B2", "B3"]
    assert image.select(["B4", "B1"]).band_names == ["B4", "B1"]
    assert image.select("B4").time == image.time
    with pytest.raises(BandError, match="unknown band 'B9'"):
        image.select("B9")
    assert image.rename(["a", "b", "c", "d"]).band_names == ["a", "b", "c", "d"]
    assert image.set(id="y", cloud=3).properties == {"cloud": 3}


def test_from_array_mask_and_nodata():
    data = coded(2, 2, "int16")
    mask = np.array([[True, False], [True, True]])
    image = Image.from_array(data, Affine(1, 0, 0, 0, -1, 2), 32618, nodata=1000, mask=mask)
    values = read_pixels(image, image.grid, np.array([0, 0, 1]), np.array([0, 1, 0]))
    assert values.valid[:, 0].tolist() == [True, False, False]  # 1000 is row 1 col 0


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(RasterReadError, match="does not exist"):
        Image.open(tmp_path / "nope.tif")


def test_a_file_that_is_not_a_raster(tmp_path):
    path = tmp_path / "notes.tif"
    path.write_text("hello, I am text")
    with pytest.raises(RasterReadError, match="not a raster GDAL can read"):
        Image.open(path)


def test_a_raster_without_crs_is_refused(make_raster):
    path = make_raster(coded(2, 2), crs=None)
    with pytest.raises(RasterReadError, match="no coordinate reference system"):
        Image.open(path)


def test_reading_is_lazy_and_by_window(make_raster):
    path = make_raster(coded(512, 512, "uint32"), block=256)
    image = Image.open(path)
    # no dataset is held open by the image after opening
    assert getattr(image.sources[0]._local, "ds", None) is None
    values = read_pixels(image, image.grid, np.array([300]), np.array([400]))
    assert values.values["b1"].tolist() == [300 * 1000 + 400]
    image.close()
