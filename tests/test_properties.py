"""Property-based tests: the pixel rules hold on random grids and random geometries.

Grids: north-up, south-up, rotated, sheared, and geographic grids straddling the antimeridian or
touching a pole. Geometries: random star-shaped polygons (always simple), multipolygons, polygons with
holes, lines and points, made in pixel space and mapped onto the grid. Invariants:

* every selected pixel centre lies in the polygon, and every centre inside it is selected (centres
  within a millionth of a pixel of an edge are ties, left to GDAL's rasteriser, and not judged);
* shifting a geometry by whole pixels shifts its selection by as many rows and columns;
* splitting a polygon along pixel edges splits its pixels;
* a point selects the pixel ``floor`` puts it in; ``index(centre(r, c)) == (r, c)``;
* selections are ordered by feature, then row-major, each pixel once per feature;
* ``sample_regions`` on any of this returns a table of real pixels or raises a SamplingError: nothing
  else escapes.
"""

from __future__ import annotations

import math
import warnings

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from shapely import LineString, MultiPolygon, Point, Polygon

from sampling import Image, PixelGrid, SamplingError, sample_regions
from sampling.selection import select_pixels

from .conftest import coded

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TIE = 1e-6  # pixels: a centre this close to an edge is a tie

finite = dict(allow_nan=False, allow_infinity=False)


@st.composite
def grids(draw, kind: str | None = None) -> PixelGrid:
    kind = kind or draw(st.sampled_from(["north-up", "south-up", "rotated", "sheared", "antimeridian", "pole"]))
    if kind in ("antimeridian", "pole"):
        size = draw(st.floats(1e-4, 0.05, **finite))
        if kind == "antimeridian":  # a lattice that runs across 180 degrees
            x0 = draw(st.floats(180 - 30 * size, 180 - size, **finite))
            y0 = draw(st.floats(-80, 80, **finite))
        else:  # a lattice whose top (or bottom) row touches a pole
            x0 = draw(st.floats(-180, 170, **finite))
            y0 = draw(st.sampled_from([90.0, -90.0 + 30 * size]))
        return PixelGrid("EPSG:4326", Affine(size, 0, x0, 0, -size, y0))
    sx = draw(st.floats(0.5, 100, **finite))
    sy = sx * draw(st.floats(0.5, 2, **finite))
    x0 = draw(st.floats(-1e6, 1e6, **finite))
    y0 = draw(st.floats(-1e7, 1e7, **finite))
    if kind == "north-up":
        t = Affine(sx, 0, x0, 0, -sy, y0)
    elif kind == "south-up":
        t = Affine(sx, 0, x0, 0, sy, y0)
    elif kind == "rotated":
        t = Affine.translation(x0, y0) * Affine.rotation(draw(st.floats(-180, 180, **finite))) * Affine.scale(sx, -sy)
    else:
        shear = draw(st.floats(-0.8, 0.8, **finite))
        t = Affine(sx, shear * sx, x0, draw(st.floats(-0.8, 0.8, **finite)) * sy, -sy, y0)
    assume(abs(t.determinant) > 1e-6 * sx * sy)
    return PixelGrid("EPSG:32618", t)


@st.composite
def pixel_polygons(draw) -> Polygon:
    """A simple polygon in pixel space (u = column, v = row): star-shaped around its centre."""
    cu, cv = draw(st.floats(3, 27, **finite)), draw(st.floats(3, 27, **finite))
    angles = sorted(draw(st.lists(st.floats(0, 2 * math.pi, exclude_max=True, **finite), min_size=3, max_size=10,
                                  unique=True)))
    assume(min(np.diff(angles + [angles[0] + 2 * math.pi])) > 0.05)
    radii = draw(st.lists(st.floats(0.4, 12, **finite), min_size=len(angles), max_size=len(angles)))
    polygon = Polygon([(cu + r * math.cos(a), cv + r * math.sin(a)) for a, r in zip(angles, radii, strict=True)])
    assume(polygon.is_valid and polygon.area > 0.05)
    if draw(st.booleans()):  # a hole: the polygon shrunk about its own centre
        hole = shapely.affinity.scale(polygon, 0.35, 0.35, origin=polygon.centroid)
        if polygon.contains(hole):
            polygon = Polygon(polygon.exterior.coords, [hole.exterior.coords])
    return polygon


def to_world(geometry, grid: PixelGrid):
    t = grid.transform
    return shapely.transform(geometry, lambda uv: np.column_stack(
        [t.a * uv[:, 0] + t.b * uv[:, 1] + t.c, t.d * uv[:, 0] + t.e * uv[:, 1] + t.f]))


