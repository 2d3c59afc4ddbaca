"""cut_patches: patches centred on points, exact against rasterio windows, files, and reads."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window
from shapely import LineString, Point

from sampling import GeometryError, GridError, Image, cut_patches, get_pixels
from sampling.image import FileSource
from sampling.patches import patch_origins

LANDSAT_LEFT, LANDSAT_TOP = 717345.0, -2776995.0


def expected_patch(path: str, x: float, y: float, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The patch by the documented rule, read with rasterio (boundless: 0 and invalid outside)."""
    u, v = (x - LANDSAT_LEFT) / 30.0, (LANDSAT_TOP - y) / 30.0

    def start(coord: float, side: int) -> int:
        return math.floor(coord) - (side - 1) // 2 if side % 2 else math.floor(coord + 0.5) - side // 2

    col0, row0 = start(u, width), start(v, height)
    with rasterio.open(path) as ds:
        window = Window(col0, row0, width, height)
        values = ds.read(1, window=window, boundless=True, fill_value=0)
        inside = np.zeros((height, width), bool)
        rows, cols = np.mgrid[row0 : row0 + height, col0 : col0 + width]
        inside[(rows >= 0) & (rows < ds.height) & (cols >= 0) & (cols < ds.width)] = True
    return values, inside


@pytest.fixture
def points(shared_data) -> gpd.GeoDataFrame:
    frame = gpd.read_file(shared_data / "landsat8" / "points.gpkg")
    # one more point near the scene's top-left corner, so that a patch crosses the edge
    corner = gpd.GeoDataFrame({"name": ["corner"]}, geometry=[Point(LANDSAT_LEFT + 40, LANDSAT_TOP - 20)],
                              crs=frame.crs)
    return gpd.GeoDataFrame(np.concatenate([frame.values, corner.values]), columns=frame.columns,
                            geometry="geometry", crs=frame.crs)


@pytest.mark.parametrize("size", [(5, 5), (4, 6), (1, 1)])
def test_patches_equal_rasterio_windows_centred_by_the_rule(landsat_paths, points, size):
    width, height = size
    patches = cut_patches(landsat_paths, points, size=size, bands=["B4", "B2"])
    assert patches.values.shape == (len(points), 2, height, width)
    assert patches.values.dtype == np.uint16 and patches.band_names == ["B4", "B2"]
    for n, geom in enumerate(points.geometry):
        for k, path in enumerate([landsat_paths[2], landsat_paths[0]]):
            values, inside = expected_patch(path, geom.x, geom.y, width, height)
            np.testing.assert_array_equal(patches.values[n, k], values)
            np.testing.assert_array_equal(patches.valid[n, k], inside)
    assert patches.valid[-1].all() == (size == (1, 1))  # the corner patch crosses the edge


def test_points_in_another_crs_give_the_same_patches(landsat_paths, points):
    here = cut_patches(landsat_paths, points.iloc[:6], size=8)
    lonlat = cut_patches(landsat_paths, points.iloc[:6].to_crs(4326), size=8)
    np.testing.assert_array_equal(here.values, lonlat.values)


def test_patch_origins_for_odd_and_even_sizes():
    u = np.array([10.0, 10.49, 10.5, 10.99])
    _, odd = patch_origins(u, u, (3, 3))
    _, even = patch_origins(u, u, (4, 4))
    assert odd.tolist() == [9, 9, 9, 9]  # floor(u) - 1: the point's pixel in the middle
    assert even.tolist() == [8, 8, 9, 9]  # the nearest pixel edge (10 or 11) in the middle


def test_patch_files_are_what_get_pixels_returns_for_the_patch_grid(landsat_paths, points, tmp_path):
    image = Image.open(landsat_paths)
    patches = cut_patches(image, points, size=(6, 4))
    tifs = patches.to_files(tmp_path, file_format="GEO_TIFF", prefix="p")
    npys = patches.to_files(tmp_path, file_format="NPY", mask=True)
    assert [p.name for p in tifs] == [f"p{i}.tif" for i in range(len(points))]
    for n, (tif, npy) in enumerate(zip(tifs, npys, strict=True)):
        grid = patches.patch_grid(n)
        with rasterio.open(tif) as ds:
            assert ds.transform == grid.transform and ds.crs.to_epsg() == 32621
            assert ds.descriptions == ("B2", "B3", "B4")
            np.testing.assert_array_equal(ds.read(), patches.values[n])
        t = grid.transform
        params = {"assetId": image, "fileFormat": "NPY", "grid": {
            "dimensions": {"width": 6, "height": 4}, "crsCode": "EPSG:32621",
            "affineTransform": {"scaleX": t.a, "shearX": t.b, "translateX": t.c,
                                "shearY": t.d, "scaleY": t.e, "translateY": t.f}}}
        assert npy.read_bytes() == get_pixels(params, mask=True)
    with pytest.raises(FileExistsError):
        patches.to_files(tmp_path, file_format="NPY")


def test_patches_on_a_coarser_working_grid_match_get_pixels(landsat_paths, points):
    image = Image.open(landsat_paths)
    patches = cut_patches(image, points.iloc[:3], size=5, scale=45)  # off the source lattice: the engine path
    for n in range(3):
        grid = patches.patch_grid(n)
        out = get_pixels({"assetId": image, "fileFormat": "NUMPY_NDARRAY", "grid": grid})
        for k, name in enumerate(patches.band_names):
            np.testing.assert_array_equal(patches.values[n, k], out[name])


def test_each_block_is_read_once_for_many_patches(landsat_paths, monkeypatch):
    reads: list[tuple] = []
    original = FileSource.read

    def counting(self, indexes, window):
        reads.append((self.path, window))
        return original(self, indexes, window)

    monkeypatch.setattr(FileSource, "read", counting)
    rng = np.random.default_rng(4)
    x = LANDSAT_LEFT + rng.uniform(0, 500 * 30, 300)
    y = LANDSAT_TOP - rng.uniform(0, 500 * 30, 300)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=32621)
    patches = cut_patches(landsat_paths, pts, size=16)
    assert patches.values.shape == (300, 3, 16, 16)
    assert len(reads) == len(set(reads))  # no block read twice
    assert len(reads) <= 3 * 9  # 3 files x at most 3 x 3 blocks of 256 pixels cover the points


def test_bad_points_and_sizes(landsat_paths, points):
    lines = gpd.GeoDataFrame(geometry=[LineString([(LANDSAT_LEFT, LANDSAT_TOP), (LANDSAT_LEFT + 90, LANDSAT_TOP)])],
                             crs=32621)
    with pytest.raises(GeometryError, match="not Points"):
        cut_patches(landsat_paths, lines, size=3)
    with pytest.raises(GridError, match="size must be"):
        cut_patches(landsat_paths, points, size=0)
    with pytest.raises(GridError, match="size must be"):
        cut_patches(landsat_paths, points, size=(3, 2, 1))


def test_array_images_and_transforms(make_raster):
    data = np.arange(100, dtype="float32").reshape(10, 10)
    data[4, 4] = np.nan
    image = Image.from_array(data, Affine(2, 0, 100, 0, -2, 200), "EPSG:32618")
    pts = gpd.GeoDataFrame(geometry=[Point(109.0, 191.0)], crs=32618)  # pixel (4, 4)
    patches = cut_patches(image, pts, size=3)
    assert patches.values[0, 0].tolist() == [[33, 34, 35], [43, 0, 45], [53, 54, 55]]  # NaN is masked, so 0
    assert patches.valid[0, 0, 1, 1] == np.False_
