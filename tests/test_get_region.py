"""get_region: Earth Engine's getRegion table, checked against independent oracles."""

from __future__ import annotations

import json
import math
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from shapely import MultiPoint, Point, box

from sampling import (
    BandError,
    CollectionError,
    CRSError,
    FormatError,
    GridError,
    Image,
    ImageCollection,
    PropertyError,
    TooManyValuesError,
    get_region,
    to_wide,
)
from sampling.image import to_millis

from .conftest import coded

UTM = "EPSG:32618"
TO_LONLAT = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)


def degrees(scale: float) -> float:
    return math.degrees(scale / 6378137)


def utm_image(array, *, x0=500000.0, y0=4000000.0, size=10.0, crs=UTM, **kwargs) -> Image:
    return Image.from_array(array, Affine(size, 0, x0, 0, -size, y0), crs, **kwargs)


def lonlat_box(xmin, ymin, xmax, ymax, crs=UTM):
    return box(*Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform_bounds(xmin, ymin, xmax, ymax))


# -- an independent oracle -----------------------------------------------------------------------


def selected_centres(polygon, s):
    """Centres ``((c + 0.5) s, -(r + 0.5) s)`` of the EPSG:4326 lattice inside ``polygon``, row-major."""
    minx, miny, maxx, maxy = polygon.bounds
    cols = np.arange(math.floor(minx / s) - 1, math.ceil(maxx / s) + 1)
    rows = np.arange(math.floor(-maxy / s) - 1, math.ceil(-miny / s) + 1)
    r, c = np.meshgrid(rows, cols, indexing="ij")
    lon, lat = (c + 0.5) * s, (r + 0.5) * -s
    inside = shapely.contains_xy(polygon, lon, lat)
    return lon[inside], lat[inside]


def oracle(sources, polygon, s, bands):
    """The expected get_region table: rasterio reads of the source pixel containing each centre.

    ``sources`` is a list of ``(id, time, path)``; pixels are row-major, images in order.
    """
    lon, lat = selected_centres(polygon, s)
    columns = {k: [] for k in ("id", "longitude", "latitude", "time", *bands)}
    masks = {b: [] for b in bands}
    per_image = []
    for image_id, time, path in sources:
        with rasterio.open(path) as ds:
            data, t, nodata, crs = ds.read(), ds.transform, ds.nodata, ds.crs
        x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
        col = np.floor((np.asarray(x) - t.c) / t.a).astype(int)
        row = np.floor((np.asarray(y) - t.f) / t.e).astype(int)
        inside = (row >= 0) & (row < data.shape[1]) & (col >= 0) & (col < data.shape[2])
        values = np.zeros((len(lon), data.shape[0]), dtype=data.dtype)
        values[inside] = data[:, row[inside], col[inside]].T
        valid = inside[:, None] & ((values != nodata) if nodata is not None else np.ones(values.shape, bool))
        per_image.append((image_id, time, values, valid))
    for p in range(len(lon)):
        for image_id, time, values, valid in per_image:
            if not valid[p].any():
                continue
            columns["id"].append(image_id)
            columns["longitude"].append(lon[p])
            columns["latitude"].append(lat[p])
            columns["time"].append(time)
            for k, b in enumerate(bands):
                columns[b].append(values[p, k])
                masks[b].append(not valid[p, k])
    dtype = per_image[0][2].dtype
    frame = {
        "id": pd.array(columns["id"], dtype="str"),
        "longitude": np.array(columns["longitude"], dtype="float64"),
        "latitude": np.array(columns["latitude"], dtype="float64"),
        "time": pd.array(columns["time"], dtype="Int64"),
    }
    for b in bands:
        frame[b] = pd.arrays.IntegerArray(np.array(columns[b], dtype=dtype), np.array(masks[b], dtype=bool))
    return pd.DataFrame(frame)


# -- real data ----------------------------------------------------------------------------------


