"""Numerical fidelity: values in the band's own dtype, bit for bit; masked values are null; centres exact.

Every value here is one a float round trip would change: integers above 2**53, the ends of 64-bit
ranges, subnormal and signed-zero floats. They are compared bit for bit, after sampling and after
writing to GeoParquet and CSV.
"""

from __future__ import annotations

import math
from fractions import Fraction

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from affine import Affine
from shapely import Point, box

from sampling import Image, sample_regions
from sampling.io import write_table
from sampling.table import band_column

UTM = "EPSG:32618"
T = Affine(10, 0, 500000, 0, -10, 4000000)

# Values a float64 (or float32) round trip would change, per dtype.
EXTREMES = {
    "uint8": [0, 1, 254, 255],
    "int8": [-128, -1, 0, 127],
    "uint16": [0, 1, 65534, 65535],
    "int16": [-32768, -1, 1, 32767],
    "uint32": [0, 2**32 - 1, 2**32 - 2, 16777217],  # 2**24 + 1: not a float32
    "int32": [-(2**31), 2**31 - 1, -16777217, 16777217],
    "int64": [2**53 + 1, -(2**63), 2**63 - 1, -(2**53) - 1],  # 2**53 + 1: not a float64
    "uint64": [2**64 - 1, 2**63 + 1, 2**53 + 1, 0],
    "float32": [np.float32(0.1), np.float32(1e-45), np.float32(-0.0), np.float32(3.4028235e38)],
    "float64": [0.1 + 0.2, 5e-324, -0.0, 1.7976931348623157e308],
}


def as_bits(values) -> list[int]:
    """Values as raw bits: equal only if identical (tells -0.0 from 0.0)."""
    array = np.asarray(values)
    if array.dtype.kind == "f":
        return array.view(f"u{array.dtype.itemsize}").tolist()
    return array.tolist()


def four_pixels() -> gpd.GeoDataFrame:
    """A 2 x 2 block of pixel centres at the top-left of the image: pixels (0,0), (0,1), (1,0), (1,1)."""
    return gpd.GeoDataFrame(geometry=[box(500000, 3999980, 500020, 4000000)], crs=UTM)


@pytest.mark.parametrize("dtype", list(EXTREMES))
def test_values_come_back_in_the_band_dtype_bit_for_bit(make_raster, dtype, tmp_path):
    values = np.array(EXTREMES[dtype], dtype=dtype).reshape(2, 2)
    img = Image.open(make_raster(values))
    assert img.dtypes["b1"] == np.dtype(dtype)
    for drop_masked in (True, False):
        column = sample_regions(img, four_pixels(), drop_masked=drop_masked)["b1"]
        # drop_masked=True: the plain NumPy dtype; False: the nullable dtype of the same kind and size
        expected_dtype = np.dtype(dtype) if drop_masked else pd.array(values.ravel()).dtype
        if not drop_masked and dtype.startswith("float"):
            expected_dtype = pd.Float32Dtype() if dtype == "float32" else pd.Float64Dtype()
        assert column.dtype == expected_dtype
        assert as_bits(column.to_numpy(dtype=dtype)) == as_bits(values.ravel())
    # and through the writers
    table = sample_regions(img, four_pixels(), drop_masked=False)
    write_table(table, tmp_path / "t.parquet")
    back = gpd.read_parquet(tmp_path / "t.parquet")["b1"]
    assert back.dtype == table["b1"].dtype
    assert as_bits(back.to_numpy(dtype=dtype)) == as_bits(values.ravel())
    write_table(table, tmp_path / "t.csv")
    text = pd.read_csv(tmp_path / "t.csv", dtype={"b1": str})["b1"]
    parsed = np.array([int(s) for s in text] if dtype[0] in "iu" else [np.dtype(dtype).type(s) for s in text], dtype)
    assert as_bits(parsed) == as_bits(values.ravel())


def test_int64_above_2_53_survive_a_change_of_grid():
    """Nearest-neighbour on another grid moves pixels, never converts them."""
    values = (np.arange(16, dtype="int64") + 2**53 + 1).reshape(4, 4)
    img = Image.from_array(values, T, UTM)
    finer = sample_regions(img, gpd.GeoDataFrame(geometry=[box(500000, 3999960, 500040, 4000000)], crs=UTM),
                           scale=5, geometries=True)
    assert finer["b1"].dtype == np.dtype("int64")
    rows = np.floor((4000000 - finer.geometry.y) / 10).astype(int)
    cols = np.floor((finer.geometry.x - 500000) / 10).astype(int)
    assert finer["b1"].tolist() == [int(values[r, c]) for r, c in zip(rows, cols, strict=True)]
    assert (finer["b1"] > 2**53).all() and finer["b1"].iloc[0] == 2**53 + 1


