"""reduce_regions: per-region statistics on the same pixels as sample_regions.

Oracles: rasterstats.zonal_stats (all_touched=False) on the real scenes, and
pandas group-bys over sample_regions' rows.
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from shapely import MultiPolygon, Point, Polygon, box

from sampling import Image, OptionError, reduce_regions, sample_regions

from .conftest import EXAMPLE_DATA

IMAGE = str(EXAMPLE_DATA / "example.tif")
REGIONS = str(EXAMPLE_DATA / "example_regions.gpkg")


STATS = ["count", "sum", "mean", "min", "max", "std", "median"]

def mixed_regions(path: str, n: int, seed: int) -> gpd.GeoDataFrame:
    """Random regions over a raster: boxes, rotated polygons, a hole, a MultiPolygon,
    sub-pixel polygons, overlaps, points, and one region outside the raster."""
    with rasterio.open(path) as ds:
        left, bottom, right, top = ds.bounds
        res = ds.res[0]
        crs = ds.crs
    rng = np.random.default_rng(seed)
    geoms = []
    for k in range(n):
        x = rng.uniform(left, right)
        y = rng.uniform(bottom, top)
        size = rng.uniform(0.3, 25) * res
        kind = k % 6
        if kind == 0:
            geoms.append(box(x, y, x + size, y + size * rng.uniform(0.5, 2)))
        elif kind == 1:
            geoms.append(shapely.affinity.rotate(box(x, y, x + size, y + size / 2), rng.uniform(0, 90)))
        elif kind == 2:
            outer = Point(x, y).buffer(size)
            geoms.append(Polygon(outer.exterior.coords, [Point(x, y).buffer(size / 3).exterior.coords]))
        elif kind == 3:
            geoms.append(MultiPolygon([box(x, y, x + size, y + size), box(x + 2 * size, y, x + 3 * size, y + size)]))
        elif kind == 4:
            geoms.append(box(x, y, x + res * 0.4, y + res * 0.4))  # smaller than a pixel
        else:
            geoms.append(Point(x, y))
    geoms.append(geoms[0].buffer(res * 3))  # overlaps region 0
    geoms.append(box(right + 10 * res, top + 10 * res, right + 20 * res, top + 20 * res))  # outside
    geoms = [g.intersection(box(left - 5 * res, bottom - 5 * res, right + 5 * res, top + 5 * res)) or g for g in geoms]
    return gpd.GeoDataFrame({"name": [f"r{k}" for k in range(len(geoms))]}, geometry=geoms, crs=crs)

def zonal(regions: gpd.GeoDataFrame, path: str, band: int, nodata=None) -> pd.DataFrame:
    from rasterstats import zonal_stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = zonal_stats(
            regions, path, band=band, all_touched=False, nodata=nodata,
            stats="count sum mean min max std median percentile_10 percentile_90",
        )
    return pd.DataFrame(rows, index=regions.index)

def assert_matches_rasterstats(ours: pd.DataFrame, band_name: str, theirs: pd.DataFrame, path: str) -> None:
    # rasterstats fills pixels outside the raster with 0 and counts them for integer rasters,
    # where the footprint masks them here: compare the regions inside the raster, and check
    # that the region wholly outside it counts nothing
    with rasterio.open(path) as ds:
        inside = ours.geometry.within(box(*ds.bounds)).to_numpy()
    outside = ~ours.geometry.intersects(box(*ds.bounds)).to_numpy()
    assert outside.any() and (ours.loc[outside, f"{band_name}_count"] == 0).all()
    ours, theirs = ours[inside], theirs[inside]
    count = ours[f"{band_name}_count"].to_numpy()
    np.testing.assert_array_equal(count, theirs["count"].to_numpy())
    has = count > 0
    assert has.sum() > 5 and (~has).sum() >= 1  # both kinds of regions are exercised
    for ours_name, their_name in [
        ("sum", "sum"), ("mean", "mean"), ("min", "min"), ("max", "max"), ("std", "std"),
        ("median", "median"), ("p10", "percentile_10"), ("p90", "percentile_90"),
    ]:
        column = ours[f"{band_name}_{ours_name}"]
        assert column.isna().to_numpy().tolist() == (~has).tolist(), ours_name
        mine = column.to_numpy(dtype="float64", na_value=np.nan)[has]
        expected = theirs[their_name].to_numpy(dtype="float64")[has]
        np.testing.assert_allclose(mine, expected, rtol=1e-10, err_msg=f"{band_name} {ours_name}")

def test_landsat_matches_rasterstats(landsat_paths):
    polygons = gpd.read_file(landsat_paths[0].rsplit("/", 1)[0] + "/polygons.gpkg")
    regions = pd.concat([polygons, mixed_regions(landsat_paths[0], 60, seed=1)], ignore_index=True)
    image = Image.open(landsat_paths)
    ours = reduce_regions(image, regions, percentiles=[10, 90])
    assert list(ours.index) == list(regions.index)
    assert (ours.geometry.values == regions.geometry.values).all()
    for band, path in zip(image.band_names, landsat_paths, strict=True):
        assert_matches_rasterstats(ours, band, zonal(regions, path, 1), path)
    # integer sums are exact integers, not floats
    assert str(ours["B2_sum"].dtype) == "UInt64" and str(ours["B2_min"].dtype) == "UInt16"
    assert ours["B2_count"].dtype == np.dtype("int64")

def test_rgbn_matches_rasterstats(shared_data):
    path = str(shared_data / "rgbn.tif")
    regions = mixed_regions(path, 48, seed=2)
    ours = reduce_regions(path, regions, percentiles=[10, 90])
    for k, band in enumerate(Image.open(path).band_names):
        assert_matches_rasterstats(ours, band, zonal(regions, path, k + 1), path)

def test_masked_pixels_are_left_out_per_band(shared_data):
    """rgbn_suba.tif has nodata 0: each band is reduced under its own mask, as rasterstats does."""
    path = str(shared_data / "rgbn_suba.tif")
    regions = mixed_regions(str(shared_data / "rgbn.tif"), 48, seed=3)
    ours = reduce_regions(path, regions, percentiles=[10, 90])
    with rasterio.open(path) as ds:
        nodata = ds.nodata
    for k, band in enumerate(Image.open(path).band_names):
        assert_matches_rasterstats(ours, band, zonal(regions, path, k + 1, nodata=nodata), path)

def test_same_pixels_as_sample_regions():
    """Statistics equal pandas group-bys over sample_regions' rows (masked values left out per band)."""
    image = Image.open(IMAGE)
    fields = gpd.read_file(REGIONS)
    fields = pd.concat([fields, fields.iloc[[3]].assign(field_id=99)], ignore_index=True)  # duplicate region
    ours = reduce_regions(image, fields, percentiles=[25])
    rows = sample_regions(image, fields, drop_masked=False)
    for band in image.band_names:
        values = rows[band].astype("float64")
        grouped = values.groupby(level=0)
        expected = pd.DataFrame({
            "count": grouped.count(), "sum": grouped.sum(), "mean": grouped.mean(), "min": grouped.min(),
            "max": grouped.max(), "std": grouped.std(ddof=0), "median": grouped.median(),
            "p25": grouped.quantile(0.25),
        }).reindex(fields.index)
        expected["count"] = expected["count"].fillna(0)
        for stat in expected.columns:
            np.testing.assert_allclose(
                ours[f"{band}_{stat}"].to_numpy(dtype="float64", na_value=np.nan), expected[stat].to_numpy(),
                rtol=1e-12, err_msg=f"{band} {stat}",
            )
    # the cloud (nodata) makes some counts smaller than the pixel counts
    assert (ours["blue_count"] > 0).all()