@pytest.fixture
def real_collection(shared_data, tmp_path):
    """rgbn, rgbn_suba and a copy of rgbn_subb where some pixels lack green and some lack every band."""
    subb = tmp_path / "rgbn_subb_gaps.tif"
    with rasterio.open(shared_data / "rgbn_subb.tif") as src:
        profile, data = src.profile, src.read()
    assert (data[:, :8, 100:141] > 0).all()  # the gaps below are ours
    data[1, 0:5, 100:141] = 0  # green missing only
    data[:, 5:8, 100:141] = 0  # every band missing
    with rasterio.open(subb, "w", **profile) as dst:
        dst.write(data)
    sources = [
        ("rgbn", to_millis("2020-01-01"), shared_data / "rgbn.tif"),
        ("suba", to_millis("2020-02-01T10:30:00Z"), shared_data / "rgbn_suba.tif"),
        ("subb", to_millis("2020-03-01T11:00:00Z"), subb),
    ]
    collection = ImageCollection.from_files([p for _, _, p in sources], ids=[i for i, _, _ in sources],
                                            times=[t for _, t, _ in sources])
    return collection, sources


def test_real_data_matches_rasterio_reads(real_collection):
    collection, sources = real_collection
    # west: outside every image, then suba's nodata strip, then rgbn and suba; east: suba's east
    # edge and subb's north edge (on a lattice shifted by 2 m and 1 m) cross the box
    west = lonlat_box(792900, 2049900, 793060, 2050000, crs=UTM)
    east = lonlat_box(794200, 2049700, 794400, 2049900, crs=UTM)
    area = shapely.MultiPolygon([west, east])
    result = get_region(collection, area)
    expected = oracle(sources, area, degrees(5.0), ["b1", "b2", "b3", "b4"])  # default: rgbn's 5 m
    pd.testing.assert_frame_equal(result, expected)

    # the case is not trivial: pixels covered by 0, 1, 2 and 3 images, and nulls in one band only
    images_per_pixel = result.groupby(["longitude", "latitude"], sort=False).size()
    assert set(images_per_pixel) == {1, 2, 3}
    assert len(images_per_pixel) < len(selected_centres(area, degrees(5.0))[0])
    subb = result[result.id == "subb"]
    gaps = subb.b2.isna()
    assert gaps.any() and subb.loc[gaps, ["b1", "b3", "b4"]].notna().all().all()
    assert result.drop(columns="b2").notna().all().all()


def test_real_data_region_by_region_equals_one_call_per_region(real_collection):
    collection, _ = real_collection
    boxes = [lonlat_box(794200, 2049700, 794300, 2049800), lonlat_box(792980, 2049900, 793030, 2049950),
             lonlat_box(794250, 2049750, 794350, 2049850)]  # the third overlaps the first
    fields = gpd.GeoDataFrame({"crop": ["maize", "rice", "soy"]}, geometry=boxes, crs="EPSG:4326")
    result = get_region(collection, fields)
    assert list(result.columns[:3]) == ["region", "crop", "id"]
    assert result.region.is_monotonic_increasing
    for label, geometry in fields.geometry.items():
        part = result[result.region == label]
        assert (part.crop == fields.crop[label]).all()
        alone = get_region(collection, geometry)
        pd.testing.assert_frame_equal(part.drop(columns=["region", "crop"]).reset_index(drop=True), alone)


# -- exactness of the grid ----------------------------------------------------------------------


def test_default_grid_is_epsg4326_at_the_first_bands_scale_exactly():
    image = utm_image(coded(100, 100, "int32"), bands=["v"])  # 10 m, so the default scale is 10 m
    rng = np.random.default_rng(7)
    x = rng.uniform(500020, 500980, 300)  # inset: a working pixel's centre must fall on the image
    y = rng.uniform(3999020, 3999980, 300)
    lon, lat = TO_LONLAT.transform(x, y)
    result = get_region(image, MultiPoint(np.column_stack([lon, lat])))
    s = degrees(10)
    expected = {((math.floor(a / s) + 0.5) * s, (math.floor(b / s) + 0.5) * s) for a, b in zip(lon, lat, strict=True)}
    assert set(zip(result.longitude, result.latitude, strict=True)) == expected  # exact, not approximate
    assert len(result) == len(expected)  # each pixel once