def centres_in_window(polygon_px: Polygon) -> tuple[np.ndarray, np.ndarray]:
    u0, v0, u1, v1 = polygon_px.bounds
    rows, cols = np.mgrid[math.floor(v0) - 1 : math.ceil(v1) + 1, math.floor(u0) - 1 : math.ceil(u1) + 1]
    return rows.ravel(), cols.ravel()


def judge(polygon_px: Polygon, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inside, clear) for pixel centres: inside the polygon, and not a tie (clear of every edge)."""
    centres = shapely.points(cols + 0.5, rows + 0.5)
    distance = shapely.distance(polygon_px.boundary, centres)
    return shapely.contains(polygon_px, centres), distance > TIE


def pixel_space(geometry_world, grid: PixelGrid):
    """A geometry mapped back to pixel space with the grid's own arithmetic."""
    return shapely.transform(geometry_world, lambda xy: np.column_stack(grid.pixel_coords(xy[:, 0], xy[:, 1])))


@SETTINGS
@given(grid=grids(), polygon=pixel_polygons())
def test_selected_centres_are_inside_and_inside_centres_are_selected(grid, polygon):
    world = to_world(polygon, grid)
    selection = select_pixels([world], grid)
    chosen = set(zip(selection.rows.tolist(), selection.cols.tolist(), strict=True))
    assert len(chosen) == len(selection)  # each pixel once
    polygon_px = pixel_space(world, grid)
    rows, cols = centres_in_window(polygon_px)
    inside, clear = judge(polygon_px, rows, cols)
    for r, c, is_in, is_clear in zip(rows, cols, inside, clear, strict=True):
        if is_clear:
            assert ((r, c) in chosen) == is_in, f"pixel ({r}, {c}) {'inside' if is_in else 'outside'}"
    window = set(zip(rows.tolist(), cols.tolist(), strict=True))
    assert chosen <= window  # nothing selected far away


@SETTINGS
@given(grid=grids(), polygon=pixel_polygons(), shift=st.tuples(st.integers(-50, 50), st.integers(-50, 50)))
def test_shifting_by_whole_pixels_shifts_the_selection(grid, polygon, shift):
    dc, dr = shift
    before = select_pixels([to_world(polygon, grid)], grid)
    moved = shapely.affinity.translate(polygon, dc, dr)  # whole pixels in pixel space
    after = select_pixels([to_world(moved, grid)], grid)
    polygon_px = pixel_space(to_world(polygon, grid), grid)
    ambiguous = set()
    rows, cols = centres_in_window(polygon_px)
    _, clear = judge(polygon_px, rows, cols)
    ambiguous = {(r, c) for r, c, ok in zip(rows.tolist(), cols.tolist(), clear, strict=True) if not ok}
    expected = {(r + dr, c + dc) for r, c in zip(before.rows.tolist(), before.cols.tolist(), strict=True)
                if (r, c) not in ambiguous}
    got = {(r, c) for r, c in zip(after.rows.tolist(), after.cols.tolist(), strict=True)
           if (r - dr, c - dc) not in ambiguous}
    assert got == expected


@SETTINGS
@given(grid=grids(), polygon=pixel_polygons(), data=st.data())
def test_splitting_a_polygon_along_pixel_edges_splits_its_pixels(grid, polygon, data):
    u0, _, u1, _ = polygon.bounds
    assume(math.ceil(u0) < math.floor(u1))
    cut = data.draw(st.integers(math.ceil(u0), math.floor(u1)), label="cut at column edge")
    left = polygon.intersection(shapely.box(-100, -100, cut, 100))
    right = polygon.intersection(shapely.box(cut, -100, 100, 100))
    assume(not left.is_empty and not right.is_empty)
    polygon_px = polygon
    rows, cols = centres_in_window(polygon_px)
    _, clear = judge(polygon_px, rows, cols)
    ambiguous = {(r, c) for r, c, ok in zip(rows.tolist(), cols.tolist(), clear, strict=True) if not ok}

    def pixels(geometry):
        s = select_pixels([to_world(geometry, grid)], grid)
        return {(r, c) for r, c in zip(s.rows.tolist(), s.cols.tolist(), strict=True) if (r, c) not in ambiguous}

    whole, a, b = pixels(polygon), pixels(left), pixels(right)
    assert a | b == whole
    assert not a & b  # the cut runs along pixel edges: no centre on it, no pixel in both halves


@SETTINGS
@given(grid=grids(), uv=st.lists(st.tuples(st.floats(-40, 40, **finite), st.floats(-40, 40, **finite)),
                                 min_size=1, max_size=20))