def test_tile_scale_and_batches_do_not_change_the_result():
    """Tiny batches split regions across batches; the statistics stay the same."""
    fields = gpd.read_file(REGIONS)
    a = reduce_regions(IMAGE, fields, percentiles=[5, 95])
    b = reduce_regions(IMAGE, fields, percentiles=[5, 95], tile_scale=150)  # ~180-pixel batches
    pd.testing.assert_frame_equal(a, b)

def test_scale_and_projection_follow_sample_regions():
    fields = gpd.read_file(REGIONS)
    for options in ({"scale": 30}, {"scale": 5}, {"projection": "EPSG:4326", "scale": 20}):
        stats = reduce_regions(IMAGE, fields, reducers=["count", "sum"], **options)
        rows = sample_regions(IMAGE, fields, drop_masked=False, **options)
        counts = rows["nir"].notna().groupby(level=0).sum().reindex(fields.index, fill_value=0)
        assert stats["nir_count"].tolist() == counts.tolist(), options
        sums = rows["nir"].astype("float64").groupby(level=0).sum().reindex(fields.index)
        assert stats["nir_sum"].astype("float64").tolist() == sums.tolist(), options

def test_hand_computed_float_band_with_nan():
    data = np.array([[1.0, 2.0, np.nan, 4.0], [5.0, 6.0, 7.0, 8.0]], dtype="float32")
    image = Image.from_array(data, Affine(1, 0, 0, 0, -1, 2), "EPSG:32618", bands=["v"])
    regions = gpd.GeoDataFrame(
        {"k": [0, 1, 2]}, geometry=[box(0, 0, 4, 2), box(2, 1, 3, 2), Point(3.5, 0.5)], crs=32618
    )
    out = reduce_regions(image, regions, percentiles=[50])
    valid = np.array([1, 2, 4, 5, 6, 7, 8], dtype="float64")
    assert out["v_count"].tolist() == [7, 0, 1]
    assert out["v_sum"].tolist()[0] == valid.sum() and out["v_sum"].isna().tolist() == [False, True, False]
    assert out["v_mean"][0] == valid.mean() and out["v_std"][0] == pytest.approx(valid.std(), rel=1e-15)
    assert out["v_median"][0] == 5.0 and out["v_p50"][0] == 5.0 and out["v_max"][2] == 8.0
    assert str(out["v_min"].dtype) == "Float32" and str(out["v_sum"].dtype) == "Float64"

