"""sample_regions against independent oracles on real imagery (../shared/data).

* the selected pixels of every polygon equal rasterio's ``geometry_mask(all_touched=False)``;
* per-polygon count and sum of every band equal ``rasterstats.zonal_stats``;
* point values equal rasterio's ``sample``.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.features import geometry_mask
from rasterstats import zonal_stats
from shapely import MultiPolygon, Polygon

from sampling import Image, sample_regions


@pytest.fixture(scope="module")
def landsat(landsat_paths):
    return Image.open(landsat_paths)


@pytest.fixture(scope="module")
def landsat_polygons(shared_data):
    return gpd.read_file(shared_data / "landsat8" / "polygons.gpkg")


def random_regions(path, n, seed):
    """Random polygons over a raster: blobs, boxes, MultiPolygons and polygons with holes."""
    rng = np.random.default_rng(seed)
    with rasterio.open(path) as ds:
        left, bottom, right, top = ds.bounds
        crs = ds.crs
        res = ds.res[0]
    shapes = []
    for k in range(n):
        x = rng.uniform(left, right)
        y = rng.uniform(bottom, top)
        size = rng.uniform(0.3, 25) * res
        blob = shapely.Point(x, y).buffer(size, quad_segs=3)
        blob = shapely.affinity.scale(blob, rng.uniform(0.4, 1.6), rng.uniform(0.4, 1.6))
        if k % 5 == 1:
            blob = Polygon(blob.exterior.coords, [shapely.Point(x, y).buffer(size / 3).exterior.coords])
        if k % 5 == 2:
            blob = MultiPolygon([blob, shapely.Point(x + 3 * size, y).buffer(size / 2)])
        shapes.append(blob)
    frame = gpd.GeoDataFrame({"k": np.arange(n)}, geometry=shapes, crs=crs)
    return frame[frame.is_valid]


def assert_matches_geometry_mask(table, regions, path):
    with rasterio.open(path) as ds:
        transform, shape = ds.transform, ds.shape
    from sampling.grid import PixelGrid

    grid = PixelGrid(regions.crs, transform, shape)
    for label, geom in regions.geometry.items():
        inside = ~geometry_mask([geom], out_shape=shape, transform=transform, all_touched=False)
        rows, cols = np.nonzero(inside)
        points = table.loc[[label]] if label in table.index else table.iloc[:0]
        r, c = grid.index(points.geometry.x.to_numpy(), points.geometry.y.to_numpy())
        assert r.tolist() == rows.tolist() and c.tolist() == cols.tolist(), f"region {label}"


def test_landsat_polygons_select_what_geometry_mask_selects(landsat, landsat_polygons, landsat_paths):
    table = sample_regions(landsat, landsat_polygons, geometries=True)
    assert_matches_geometry_mask(table, landsat_polygons, landsat_paths[0])


def test_landsat_counts_and_sums_equal_rasterstats(landsat, landsat_polygons, landsat_paths):
    table = sample_regions(landsat, landsat_polygons)
    ours = table.groupby(level=0)[["B2", "B3", "B4"]].agg(["count", "sum"])
    for band, path in zip(["B2", "B3", "B4"], landsat_paths):
        stats = zonal_stats(landsat_polygons, path, stats=["count", "sum"], all_touched=False, nodata=-1)
        assert ours[(band, "count")].tolist() == [s["count"] for s in stats]
        assert ours[(band, "sum")].tolist() == [int(s["sum"]) for s in stats]


def test_landsat_points_equal_rasterio_sample(landsat, shared_data, landsat_paths):
    points = gpd.read_file(shared_data / "landsat8" / "points.gpkg")
    table = sample_regions(landsat, points)
    assert table.index.tolist() == points.index.tolist()
    for band, path in zip(["B2", "B3", "B4"], landsat_paths):
        with rasterio.open(path) as ds:
            expected = [v[0] for v in ds.sample(zip(points.geometry.x, points.geometry.y))]
        assert table[band].tolist() == expected


def test_rgbn_random_polygons_equal_geometry_mask_and_rasterstats(shared_data):
    path = shared_data / "rgbn.tif"
    regions = random_regions(path, 60, seed=7)
    # rasterstats fills outside the raster with its nodata, which it then counts for a
    # uint8 raster without nodata; keep regions inside (edges: see the next test)
    with rasterio.open(path) as ds:
        regions = regions[regions.within(shapely.box(*ds.bounds))]
    assert len(regions) > 40
    image = Image.open(path)
    table = sample_regions(image, regions, geometries=True)
    assert_matches_geometry_mask(table, regions, path)
    ours = table.groupby(level=0)[image.band_names].agg(["count", "sum"]).reindex(regions.index)
    for k, band in enumerate(image.band_names, start=1):
        stats = zonal_stats(regions, str(path), band=k, stats=["count", "sum"], all_touched=False, nodata=-1)
        assert ours[(band, "count")].fillna(0).astype(int).tolist() == [s["count"] for s in stats]
        assert ours[(band, "sum")].fillna(0).astype(int).tolist() == [int(s["sum"] or 0) for s in stats]


def test_nodata_masks_per_band_equal_rasterstats_on_a_partial_scene(shared_data):
    path = shared_data / "rgbn_suba.tif"
    regions = random_regions(shared_data / "rgbn.tif", 40, seed=11)  # many straddle the subset's edge
    image = Image.open(path)
    table = sample_regions(image, regions, drop_masked=False)
    ours = table.groupby(level=0)[image.band_names].agg(["count", "sum"]).reindex(regions.index)
    for k, band in enumerate(image.band_names, start=1):
        stats = zonal_stats(regions, str(path), band=k, stats=["count", "sum"], all_touched=False)
        assert ours[(band, "count")].fillna(0).astype(int).tolist() == [s["count"] for s in stats]
        assert ours[(band, "sum")].fillna(0).astype(int).tolist() == [int(s["sum"] or 0) for s in stats]


def test_rgbn_random_points_equal_rasterio_sample(shared_data):
    path = shared_data / "rgbn.tif"
    with rasterio.open(path) as ds:
        left, bottom, right, top = ds.bounds
        rng = np.random.default_rng(3)
        xs, ys = rng.uniform(left, right, 500), rng.uniform(bottom, top, 500)
        expected = np.array(list(ds.sample(zip(xs, ys))))
        crs = ds.crs
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xs, ys), crs=crs)
    table = sample_regions(path, points)
    assert np.array_equal(table[["b1", "b2", "b3", "b4"]].to_numpy(), expected)


def test_the_result_does_not_depend_on_the_regions_crs_beyond_reprojection_error(landsat, landsat_polygons):
    native = sample_regions(landsat, landsat_polygons, geometries=True)
    for crs in ("EPSG:4326", "EPSG:3857", "EPSG:32720"):
        moved = sample_regions(landsat, landsat_polygons.to_crs(crs), geometries=True)
        a = set(zip(native.index, native.geometry.x, native.geometry.y))
        b = set(zip(moved.index, moved.geometry.x, moved.geometry.y))
        # a vertex moves by far less than a millimetre; only centres within that of an edge may flip
        assert len(a ^ b) <= 2, crs
