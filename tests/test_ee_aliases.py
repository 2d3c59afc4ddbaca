"""Every Earth Engine spelling gives exactly what the snake_case call gives."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from affine import Affine

from sampling import Image, OptionError, PixelGrid, ee, reduce_regions, sample_regions
from sampling.ml import sample, stratified_sample

from .conftest import EXAMPLE_DATA

IMAGE = str(EXAMPLE_DATA / "example.tif")
REGIONS = str(EXAMPLE_DATA / "example_regions.gpkg")


@pytest.fixture(scope="module")
def image() -> Image:
    return Image.open(IMAGE)

@pytest.fixture(scope="module")
def fields() -> gpd.GeoDataFrame:
    return gpd.read_file(REGIONS)

def test_sample_regions_aliases(image, fields):
    expected = sample_regions(image, fields, properties=["class"], scale=20, tile_scale=4, geometries=True)
    for result in (
        ee.sampleRegions(image, fields, ["class"], 20, None, 4, True),
        ee.sampleRegions(image, collection=fields, properties=["class"], scale=20, tileScale=4, geometries=True),
        image.sampleRegions(collection=fields, properties=["class"], scale=20, tileScale=4, geometries=True),
        image.sample_regions(fields, properties=["class"], scale=20, tile_scale=4, geometries=True),
    ):
        pd.testing.assert_frame_equal(result, expected)
    grid = PixelGrid("EPSG:4326", Affine(0.0002, 0, -75, 0, -0.0002, 38))
    pd.testing.assert_frame_equal(
        image.sampleRegions(fields, projection=grid), sample_regions(image, fields, projection=grid)
    )
    # pass-through options
    pd.testing.assert_frame_equal(
        ee.sampleRegions(IMAGE, fields, feature_ids=True, drop_masked=False),
        sample_regions(IMAGE, fields, feature_ids=True, drop_masked=False),
    )

def test_reduce_regions_aliases(image, fields):
    expected = reduce_regions(image, fields, reducers=["mean", "min", "max", "std"], percentiles=[10], scale=30)
    for result in (
        ee.reduceRegions(image, fields, ["mean", "minMax", "stdDev"], 30, percentiles=[10]),
        image.reduceRegions(collection=fields, reducer=["mean", "minMax", "stdDev"], scale=30, percentiles=[10]),
        image.reduce_regions(fields, reducers=["mean", "min", "max", "std"], percentiles=[10], scale=30),
    ):
        pd.testing.assert_frame_equal(result, expected)
    pd.testing.assert_frame_equal(
        image.reduceRegions(fields, "count", crs="EPSG:4326", scale=20),
        reduce_regions(image, fields, reducers=["count"], projection="EPSG:4326", scale=20),
    )

def test_crs_transform_is_the_projection(image, fields):
    transform = [20, 0, 500005, 0, -20, 4200005]
    expected = reduce_regions(image, fields, reducers=["count"],
                              projection=PixelGrid("EPSG:32618", Affine(*transform)))
    result = ee.reduceRegions(image, fields, "count", crs="EPSG:32618", crsTransform=transform)
    pd.testing.assert_frame_equal(result, expected)
    # the image's CRS when crs is omitted, and crsTransform with scale is refused as in Earth Engine
    pd.testing.assert_frame_equal(ee.reduceRegions(image, fields, "count", crsTransform=transform), expected)
    with pytest.raises(ValueError, match="cannot be combined"):
        ee.reduceRegions(image, fields, "count", scale=30, crsTransform=transform)

def test_sample_and_stratified_sample_aliases(image, fields):
    pd.testing.assert_frame_equal(
        image.sample(fields, 20, numPixels=50, seed=3, geometries=True),
        sample(image, fields, scale=20, num_pixels=50, seed=3, geometries=True),
    )
    pd.testing.assert_frame_equal(
        ee.sample(image, factor=0.01, seed=1, dropNulls=False),
        sample(image, frac=0.01, seed=1, drop_masked=False),
    )
    height, width = image.grid.shape
    zones = (np.arange(height * width).reshape(height, width) // 9000 % 3).astype("uint8")  # 3 classes
    covered = Image([*Image.from_array(zones, image.grid.transform, image.grid.crs, bands=["zone"]).bands,
                     *image.bands])
    pd.testing.assert_frame_equal(
        covered.stratifiedSample(5, classBand="zone", region=fields, seed=2),
        stratified_sample(covered, fields, class_band="zone", n_per_class=5, seed=2),
    )
    pd.testing.assert_frame_equal(  # the class band defaults to the first band
        ee.stratifiedSample(covered, 4, scale=20, geometries=True),
        stratified_sample(covered, class_band="zone", n_per_class=4, scale=20, geometries=True),
    )

def test_unknown_reducer(image, fields):
    with pytest.raises(OptionError, match="Earth Engine's names"):
        ee.reduceRegions(image, fields, "variance")


def test_get_region_aliases(fields):
    from sampling import ImageCollection, get_region

    scenes = ImageCollection.from_files(str(EXAMPLE_DATA / "collection" / "*.tif"))
    some = fields.iloc[:3]
    expected = get_region(scenes, some, scale=20, crs="EPSG:32618", max_values=None)
    assert len(expected) > 100
    for result in (
        ee.getRegion(scenes, some, 20, "EPSG:32618", maxValues=None),
        scenes.getRegion(some, scale=20, crs="EPSG:32618", maxValues=None),
        scenes.get_region(some, scale=20, crs="EPSG:32618", max_values=None),
    ):
        pd.testing.assert_frame_equal(result, expected)
    transform = [30, 0, 500000, 0, -30, 4200000]
    pd.testing.assert_frame_equal(
        scenes.getRegion(some, crs="EPSG:32618", crsTransform=transform, maxValues=None),
        get_region(scenes, some, crs="EPSG:32618", crs_transform=transform, max_values=None),
    )
    # Earth Engine's limit and message, through the alias
    with pytest.raises(ValueError, match="Too many values"):
        scenes.getRegion(fields, scale=10, crs="EPSG:32618", maxValues=1000)


def test_get_pixels_and_compute_pixels_aliases(image):
    import numpy as np

    from sampling import compute_pixels, get_pixels

    grid = {"dimensions": {"width": 24, "height": 16}, "crsCode": "EPSG:32618",
            "affineTransform": {"scaleX": 20, "shearX": 0, "translateX": 500400,
                                "shearY": 0, "scaleY": -20, "translateY": 4199600}}
    raw = {"assetId": IMAGE, "fileFormat": "NUMPY_NDARRAY", "grid": grid, "bandIds": ["nir", "red"]}
    expected = get_pixels(raw)
    assert expected.shape == (16, 24) and expected.dtype.names == ("nir", "red")
    np.testing.assert_array_equal(ee.getPixels(raw), expected)
    png = {**raw, "fileFormat": "PNG", "bandIds": ["red", "green", "blue"],
           "visualizationOptions": {"ranges": [{"min": 0, "max": 2000}]}}
    assert ee.getPixels(png) == get_pixels(png) and ee.getPixels(png)[:4] == b"\x89PNG"
    computed = {"expression": image.select(["nir"]), "fileFormat": "NPY", "grid": grid}
    assert ee.computePixels(computed) == compute_pixels(computed)
    assert ee.computePixels(computed, mask=True) == compute_pixels(computed, mask=True)