def test_properties_and_column_order():
    fields = gpd.read_file(REGIONS)
    out = reduce_regions(IMAGE, fields, reducers=["mean", "count"], properties=["class"])
    assert list(out.columns) == [
        "class", "geometry", "blue_mean", "blue_count", "green_mean", "green_count",
        "red_mean", "red_count", "nir_mean", "nir_count",
    ]
    assert out.crs == fields.crs and out.attrs["band_order"] == ["blue", "green", "red", "nir"]

def test_bad_options_have_clear_errors():
    fields = gpd.read_file(REGIONS)
    with pytest.raises(OptionError, match="unknown statistics \\['average'\\]"):
        reduce_regions(IMAGE, fields, reducers=["mean", "average"])
    with pytest.raises(OptionError, match="from 0 to 100"):
        reduce_regions(IMAGE, fields, percentiles=[150])
    with pytest.raises(OptionError, match="more than once"):
        reduce_regions(IMAGE, fields, reducers=["mean", "mean"])
    with pytest.raises(KeyError, match="unknown properties"):
        reduce_regions(IMAGE, fields, properties=["crop"])
    clash = fields.assign(blue_mean=1.0)
    with pytest.raises(KeyError, match="collide"):
        reduce_regions(IMAGE, clash)

def test_regions_outside_warn_and_give_zero_counts():
    outside = gpd.GeoDataFrame(geometry=[box(0, 0, 100, 100)], crs=32618)
    with pytest.warns(UserWarning, match="every count is 0"):
        out = reduce_regions(IMAGE, outside, reducers=["count", "mean"])
    assert out["nir_count"].tolist() == [0] and out["nir_mean"].isna().all()

def test_progress_bar_is_written_to_stderr_only_when_asked(capsys):
    fields = gpd.read_file(REGIONS)
    quiet = reduce_regions(IMAGE, fields)
    assert capsys.readouterr().err == ""
    loud = reduce_regions(IMAGE, fields, progress=True)
    assert "reduce_regions" in capsys.readouterr().err
    pd.testing.assert_frame_equal(quiet, loud)