def test_a_point_selects_the_pixel_floor_puts_it_in(grid, uv):
    points = [to_world(Point(u, v), grid) for u, v in uv]
    selection = select_pixels(points, grid)
    u, v = grid.pixel_coords([p.x for p in points], [p.y for p in points])
    expected = sorted({(k, int(math.floor(b)), int(math.floor(a))) for k, (a, b) in enumerate(zip(u, v, strict=True))})
    assert list(zip(selection.feature.tolist(), selection.rows.tolist(), selection.cols.tolist(),
                    strict=True)) == expected
    # the pixel's centre is within half a pixel of the point, in pixel space
    cx, cy = grid.centre(selection.rows, selection.cols)
    cu, cv = grid.pixel_coords(cx, cy)
    assert np.all(np.abs(cu - u[selection.feature]) <= 0.5 + TIE)
    assert np.all(np.abs(cv - v[selection.feature]) <= 0.5 + TIE)


@SETTINGS
@given(grid=grids(), rows=st.lists(st.integers(-10**6, 10**6), min_size=1, max_size=50),
       cols=st.lists(st.integers(-10**6, 10**6), min_size=1, max_size=50))
def test_index_of_a_centre_is_the_pixel(grid, rows, cols):
    n = min(len(rows), len(cols))
    r, c = np.array(rows[:n]), np.array(cols[:n])
    back_r, back_c = grid.index(*grid.centre(r, c))
    assert back_r.tolist() == r.tolist() and back_c.tolist() == c.tolist()


@SETTINGS
@given(grid=grids(), shapes=st.lists(st.one_of(pixel_polygons(), st.builds(
    lambda a, b: LineString([a, b]), st.tuples(st.floats(0, 30, **finite), st.floats(0, 30, **finite)),
    st.tuples(st.floats(0, 30, **finite), st.floats(0, 30, **finite)))), min_size=1, max_size=6))
def test_selections_are_ordered_by_feature_then_row_major(grid, shapes):
    shapes = [s for s in shapes if s.length > 0]
    assume(shapes)
    geometries = [to_world(s, grid) for s in shapes]
    if len(shapes) >= 2 and all(isinstance(s, Polygon) for s in shapes[:2]) and shapes[0].disjoint(shapes[1]):
        geometries.append(MultiPolygon([geometries[0], geometries[1]]))
    selection = select_pixels(geometries, grid)
    keys = np.stack([selection.feature, selection.rows, selection.cols], axis=1)
    assert np.array_equal(keys, np.unique(keys, axis=0))  # sorted and unique per feature
    if len(geometries) > len(shapes):  # a MultiPolygon of two disjoint parts selects both parts' pixels
        parts = {tuple(k[1:]) for k in keys if k[0] in (0, 1)}
        multi = {tuple(k[1:]) for k in keys if k[0] == len(shapes)}
        assert multi == parts


OTHER_CRS = ["EPSG:32618", "EPSG:32660", "EPSG:32601", "EPSG:3857", "EPSG:3413", "EPSG:3031", "EPSG:4326"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grid=grids(), shapes=st.lists(st.one_of(pixel_polygons(), st.builds(
    Point, st.floats(-5, 35, **finite), st.floats(-5, 35, **finite))), min_size=1, max_size=4),
    crs=st.sampled_from(OTHER_CRS), scale=st.one_of(st.none(), st.floats(0.1, 5000, **finite)))
def test_sample_regions_returns_real_pixels_or_a_clean_error(grid, shapes, crs, scale):
    """Any grid, any geometries, regions in any CRS, any scale: real pixels or a SamplingError."""
    image = Image.from_array(coded(30, 30), grid.transform, grid.crs, bands=["code"])
    frame = gpd.GeoDataFrame({"k": range(len(shapes))}, geometry=[to_world(s, grid) for s in shapes], crs=grid.crs)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = frame.to_crs(crs)
    except Exception:
        assume(False)  # pyproj itself cannot move these regions there: not what is tested
    assume(np.isfinite(shapely.get_coordinates(frame.geometry.values)).all())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = sample_regions(image, frame, scale=scale)
    except SamplingError:
        return
    codes = result["code"].to_numpy()
    assert np.all((codes // 1000 < 30) & (codes % 1000 < 30) & (codes >= 0))  # values of real pixels
    assert result.index.isin(frame.index).all()
    if scale is None and crs == grid.crs.to_string():
        # on the image's own grid, each point reads exactly the pixel it is in
        for k, shape in enumerate(shapes):
            if isinstance(shape, Point):
                u, v = grid.pixel_coords([frame.geometry.iloc[k].x], [frame.geometry.iloc[k].y])
                row, col = math.floor(v[0]), math.floor(u[0])
                expected = [row * 1000 + col] if 0 <= row < 30 and 0 <= col < 30 else []
                assert result.loc[result.index == k, "code"].tolist() == expected
