"""The vectorised polygon selection equals GDAL's rasteriser exactly, ties included.

The oracle is ``rasterio.features.geometry_mask(all_touched=False)`` on the grid's
own transform, and the old one-``rasterize``-call-per-polygon path for the
real scenes.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasterio.features import geometry_mask, rasterize

from sampling.grid import PixelGrid
from sampling.selection import gdal_inverse_transform, iter_selections, polygon_spans, select_pixels

SIZE = 24  # the oracle's raster is SIZE x SIZE pixels from the grid's origin


def oracle(geom, transform, shape=(SIZE, SIZE)) -> set[tuple[int, int]]:
    mask = geometry_mask([geom], out_shape=shape, transform=transform, all_touched=False, invert=True)
    return {(int(r), int(c)) for r, c in zip(*np.nonzero(mask), strict=True)}


def selected(geom, transform, shape=(SIZE, SIZE)) -> set[tuple[int, int]]:
    sel = select_pixels([geom], PixelGrid("EPSG:32618", transform))
    pixels = list(zip(sel.rows.tolist(), sel.cols.tolist(), strict=True))
    assert len(set(pixels)) == len(pixels), "a pixel selected twice"
    return {(r, c) for r, c in pixels if 0 <= r < shape[0] and 0 <= c < shape[1]}


# transforms whose inverse is inexact, so that centres near edges round either way
TRANSFORMS = [
    Affine(10, 0, 500000, 0, -10, 4000000),
    Affine(30, 0, 399960.3, 0, -30, 45.25),
    Affine(0.1, 0, 1234.5678, 0, -0.1, 0.7),
    Affine(8.983152841195215e-05, 0, -73.5, 0, -8.983152841195215e-05, 45.25),
    Affine(3, 0, 0.3, 0, -3, 2),
    Affine.translation(500000, 4000000) @ Affine.rotation(30) @ Affine.scale(10, -10),
    Affine.translation(0.3, 0.7) @ Affine.rotation(0.5) @ Affine.scale(0.3, -0.3),
]


@st.composite
def tie_polygons(draw):
    """Convex polygons (maybe with a hole, either orientation) whose vertices lie on
    half- or quarter-pixel positions, so many centres lie exactly on edges."""
    transform = draw(st.sampled_from(TRANSFORMS))
    q = draw(st.sampled_from([2, 4, 10]))
    n = draw(st.integers(3, 8))
    us = draw(st.lists(st.integers(0, (SIZE - 4) * q), min_size=n, max_size=n))
    vs = draw(st.lists(st.integers(0, (SIZE - 4) * q), min_size=n, max_size=n))
    x, y = transform @ (np.array(us) / q, np.array(vs) / q)
    poly = shapely.convex_hull(shapely.MultiPoint(np.c_[x, y]))
    if poly.geom_type != "Polygon" or poly.area == 0:
        return None
    if draw(st.booleans()):
        hole = shapely.affinity.scale(poly, 0.4, 0.4, origin="centroid")
        poly = shapely.Polygon(poly.exterior.coords, [hole.exterior.coords])
    if draw(st.booleans()):
        poly = shapely.Polygon(poly.exterior.coords[::-1], [r.coords for r in poly.interiors])
    return transform, poly


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tie_polygons())
def test_equals_geometry_mask_on_ties(case):
    if case is None:
        return
    transform, poly = case
    assert selected(poly, transform) == oracle(poly, transform)


def test_the_tie_test_can_fail():
    """Pixel coordinates computed as (x - c) / a instead of GDAL's way disagree with GDAL
    on some of these polygons, so the test above really checks the rounding."""
    rng = np.random.default_rng(3)
    transform = TRANSFORMS[1]
    disagreements = 0
    for _ in range(300):
        us, vs = rng.integers(0, (SIZE - 4) * 10, (2, 6)) / 10
        poly = shapely.convex_hull(shapely.MultiPoint(np.c_[transform @ (us, vs)]))
        if poly.geom_type != "Polygon":
            continue
        naive = shapely.transform(poly, lambda xy: np.c_[(xy[:, 0] - transform.c) / transform.a,
                                                         (xy[:, 1] - transform.f) / transform.e])
        mine = oracle(naive, Affine.identity())
        disagreements += mine != oracle(poly, transform)
        assert selected(poly, transform) == oracle(poly, transform)
    assert disagreements > 0


def test_gdal_inverse_transform_matches_gdal_formulas():
    assert gdal_inverse_transform(Affine(10, 0, 500000, 0, -10, 4000000)) == (-50000.0, 0.1, 0.0, 400000.0, 0.0, -0.1)
    t = TRANSFORMS[5]
    g = gdal_inverse_transform(t)
    inverse = ~t
    assert np.allclose(g, (inverse.c, inverse.a, inverse.b, inverse.f, inverse.d, inverse.e))


def test_multipolygon_is_the_union_of_its_parts_each_pixel_once():
    t = Affine(1, 0, 0, 0, -1, 0)
    a = shapely.box(0, -4, 4, 0)
    b = shapely.box(4, -8, 8, -4)  # touches a at one vertex, which is a pixel corner
    multi = shapely.MultiPolygon([a, b])
    got = select_pixels([multi], PixelGrid("EPSG:32618", t))
    assert len(got) == 32
    assert selected(multi, t, (10, 10)) == oracle(multi, t, (10, 10))


def test_horizontal_edges_on_pixel_centres():
    # edges lying exactly on rows of centres, both orientations: GDAL fills the one
    # running right to left
    t = Affine(1, 0, 0, 0, -1, 0)
    for poly in (shapely.box(0.5, -6.5, 6.5, -0.5), shapely.Polygon([(0.5, -0.5), (6.5, -0.5), (3.5, -6.5)])):
        for p in (poly, shapely.Polygon(poly.exterior.coords[::-1])):
            assert selected(p, t, (10, 10)) == oracle(p, t, (10, 10))


def test_polygon_smaller_than_a_pixel():
    t = Affine(10, 0, 0, 0, -10, 0)
    inside = shapely.box(3, -7, 7, -3)  # holds the centre (5, -5)
    beside = shapely.box(1, -4, 4, -1)  # holds no centre
    assert selected(inside, t) == {(0, 0)} == oracle(inside, t)
    assert selected(beside, t) == set() == oracle(beside, t)


def test_lines_equal_geometry_mask_all_touched_whatever_the_chunk():
    t = TRANSFORMS[1]
    grid = PixelGrid("EPSG:32618", t)
    x, y = t @ (np.array([0.5, 17.25, 30.0, 3.3]), np.array([0.25, 29.5, 2.0, 11.0]))
    line = shapely.LineString(np.c_[x, y])
    mask = geometry_mask([line], out_shape=(40, 40), transform=t, all_touched=True, invert=True)
    expected = {(int(r), int(c)) for r, c in zip(*np.nonzero(mask), strict=True)}
    for chunk in (16_000_000, 500, 30):
        pieces = list(iter_selections([line], grid, max_mask_pixels=chunk))
        got = {(int(r), int(c)) for p in pieces for r, c in zip(p.rows, p.cols, strict=True)}
        assert got == expected


def test_order_is_by_feature_then_row_major_and_chunking_changes_nothing():
    rng = np.random.default_rng(0)
    t = Affine(10, 0, 0, 0, -10, 0)
    grid = PixelGrid("EPSG:32618", t)
    polys = [shapely.Point(rng.uniform(0, 2000), rng.uniform(-2000, 0)).buffer(rng.uniform(5, 200))
             for _ in range(60)]
    polys[10] = shapely.Point(505, -505)  # a point among polygons
    polys[20] = shapely.LineString([(0, -3), (300, -250)])  # a line among polygons
    whole = select_pixels(polys, grid)
    keys = np.stack([whole.feature, whole.rows, whole.cols])
    assert (np.diff(whole.feature) >= 0).all()
    same_feature = np.diff(whole.feature) == 0
    row_major = (np.diff(whole.rows) > 0) | ((np.diff(whole.rows) == 0) & (np.diff(whole.cols) > 0))
    assert row_major[same_feature].all()
    pieces = list(iter_selections(polys, grid, max_mask_pixels=500))
    assert max(len(p) for p in pieces) <= 500 or len(pieces) > 1
    chunked = np.concatenate([np.stack([p.feature, p.rows, p.cols]) for p in pieces], axis=1)
    assert np.array_equal(keys, chunked)
    for k in (0, 33, 59):
        assert selected(polys[k], t, (220, 220)) == oracle(polys[k], t, (220, 220))


def test_a_polygon_larger_than_the_chunk_is_split_in_whole_runs():
    t = Affine(1, 0, 0, 0, -1, 0)
    big = shapely.box(0, -300, 300, 0)
    pieces = list(iter_selections([big], PixelGrid("EPSG:32618", t), max_mask_pixels=10_000))
    assert len(pieces) > 5
    assert all(len(p) <= 10_000 for p in pieces)
    assert sum(len(p) for p in pieces) == 90_000


def test_a_large_polygon_among_points_is_still_split():
    grid = PixelGrid("EPSG:32618", Affine(1, 0, 0, 0, -1, 0))
    geoms = [shapely.Point(0.5, -0.5), shapely.box(0, -300, 300, 0), shapely.Point(2.5, -1.5)]
    pieces = list(iter_selections(geoms, grid, max_mask_pixels=10_000))
    assert all(len(p) <= 10_000 for p in pieces)
    whole = select_pixels(geoms, grid)
    assert np.array_equal(np.concatenate([p.feature for p in pieces]), whole.feature)
    assert whole.feature.tolist()[:1] + whole.feature.tolist()[-1:] == [0, 2]
    assert len(whole) == 90_002


def test_spans_are_runs_of_whole_rows():
    grid = PixelGrid("EPSG:32618", Affine(1, 0, 0, 0, -1, 0))
    spans = polygon_spans([shapely.box(0, -2, 3, 0), shapely.box(1, -1, 2, 0)], grid)
    assert spans.feature.tolist() == [0, 0, 1]
    assert spans.lengths.tolist() == [3, 3, 1]


def _per_polygon_rasterize(geom, grid: PixelGrid) -> set[tuple[int, int]]:
    """The previous implementation: one GDAL call per polygon on its bounding window."""
    row0, col0, height, width = grid.window(shapely.bounds(geom), clip=False)
    window = grid.transform @ Affine.translation(col0, row0)
    burned = rasterize([(geom, 1)], out_shape=(height, width), transform=window, fill=0, dtype="uint8")
    r, c = np.nonzero(burned)
    return set(zip((r + row0).tolist(), (c + col0).tolist(), strict=True))


def test_real_polygons_equal_rasterize_and_geometry_mask(shared_data):
    from sampling import Image
    from sampling.regions import to_working_crs

    image = Image.open(shared_data / "landsat8" / "LC08_224078_20200518_B2.tif")
    polygons = gpd.read_file(shared_data / "landsat8" / "polygons.gpkg")
    geoms = to_working_crs(polygons, image.grid)
    sel = select_pixels(geoms, image.grid)
    for k, geom in enumerate(geoms):
        mine = set(zip(sel.rows[sel.feature == k].tolist(), sel.cols[sel.feature == k].tolist(), strict=True))
        assert mine == _per_polygon_rasterize(geom, image.grid)
        assert mine == oracle(geom, image.grid.transform, image.grid.shape)


def test_many_random_fields_equal_geometry_mask():
    """Field-like polygons (as in the benchmark), checked one by one on one raster."""
    from benchmarks.data import make_fields

    fields = make_fields(150, 600, seed=1)
    t = Affine(10, 0, 399960, 0, -10, 5400000)
    grid = PixelGrid(fields.crs, t)
    sel = select_pixels(np.asarray(fields.geometry.values), grid)
    for k, geom in enumerate(fields.geometry.values):
        mine = set(zip(sel.rows[sel.feature == k].tolist(), sel.cols[sel.feature == k].tolist(), strict=True))
        assert mine == oracle(geom, t, (600, 600)), k
    assert math.isclose(len(sel), sum(len(oracle(g, t, (600, 600))) for g in fields.geometry.values))