@settings(max_examples=40, deadline=None)
@given(
    scale=st.sampled_from([0.5, 1, 5, 10, 30, 100, 463.3127165279165, 1000]),
    lon=st.floats(-179.9, 179.9),
    lat=st.floats(-84.9, 84.9),
)
def test_pixel_centre_formula_for_any_point_and_scale(scale, lon, lat):
    s = degrees(scale)
    assume(not (lat / s).is_integer())  # on a row edge the point is in the pixel below: see the next test
    image = Image.from_array(np.ones((8, 8), "uint8"), Affine(s, 0, lon - 4 * s, 0, -s, lat + 4 * s),
                             "EPSG:4326", bands=["v"])
    result = get_region(image, Point(lon, lat), scale=scale)
    assert result.longitude.tolist() == [(math.floor(lon / s) + 0.5) * s]
    assert result.latitude.tolist() == [(math.floor(lat / s) + 0.5) * s]


def test_a_point_on_a_pixel_edge_is_in_the_pixel_right_and_below():
    # pixel (row, col) covers [col, col + 1) x [row, row + 1) in pixel space, and rows grow southward
    s = degrees(30)
    image = Image.from_array(np.ones((8, 8), "uint8"), Affine(s, 0, -4 * s, 0, -s, 4 * s), "EPSG:4326")
    result = get_region(image, MultiPoint([(0.0, 0.0), (s, 2 * s)]), scale=30)
    assert result.longitude.tolist() == [1.5 * s, 0.5 * s]  # row -2 (north) first
    assert result.latitude.tolist() == [1.5 * s, -0.5 * s]


def test_crs_and_crs_transform_give_transformed_centres():
    image = utm_image(coded(30, 30, "int32"), bands=["v"])
    area = lonlat_box(500052, 3999853, 500098, 3999897)
    utm = get_region(image, area, crs=UTM, scale=10)  # origin at the CRS origin: centres at 5 + 10 k
    rows, cols = np.divmod(utm.v.to_numpy(), 1000)
    x, y = 500000 + (cols + 0.5) * 10, 4000000 - (rows + 0.5) * 10
    assert ((x - 5) % 10 == 0).all()
    lon, lat = TO_LONLAT.transform(x, y)
    assert np.array_equal(utm.longitude, lon) and np.array_equal(utm.latitude, lat)
    shifted = get_region(image, area, crs=UTM, crs_transform=[10, 0, 500003, 0, -10, 4000007])
    x, y = Transformer.from_crs("EPSG:4326", UTM, always_xy=True).transform(shifted.longitude, shifted.latitude)
    u, v = (x - 500003) / 10 - 0.5, (4000007 - y) / 10 - 0.5  # centres of the given lattice
    assert np.allclose(u, np.round(u), atol=1e-6) and np.allclose(v, np.round(v), atol=1e-6)
    cols, rows = np.round(u).astype(int), np.round(v).astype(int)
    assert len(shifted) > 10 and (shifted.v == (rows - 1) * 1000 + cols).all()  # source pixel under each centre
    with pytest.raises(GridError, match="crs_transform and scale cannot be combined"):
        get_region(image, area, scale=10, crs_transform=[10, 0, 0, 0, -10, 0])


# -- rows, order, time, dtypes -------------------------------------------------------------------