@pytest.mark.parametrize("dtype", ["uint8", "int16", "uint32", "int64", "uint64", "float32", "float64"])
def test_masked_values_are_null_never_a_sentinel(dtype):
    nodata = EXTREMES[dtype][1]
    data = np.array([[EXTREMES[dtype][0], nodata], [EXTREMES[dtype][2], EXTREMES[dtype][3]]], dtype=dtype)
    other = np.array([[1, 2], [3, 4]], dtype=dtype)
    img = Image.from_array(np.stack([data, other]), T, UTM, bands=["a", "b"], nodata=[nodata, None])
    kept = sample_regions(img, four_pixels(), drop_masked=False)
    assert kept["a"].isna().tolist() == [False, True, False, False]
    assert not kept["b"].isna().any()
    assert (kept["a"].dropna() != np.array(nodata, dtype=dtype)).all()  # the sentinel never appears
    assert as_bits(kept["a"].dropna().to_numpy(dtype=dtype)) == as_bits(data.ravel()[[0, 2, 3]])
    dropped = sample_regions(img, four_pixels())  # Earth Engine's default drops the masked pixel
    assert len(dropped) == 3 and dropped["a"].dtype == np.dtype(dtype)


@pytest.mark.parametrize("dtype", ["uint8", "int32", "int64", "uint64", "float16", "float32", "float64", "bool"])
def test_band_column_masks_with_null(dtype):
    values = np.array([1, 0, 1], dtype=dtype)
    column = band_column(values, np.array([True, False, True]))
    assert pd.isna(column[1]) and not pd.isna(column[0])
    assert list(pd.Series(column).isna()) == [False, True, False]


def test_nan_pixels_in_a_float_band_are_null():
    data = np.array([[[1.0, np.nan], [-np.inf, 2.5]], [[1, 2], [3, 4]]])
    img = Image.from_array(data, T, UTM, bands=["f", "other"])
    kept = sample_regions(img, four_pixels(), drop_masked=False)
    assert kept["f"].isna().tolist() == [False, True, False, False]
    assert kept["f"].iloc[2] == -np.inf  # infinities are values, not masks


def test_pixel_centres_are_float64_and_exact_on_a_utm_grid():
    # an origin with a fraction: float32 would lose it; the formula is c + (col + 0.5) * a
    transform = Affine(0.25, 0, 500000.123456789, 0, -0.25, 4000000.987654321)
    img = Image.from_array(np.zeros((8, 8), "uint8"), transform, UTM)
    points = gpd.GeoDataFrame(geometry=[Point(500000.2, 4000000.9), Point(500001.9, 3999999.2)], crs=UTM)
    out = sample_regions(img, points, geometries=True)
    x, y = shapely.get_coordinates(out.geometry.values).T
    assert x.dtype == np.float64
    expected = []
    for p in points.geometry:
        col = math.floor((p.x - transform.c) / transform.a)
        row = math.floor((p.y - transform.f) / transform.e)
        expected.append((transform.c + (col + 0.5) * transform.a, transform.f + (row + 0.5) * transform.e))
    assert list(zip(x.tolist(), y.tolist(), strict=True)) == expected
    # and these are the exact centres, correctly rounded from exact rational arithmetic
    for (ex, ey), col, row in zip(expected, [0, 7], [0, 7], strict=True):
        assert ex == float(Fraction(transform.c) + (col + Fraction(1, 2)) * Fraction(transform.a))
        assert ey == float(Fraction(transform.f) + (row + Fraction(1, 2)) * Fraction(transform.e))


def test_lon_lat_centres_on_earth_engines_degree_grid_are_exact():
    """EPSG:4326 at scale 30: Earth Engine's pixel size in degrees and a grid origin at (0, 0)."""
    size = math.degrees(30 / 6378137.0)
    assert size == 0.00026949458523585647
    img = Image.from_array(np.arange(100, dtype="int16").reshape(10, 10), Affine(30, 0, 500000, 0, -30, 4000000), UTM)
    inside = gpd.GeoSeries([Point(500040, 3999960), Point(500250, 3999720)], crs=UTM).to_crs("EPSG:4326")
    lonlat = gpd.GeoDataFrame(geometry=inside.values, crs="EPSG:4326")
    out = sample_regions(img, lonlat, projection="EPSG:4326", scale=30, geometries=True)
    assert out.crs.to_epsg() == 4326
    for point, centre in zip(lonlat.geometry, out.geometry, strict=True):
        col = math.floor(point.x / size)
        row = math.floor(point.y / -size)
        assert (centre.x, centre.y) == ((col + 0.5) * size + 0.0, (row + 0.5) * -size + 0.0)


def test_pixel_centres_on_a_rotated_grid_follow_the_affine_exactly():
    transform = Affine.translation(500000.5, 4000000.25) * Affine.rotation(17) * Affine.scale(3, -3)
    img = Image.from_array(np.zeros((30, 30), "uint8"), transform, UTM)
    rows, cols = np.array([0, 3, 29]), np.array([0, 21, 29])
    ax, ay = img.grid.centre(rows, cols)
    for r, c, x, y in zip(rows, cols, ax, ay, strict=True):
        u, v = c + 0.5, r + 0.5
        t = transform
        assert (x, y) == (t.a * u + t.b * v + t.c, t.d * u + t.e * v + t.f)
    # and the round trip holds exactly
    back_rows, back_cols = img.grid.index(ax, ay)
    assert back_rows.tolist() == rows.tolist() and back_cols.tolist() == cols.tolist()
