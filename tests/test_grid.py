"""PixelGrid: the pixel convention and Earth Engine's scale and projection rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS

from sampling import GridError, PixelGrid, working_grid
from sampling.errors import CRSError
from sampling.grid import as_crs, metres_per_unit, scale_to_units

UTM = "EPSG:32618"


def test_centre_and_index_follow_the_corner_convention():
    grid = PixelGrid(UTM, Affine(10, 0, 1000, 0, -10, 5000), (3, 4))
    x, y = grid.centre([0, 2], [0, 3])
    assert x.tolist() == [1005.0, 1035.0]
    assert y.tolist() == [4995.0, 4975.0]
    rows, cols = grid.index([1000.0, 1039.999, 1010.0], [5000.0, 4970.001, 4990.0])
    assert rows.tolist() == [0, 2, 1]
    assert cols.tolist() == [0, 3, 1]


def test_a_point_on_a_pixel_edge_belongs_to_the_pixel_right_and_below():
    grid = PixelGrid(UTM, Affine(10, 0, 0, 0, -10, 0))
    rows, cols = grid.index([10.0], [-10.0])
    assert (rows[0], cols[0]) == (1, 1)


def test_earth_engine_degree_conversion_is_bit_exact():
    wgs84 = CRS.from_epsg(4326)
    assert scale_to_units(10, wgs84) == 8.983152841195215e-05
    assert scale_to_units(30, wgs84) == 0.00026949458523585647
    assert scale_to_units(30, CRS.from_epsg(32618)) == 30.0


def test_metres_per_unit_of_a_foot_based_crs():
    feet = CRS.from_epsg(2263)  # NAD83 / New York Long Island (ftUS)
    assert metres_per_unit(feet) == pytest.approx(0.3048006096, rel=1e-9)
    assert scale_to_units(0.3048006096012192, feet) == pytest.approx(1.0)


def test_bare_crs_with_scale_has_its_origin_at_the_crs_origin():
    grid = PixelGrid.from_projection("EPSG:4326", scale=30)
    s = math.degrees(30 / 6378137.0)
    assert tuple(grid.transform)[:6] == (s, 0.0, 0.0, 0.0, -s, 0.0)
    assert grid.shape is None


def test_rescale_keeps_the_origin_and_scales_the_linear_part():
    grid = PixelGrid(UTM, Affine(30, 0, 123.5, 0, -30, 987.25), (10, 10))
    finer = grid.rescale(10)
    assert tuple(finer.transform)[:6] == (10.0, 0.0, 123.5, 0.0, -10.0, 987.25)
    coarser = grid.rescale(90)
    assert tuple(coarser.transform)[:6] == (90.0, 0.0, 123.5, 0.0, -90.0, 987.25)


def test_nominal_scale_of_a_degree_grid_is_in_metres():
    grid = PixelGrid.from_projection("EPSG:4326", scale=30)
    assert grid.nominal_scale == pytest.approx(30.0, rel=1e-12)


def test_crs_transform_and_scale_cannot_be_combined():
    with pytest.raises(GridError, match="cannot be combined"):
        PixelGrid.from_projection("EPSG:4326", scale=10, crs_transform=[1, 0, 0, 0, -1, 0])
    native = PixelGrid(UTM, Affine(30, 0, 0, 0, -30, 0))
    with pytest.raises(GridError, match="cannot be combined"):
        working_grid(native, scale=10, crs_transform=[1, 0, 0, 0, -1, 0])


def test_working_grid_rules():
    native = PixelGrid(UTM, Affine(30, 0, 15, 0, -30, 45), (5, 5))
    assert working_grid(native).same_lattice(native)
    assert working_grid(native).shape is None
    assert tuple(working_grid(native, scale=60).transform)[:6] == (60.0, 0.0, 15.0, 0.0, -60.0, 45.0)
    # a bare CRS without scale takes the default grid's nominal scale, origin at 0
    bare = working_grid(native, projection="EPSG:32618")
    assert tuple(bare.transform)[:6] == (30.0, 0.0, 0.0, 0.0, -30.0, 0.0)
    other = PixelGrid("EPSG:32619", Affine(20, 0, 7, 0, -20, 3))
    assert working_grid(native, projection=other).same_lattice(other)
    assert tuple(working_grid(native, projection=other, scale=10).transform)[:6] == (10.0, 0.0, 7.0, 0.0, -10.0, 3.0)
    verbatim = working_grid(native, crs_transform=[5, 0, 1, 0, -5, 2])
    assert tuple(verbatim.transform)[:6] == (5.0, 0.0, 1.0, 0.0, -5.0, 2.0)
    assert verbatim.crs == native.crs


@pytest.mark.parametrize("scale", [0, -10, float("nan"), float("inf"), "ten"])
def test_bad_scales_are_refused(scale):
    native = PixelGrid(UTM, Affine(30, 0, 0, 0, -30, 0))
    with pytest.raises(GridError, match="scale"):
        native.rescale(scale)


def test_bad_transforms_and_crs_are_refused():
    with pytest.raises(GridError, match="degenerate"):
        PixelGrid(UTM, Affine(0, 0, 0, 0, 0, 0))
    with pytest.raises(GridError, match="6 numbers"):
        PixelGrid(UTM, [1, 2, 3])
    with pytest.raises(CRSError, match="not a CRS"):
        as_crs("EPSG:999999")
    with pytest.raises(CRSError, match="missing"):
        as_crs(None)


def test_window_snaps_outward_and_clips():
    grid = PixelGrid(UTM, Affine(10, 0, 0, 0, -10, 100), (10, 10))
    assert grid.window((15, 55, 35, 85)) == (1, 1, 4, 3)
    assert grid.window((-50, 55, 35, 200)) == (0, 0, 5, 4)
    assert grid.window((200, 200, 300, 300))[2:] == (0, 0)
    assert grid.crop((15, 55, 35, 85)).shape == (4, 3)
    assert grid.crop((15, 55, 35, 85)).centre([0], [0]) == grid.centre([1], [1])


def test_bounds_of_a_south_up_grid():
    grid = PixelGrid(UTM, Affine(10, 0, 0, 0, 10, 0), (2, 3))
    assert grid.bounds == (0.0, 0.0, 30.0, 20.0)


def test_geographic_centres_match_earth_engine_formula_exactly():
    """lon/lat of a pixel centre equal (floor(x/s)+0.5)*s, compared with ==."""
    s = math.degrees(30 / 6378137.0)
    grid = PixelGrid.from_projection("EPSG:4326", scale=30)
    rng = np.random.default_rng(1)
    lon = rng.uniform(-180, 180, 2000)
    lat = rng.uniform(-85, 85, 2000)
    rows, cols = grid.index(lon, lat)
    x, y = grid.centre(rows, cols)
    assert np.array_equal(x, (np.floor(lon / s) + 0.5) * s)
    assert np.array_equal(y, (np.floor(lat / s) + 0.5) * s)


grids = st.builds(
    lambda a, e, b, d, c, f: Affine(a, b, c, d, e, f),
    st.floats(0.5, 100) | st.floats(-100, -0.5),
    st.floats(0.5, 100) | st.floats(-100, -0.5),
    st.floats(-5, 5) | st.just(0.0),
    st.floats(-5, 5) | st.just(0.0),
    st.floats(-1e6, 1e6),
    st.floats(-1e7, 1e7),
).filter(lambda t: abs(t.determinant) > 1e-3)


@settings(max_examples=200, deadline=None)
@given(grids, st.lists(st.tuples(st.integers(-5000, 5000), st.integers(-5000, 5000)), min_size=1, max_size=20))
def test_index_of_a_centre_is_the_pixel(transform, pixels):
    grid = PixelGrid(UTM, transform)
    rows = np.array([p[0] for p in pixels])
    cols = np.array([p[1] for p in pixels])
    x, y = grid.centre(rows, cols)
    r, c = grid.index(x, y)
    assert r.tolist() == rows.tolist()
    assert c.tolist() == cols.tolist()


def test_grid_is_an_immutable_hashable_value():
    a = PixelGrid(UTM, Affine(10, 0, 0, 0, -10, 0), (2, 2))
    b = PixelGrid("EPSG:32618", (10, 0, 0, 0, -10, 0), [2, 2])
    assert a == b
    assert hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.shape = (3, 3)  # type: ignore[misc]