def test_rows_are_pixel_major_and_only_where_an_image_covers():
    s = degrees(10)
    t = Affine(s, 0, 0, 0, -s, 0)
    a = Image.from_array(coded(4, 4, "int32"), t, "EPSG:4326", bands=["v"], id="a", time="2020-01-02")
    b = Image.from_array(coded(4, 2, "int32") + 100000, t, "EPSG:4326", bands=["v"], id="b", time="2020-01-01")
    result = get_region(ImageCollection([a, b]), box(0, -2 * s, 3 * s, 0))
    assert result.id.tolist() == ["a", "b", "a", "b", "a", "a", "b", "a", "b", "a"]
    assert result.v.tolist() == [0, 100000, 1, 100001, 2, 1000, 101000, 1001, 101001, 1002]
    assert result.time.tolist() == [to_millis("2020-01-02"), to_millis("2020-01-01")] * 2 + [
        to_millis("2020-01-02")] + [to_millis("2020-01-02"), to_millis("2020-01-01")] * 2 + [to_millis("2020-01-02")]
    assert list(result.columns) == ["id", "longitude", "latitude", "time", "v"]
    assert result.latitude.is_monotonic_decreasing and result.index.equals(pd.RangeIndex(10))


def test_masked_bands_are_null_and_fully_masked_pixels_have_no_row():
    data = coded(2, 2, "uint32", bands=2) + 1
    data[0, 0, 1] = 0  # band 1 masked at (0, 1)
    data[:, 1, 1] = 0  # both bands masked at (1, 1)
    image = utm_image(data, bands=["red", "nir"], nodata=0, id="x")
    result = get_region(image, lonlat_box(500000, 3999980, 500020, 4000000), crs=UTM, scale=10)
    assert result.red.tolist() == [1, pd.NA, 1001]
    assert result.nir.tolist() == [1000001, 1000002, 1001001]
    assert str(result.red.dtype) == "UInt32" and str(result.nir.dtype) == "UInt32"


def test_time_is_int_milliseconds_and_null_when_unknown_and_dtypes_promote():
    a = utm_image(np.full((3, 3), 7, "uint8"), bands=["v"], id="a", time="2020-05-18T13:45:00.123Z")
    b = utm_image(np.full((3, 3), 300, "uint16"), bands=["v"], id="b")
    result = get_region(ImageCollection([a, b]), Point(*TO_LONLAT.transform(500015, 3999985)))
    assert str(result.time.dtype) == "Int64"
    assert result.time.tolist() == [1589809500123, pd.NA]
    assert str(result.v.dtype) == "UInt16" and result.v.tolist() == [7, 300]
    assert result.id.tolist() == ["a", "b"]


def test_images_on_different_utm_zones_read_by_nearest_neighbour(make_raster):
    # zone 17 and zone 18 rasters over the same place near 78 W
    lon0, lat0 = -78.0, 36.0
    paths = []
    for crs, k in (("EPSG:32617", 1), ("EPSG:32618", 2)):
        x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon0, lat0)
        paths.append(make_raster(coded(40, 40, "int32") + k * 1000000, crs=crs, nodata=-1,
                                 transform=Affine(10, 0, round(x) - 200, 0, -10, round(y) + 200)))
    collection = ImageCollection.from_files(paths, ids=["z17", "z18"], times=[0, 1])
    area = box(lon0 - 0.0015, lat0 - 0.0012, lon0 + 0.0015, lat0 + 0.001)
    result = get_region(collection, area, scale=7)
    expected = oracle([("z17", 0, paths[0]), ("z18", 1, paths[1])], area, degrees(7), ["b1"])
    pd.testing.assert_frame_equal(result, expected)
    assert set(result.id) == {"z17", "z18"}


def test_geometry_kinds():
    image = utm_image(coded(20, 20, "int32"), bands=["v"], id="i")
    poly = lonlat_box(500020, 3999830, 500090, 3999900)
    mapping = json.loads(shapely.to_geojson(poly))
    feature = {"type": "Feature", "geometry": mapping, "properties": {"name": "f"}}
    base = get_region(image, poly)
    pd.testing.assert_frame_equal(get_region(image, mapping), base)
    pd.testing.assert_frame_equal(get_region(image, feature), base)
    series = gpd.GeoSeries([poly], crs="EPSG:4326")
    assert get_region(image, series).drop(columns="region").equals(base)
    collection = {"type": "FeatureCollection", "features": [feature, feature]}
    twice = get_region(image, collection)
    assert list(twice.columns[:2]) == ["region", "name"] and len(twice) == 2 * len(base)


