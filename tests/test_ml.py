"""sample, stratified_sample, spatial_split, to_xy."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely import box

from sampling import Image, OptionError, sample_regions
from sampling.ml import sample, spatial_blocks, spatial_split, stratified_sample, to_xy

from .conftest import EXAMPLE_DATA

IMAGE = str(EXAMPLE_DATA / "example.tif")
REGIONS = str(EXAMPLE_DATA / "example_regions.gpkg")


@pytest.fixture(scope="module")
def fields() -> gpd.GeoDataFrame:
    return gpd.read_file(REGIONS)

@pytest.fixture(scope="module")
def overlapping() -> gpd.GeoDataFrame:
    """Three labelled squares over the example scene; b overlaps a, c overlaps the cloud (nodata)."""
    x0, y0 = 500000, 4200000
    return gpd.GeoDataFrame(
        {"label": ["a", "b", "c"]},
        geometry=[
            box(x0 + 200, y0 - 1200, x0 + 800, y0 - 600),
            box(x0 + 500, y0 - 1000, x0 + 1100, y0 - 400),
            box(x0 + 2400, y0 - 700, x0 + 3000, y0 - 100),  # the cloud blob is around row 40, col 270
        ],
        crs="EPSG:32618",
    )

def pixel_keys(table: gpd.GeoDataFrame) -> list[tuple[float, float]]:
    return list(zip(table.geometry.x, table.geometry.y, strict=True))

def test_sample_returns_exactly_num_pixels_and_is_reproducible(overlapping):
    a = sample(IMAGE, overlapping, num_pixels=500, seed=7, geometries=True)
    b = sample(IMAGE, overlapping, num_pixels=500, seed=7, geometries=True)
    c = sample(IMAGE, overlapping, num_pixels=500, seed=8, geometries=True)
    assert len(a) == 500
    pd.testing.assert_frame_equal(a, b)
    assert pixel_keys(a) != pixel_keys(c)
    # every band is unmasked although region c covers the cloud
    assert not a[["blue", "green", "red", "nir"]].isna().any().any()
    assert set(a["label"]) == {"a", "b", "c"}

def test_sampled_rows_are_sample_regions_rows(overlapping):
    drawn = sample(IMAGE, overlapping, num_pixels=300, seed=1, geometries=True)
    everything = sample_regions(IMAGE, overlapping, geometries=True)
    everything = everything.assign(x=everything.geometry.x, y=everything.geometry.y).reset_index()
    drawn_flat = drawn.assign(x=drawn.geometry.x, y=drawn.geometry.y).reset_index()
    merged = drawn_flat.merge(everything, on=["index", "label", "x", "y"], suffixes=("", "_all"))
    assert len(merged) == len(drawn_flat)  # each drawn row exists in sample_regions
    for band in ["blue", "green", "red", "nir"]:
        assert (merged[band] == merged[f"{band}_all"]).all()
    # and keeps sample_regions' order: by region, then row-major
    order = drawn_flat.assign(row=-drawn_flat.y, col=drawn_flat.x)[["index", "row", "col"]]
    assert order.equals(order.sort_values(["index", "row", "col"]))

def test_sample_masked_pixels_are_refilled_or_dropped(overlapping):
    cloudy = overlapping.iloc[[2]]
    valid = len(sample_regions(IMAGE, cloudy))
    assert valid < 3600  # the 60 x 60 pixel region really is partly masked
    assert len(sample(IMAGE, cloudy, num_pixels=valid, seed=3)) == valid  # every unmasked pixel, exactly
    assert len(sample(IMAGE, cloudy, num_pixels=valid + 100, seed=3)) == valid  # no more than there are
    # frac draws a fraction of all pixels and drops the masked draws, like Earth Engine's factor
    some = sample(IMAGE, cloudy, frac=0.5, seed=3)
    assert abs(len(some) - 0.5 * valid) < 0.1 * valid

def test_sample_whole_image_and_scale():
    table = sample(IMAGE, num_pixels=1000, seed=0, geometries=True)
    assert len(table) == 1000 and len(set(pixel_keys(table))) == 1000
    image = Image.open(IMAGE)
    left, bottom, right, top = image.grid.bounds
    assert table.geometry.x.between(left, right).all() and table.geometry.y.between(bottom, top).all()
    # values are the pixels' values
    with_values = sample_regions(IMAGE, table.drop(columns=["blue", "green", "red", "nir"]).reset_index(drop=True))
    assert with_values["nir"].tolist() == table["nir"].tolist()
    coarse = sample(IMAGE, num_pixels=100, seed=0, scale=40, geometries=True)
    assert len(coarse) == 100 and ((coarse.geometry.x - 500000) % 40 == 20).all()

def test_dedupe_keeps_each_pixel_once(overlapping):
    everything = sample(IMAGE, overlapping, num_pixels=100_000, seed=0, geometries=True)
    keys = pixel_keys(everything)
    assert len(keys) > len(set(keys))  # overlapping regions repeat pixels by default, as in Earth Engine
    once = sample(IMAGE, overlapping, num_pixels=100_000, seed=0, geometries=True, dedupe=True)
    assert len(pixel_keys(once)) == len(set(pixel_keys(once))) == len(set(keys))
    # the first region keeps a shared pixel
    of = {label: set(pixel_keys(everything[everything["label"] == label])) for label in "ab"}
    shared = of["a"] & of["b"]
    owner = dict(zip(pixel_keys(once), once["label"], strict=True))
    assert shared and all(owner[k] == "a" for k in shared)
    drawn = sample(IMAGE, overlapping, num_pixels=2000, seed=5, geometries=True, dedupe=True)
    assert len(set(pixel_keys(drawn))) == 2000

def test_stratified_by_region_column(fields):
    table = stratified_sample(IMAGE, fields, class_column="class", n_per_class=100, seed=4)
    assert table["class"].value_counts().to_dict() == {"crop": 100, "water": 100, "urban": 100, "forest": 100}
    again = stratified_sample(IMAGE, fields, class_column="class", n_per_class=100, seed=4)
    pd.testing.assert_frame_equal(table, again)
    # rows come from regions of their class
    assert (fields.loc[table.index, "class"].to_numpy() == table["class"].to_numpy()).all()
    some = stratified_sample(IMAGE, fields, class_column="class", n_per_class={"water": 10, "urban": 5},
                             properties=["field_id"], seed=4)
    assert some["class"].value_counts().to_dict() == {"water": 10, "urban": 5}
    assert list(some.columns[:2]) == ["field_id", "class"]

def test_stratified_warns_when_a_class_is_short(fields):
    counts = sample_regions(IMAGE, fields)["class"].value_counts()
    with pytest.warns(UserWarning, match="fewer unmasked pixels"):
        table = stratified_sample(IMAGE, fields, class_column="class", n_per_class=int(counts.min()) + 50, seed=0)
    assert table["class"].value_counts()[counts.idxmin()] == counts.min()

def class_image() -> Image:
    """The example scene plus a land-cover band (0..3 by quadrant-like stripes, 255 = nodata)."""
    scene = Image.open(IMAGE)
    height, width = scene.grid.shape
    rows, cols = np.mgrid[0:height, 0:width]
    landcover = ((rows // 60 + cols // 80) % 4).astype("uint8")
    landcover[:10] = 255
    cover = Image.from_array(landcover, scene.grid.transform, scene.grid.crs, bands=["landcover"], nodata=255)
    return Image([*scene.bands, *cover.bands], id="scene")

def test_stratified_by_class_band():
    image = class_image()
    table = stratified_sample(image, class_band="landcover", n_per_class=50, seed=2, geometries=True)
    assert table["landcover"].value_counts().sort_index().to_dict() == {0: 50, 1: 50, 2: 50, 3: 50}
    # the class column holds the class band's value at the pixel, and masked pixels are never drawn
    check = sample_regions(image, table[["geometry"]].reset_index(drop=True))
    assert check["landcover"].tolist() == table["landcover"].tolist()
    assert not table.isna().any().any()
    # reproducible, and tile_scale (batch size) does not change the draw
    same = stratified_sample(image, class_band="landcover", n_per_class=50, seed=2, geometries=True, tile_scale=20)
    pd.testing.assert_frame_equal(table, same)

def test_stratified_by_class_band_in_regions_with_dedupe(overlapping):
    image = class_image()
    table = stratified_sample(image, overlapping, class_band="landcover", n_per_class=40, seed=9,
                              geometries=True, dedupe=True)
    keys = pixel_keys(table)
    assert len(keys) == len(set(keys))
    assert table["landcover"].value_counts().max() == 40
    assert set(table["label"]) <= {"a", "b", "c"}

def test_spatial_split_assigns_whole_blocks(fields):
    table = sample_regions(IMAGE, fields, geometries=True)
    train, test = spatial_split(table, block_size=500, test_fraction=0.3, seed=1)
    assert len(train) + len(test) == len(table)
    blocks = spatial_blocks(table, 500)
    test_keys = set(pixel_keys(test))
    is_test = np.array([k in test_keys for k in pixel_keys(table)])
    assert not set(blocks[is_test]) & set(blocks[~is_test])  # no block on both sides
    assert 0.15 < len(test) / len(table) < 0.45
    again = spatial_split(table, block_size=500, test_fraction=0.3, seed=1)
    pd.testing.assert_frame_equal(test, again[1])
    # row/col style columns work too
    grid = pd.DataFrame({"col": np.arange(100) % 10, "row": np.arange(100) // 10, "v": np.arange(100)})
    train, test = spatial_split(grid, block_size=5, test_fraction=0.25, columns=("col", "row"), seed=0)
    assert len(test) == 25 and len(train) == 75

def test_spatial_split_errors(fields):
    table = sample_regions(IMAGE, fields)  # no geometries
    with pytest.raises(OptionError, match="geometries=True"):
        spatial_split(table, block_size=500)
    with_points = sample_regions(IMAGE, fields, geometries=True)
    with pytest.raises(OptionError, match="smaller block_size"):
        spatial_split(with_points, block_size=1e7)
    with pytest.raises(OptionError, match="test_fraction"):
        spatial_split(with_points, block_size=500, test_fraction=1.5)

def test_to_xy_gives_arrays_for_scikit_learn(fields):
    table = stratified_sample(IMAGE, fields, class_column="class", n_per_class=20, seed=0)
    X, y = to_xy(table, "class")
    assert X.shape == (80, 4) and X.dtype == np.float64
    assert y.tolist() == table["class"].tolist()
    assert X[:, 3].tolist() == table["nir"].astype(float).tolist()
    image = class_image()
    table = stratified_sample(image, class_band="landcover", n_per_class=5, seed=0)
    X, y = to_xy(table, "landcover")
    assert X.shape == (20, 4)  # the label band is not a feature

def test_bad_options(fields):
    with pytest.raises(OptionError, match="exactly one of num_pixels"):
        sample(IMAGE, fields)
    with pytest.raises(OptionError, match="exactly one of num_pixels"):
        sample(IMAGE, fields, num_pixels=3, frac=0.1)
    with pytest.raises(OptionError, match="frac"):
        sample(IMAGE, fields, frac=2)
    with pytest.raises(OptionError, match="num_pixels"):
        sample(IMAGE, fields, num_pixels=-1)
    with pytest.raises(OptionError, match="exactly one of class_band"):
        stratified_sample(IMAGE, fields, n_per_class=3)
    with pytest.raises(OptionError, match="labelled regions"):
        stratified_sample(IMAGE, class_column="class", n_per_class=3)
    with pytest.raises(KeyError, match="unknown class_column"):
        stratified_sample(IMAGE, fields, class_column="crop", n_per_class=3)
    with pytest.raises(KeyError, match="unknown class_band"):
        stratified_sample(IMAGE, class_band="landcover", n_per_class=3)
    with pytest.raises(OptionError, match="no candidate pixel"):
        stratified_sample(IMAGE, fields, class_column="class", n_per_class={"desert": 3})