# -- many regions -----------------------------------------------------------------------------------


def test_regions_carry_their_properties_in_one_call():
    image = utm_image(coded(30, 30, "int32"), bands=["v"], id="i", time=0)
    plots = gpd.GeoDataFrame(
        {"plot": ["p1", "p2", "p3"], "crop": ["maize", "rice", "soy"], "area": [1.5, 2.0, 0.5]},
        geometry=[box(500000, 3999900, 500050, 3999950), Point(500125, 3999875), box(500030, 3999910, 500070, 3999940)],
        crs=UTM,
    ).set_index("plot")
    result = get_region(image, plots, crs=UTM, scale=10)
    assert list(result.columns) == ["plot", "crop", "area", "id", "longitude", "latitude", "time", "v"]
    assert result["plot"].tolist() == ["p1"] * 25 + ["p2"] + ["p3"] * 12  # overlapping plots: pixels twice
    assert (result.groupby("plot").crop.first() == plots.crop).all()
    single = get_region(image, plots.geometry.to_crs("EPSG:4326").iloc[1], crs=UTM, scale=10)
    assert result[result["plot"] == "p2"].drop(columns=["plot", "crop", "area"]).reset_index(drop=True).equals(single)
    some = get_region(image, plots, crs=UTM, scale=10, properties=["crop"])
    assert list(some.columns[:3]) == ["plot", "crop", "id"]
    with pytest.raises(PropertyError, match="unknown properties"):
        get_region(image, plots, properties=["yield"])
    with pytest.raises(PropertyError, match=r"collide with get_region's columns"):
        get_region(image, plots.rename(columns={"crop": "time"}))
    with pytest.raises(PropertyError, match="needs a GeoDataFrame"):
        get_region(image, Point(-75, 36), properties=["crop"])
    with pytest.raises(BandError, match="collide"):
        get_region(image.rename(["crop"]), plots)


# -- bad input ---------------------------------------------------------------------------------------


def test_images_with_different_bands_are_refused():
    a = utm_image(np.zeros((2, 2), "uint8"), bands=["red"], id="a")
    b = utm_image(np.zeros((2, 2), "uint8"), bands=["nir"], id="b")
    with pytest.raises(BandError, match=r"image 'a' has \['red'\] but image 'b' has \['nir'\].*select"):
        get_region(ImageCollection([a, b]), Point(-75, 36))


def test_empty_collection_is_refused():
    with pytest.raises(CollectionError, match="collection is empty"):
        get_region(ImageCollection([]), Point(0, 0))
    image = utm_image(np.zeros((2, 2), "uint8"), time="2020-01-01")
    with pytest.raises(CollectionError, match="collection is empty"):
        get_region(ImageCollection([image]).filter_date("2021-01-01", "2022-01-01"), Point(0, 0))


def test_geometry_without_crs_is_refused():
    image = utm_image(np.zeros((2, 2), "uint8"))
    with pytest.raises(CRSError, match="no CRS"):
        get_region(image, gpd.GeoSeries([Point(500005, 3999995)]))
    with pytest.raises(CRSError, match="no CRS"):
        get_region(image, gpd.GeoDataFrame({"a": [1]}, geometry=[Point(500005, 3999995)]))


def test_too_many_values_has_earth_engines_message_and_can_be_lifted():
    s = degrees(10)
    images = [Image.from_array(np.ones((4, 4), "uint8"), Affine(s, 0, 0, 0, -s, 0), "EPSG:4326", bands=["v"],
                               id=str(k)) for k in range(3)]
    area = box(0, -600 * s, 600 * s, 0)  # 360,000 pixels x 1 band x 3 images
    with pytest.raises(TooManyValuesError) as info:
        get_region(ImageCollection(images), area)
    message = str(info.value)
    assert message.startswith("Too many values: 360000 points x 1 bands x 3 images > 1048576.")
    assert "max_values=None" in message and isinstance(info.value, ValueError)
    lifted = get_region(ImageCollection(images), area, max_values=None)
    assert len(lifted) == 16 * 3
    with pytest.raises(TooManyValuesError, match=r"^Too many values: 16 points x 1 bands x 3 images > 47\."):
        get_region(ImageCollection(images), box(0, -4 * s, 4 * s, 0), max_values=47)
    assert len(get_region(ImageCollection(images), box(0, -4 * s, 4 * s, 0), max_values=48)) == 48
    with pytest.raises(TooManyValuesError, match="positive whole number"):
        get_region(images[0], area, max_values=0)


def test_empty_result_warns_and_keeps_columns():
    image = utm_image(np.ones((2, 2), "uint8"), bands=["v"])
    with pytest.warns(UserWarning, match="found no pixel"):
        result = get_region(image, Point(10, 10))
    assert list(result.columns) == ["id", "longitude", "latitude", "time", "v"] and len(result) == 0
    assert str(result.v.dtype) == "UInt8"


# -- to_wide ------------------------------------------------------------------------------------------


def dated(k: int, day: str, value_offset: int, cover: int = 3) -> Image:
    return utm_image(coded(cover, 3, "int32", bands=2) + value_offset, bands=["red", "nir"], id=f"i{k}", time=day)


def test_to_wide_one_row_per_pixel_one_column_per_date_and_band():
    images = ImageCollection([dated(0, "2020-03-01", 0), dated(1, "2020-01-01", 10, cover=1)])
    long = get_region(images, lonlat_box(500000, 3999970, 500030, 4000000), crs=UTM, scale=10)
    wide = to_wide(long)
    assert list(wide.columns) == ["longitude", "latitude", "red_2020-01-01", "nir_2020-01-01",
                                  "red_2020-03-01", "nir_2020-03-01"]
    assert len(wide) == 9
    assert wide["red_2020-03-01"].tolist() == [0, 1, 2, 1000, 1001, 1002, 2000, 2001, 2002]
    assert wide["red_2020-01-01"].tolist() == [10, 11, 12] + [pd.NA] * 6  # not covered: null
    assert str(wide["nir_2020-01-01"].dtype) == "Int32"
    by_id = to_wide(long, by="id", separator=":")
    assert list(by_id.columns[2:]) == ["red:i0", "nir:i0", "red:i1", "nir:i1"]


def test_to_wide_keeps_regions_and_refuses_ambiguous_columns():
    images = ImageCollection([dated(0, "2020-03-01", 0), dated(1, "2020-03-01T12:00", 10)])
    fields = gpd.GeoDataFrame({"crop": ["a", "b"]}, geometry=[Point(500005, 3999995), Point(500005, 3999995)],
                              crs=UTM)
    long = get_region(images, fields, crs=UTM, scale=10)
    with pytest.raises(FormatError, match="share the column name '2020-03-01'.*by='id'"):
        to_wide(long)
    wide = to_wide(long, date_format="%Y-%m-%dT%H")
    assert list(wide.columns[:4]) == ["region", "crop", "longitude", "latitude"] and len(wide) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        no_time = get_region(utm_image(np.ones((2, 2), "uint8"), id="n"), Point(*TO_LONLAT.transform(500005, 3999995)))
    with pytest.raises(FormatError, match=r"images \['n'\] have no time.*by='id'"):
        to_wide(no_time)
    assert to_wide(no_time, by="id").columns[-1] == "b1_n"
    with pytest.raises(FormatError, match="lacks columns"):
        to_wide(long.drop(columns="time"))


def test_a_lifted_limit_still_refuses_a_table_that_cannot_fit_in_memory():
    from sampling.errors import OutputTooLargeError

    image = Image.from_array(np.zeros((2, 4, 4), "uint16"), [10, 0, 500000, 0, -10, 4000000], "EPSG:32618")
    world = {"type": "Polygon", "coordinates": [[[-179, -80], [179, -80], [179, 80], [-179, 80], [-179, -80]]]}
    with pytest.raises(OutputTooLargeError, match="get_region's table"):
        get_region([image], world, scale=1, max_values=None)
