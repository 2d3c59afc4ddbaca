"""ImageCollection: constructors, Earth Engine's methods, and lazy opening."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer
from shapely import Point, box

import sampling.image
from sampling import BandError, CollectionError, CRSError, Image, ImageCollection, PropertyError
from sampling.catalogue import TimePattern, time_from_tags
from sampling.image import to_millis

from .conftest import coded

UTM = "EPSG:32618"
ORIGIN = (500000.0, 4000000.0)
TO_LONLAT = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)


def lonlat_box(xmin: float, ymin: float, xmax: float, ymax: float):
    """A lon/lat box around a UTM box (slightly inside it)."""
    return box(*TO_LONLAT.transform_bounds(xmin + 1, ymin + 1, xmax - 1, ymax - 1))


def transform_at(dx: float = 0.0) -> Affine:
    return Affine(10, 0, ORIGIN[0] + dx, 0, -10, ORIGIN[1])


@pytest.fixture
def count_opens(monkeypatch):
    """Count the raster headers opened (FileSource.open is the only way files are opened)."""
    opened: list[str] = []
    real = sampling.image.FileSource.open.__func__

    def spy(cls, path):
        opened.append(str(path))
        return real(cls, path)

    monkeypatch.setattr(sampling.image.FileSource, "open", classmethod(spy))
    return opened


@pytest.fixture
def dated_files(make_raster):
    """Three 2-band scenes named by date; the middle one also far to the east."""
    paths = []
    for k, date in enumerate(["20200105", "20200301", "20200214"]):
        paths.append(make_raster(coded(20, 20, "uint16", bands=2) + k, name=f"S2_{date}_T18.tif",
                                 transform=transform_at(0 if k != 1 else 5000), descriptions=["red", "nir"]))
    return paths


# -- times ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("%Y%m%d", "S2_20200518_T18.tif", "2020-05-18"),
        ("%Y-%m-%d", "/data/2020-05-18/B4.tif", "2020-05-18"),  # a parent directory
        ("%Y%j", "LC08_2020139.tif", "2020-05-18"),
        ("%Y%m%dT%H%M%S", "S2A_20200518T153011_B4.tif", "2020-05-18T15:30:11"),
        (r"_(?P<date>\d{8})_", "x_20200518_y.tif", "2020-05-18"),
        (r"(?P<time>\d{4}-\d{2}-\d{2}T\d{2}:\d{2})", "s_2020-05-18T10:30.tif", "2020-05-18T10:30"),
        (r"_(?P<year>\d{4})(?P<doy>\d{3})_", "s_2020139_b.tif", "2020-05-18"),
        (r"y(?P<year>\d{4})m(?P<month>\d{2})d(?P<day>\d{2})", "y2020m05d18.tif", "2020-05-18"),
        ("%Y%m%d", "https://host/a/S2_20200518.tif?sig=20991231", "2020-05-18"),
    ],
)
def test_time_pattern_reads_file_names(pattern, path, expected):
    assert TimePattern.parse(pattern).time_of(path) == to_millis(expected)


@pytest.mark.parametrize(
    ("pattern", "path", "message"),
    [
        ("%Y%Q", "a_2020.tif", "%Q"),
        (r"(?P<date>\d{8}", "a.tif", "not a valid regular expression"),
        (r"_\d{8}_", "a_20200101_.tif", "no named group"),
        ("%Y%m%d", "scene.tif", "matches nothing in 'scene.tif'"),
        ("%Y%m%d", "scene_20201399.tif", "not a valid date"),
        (r"_(?P<date>[a-z]+)_", "scene_abc_.tif", "not a valid date"),
        ("", "a.tif", "non-empty string"),
    ],
)
def test_time_pattern_errors_say_what_is_wrong(pattern, path, message):
    with pytest.raises(CollectionError, match=message) as info:
        TimePattern.parse(pattern).time_of(path)
    assert isinstance(info.value, ValueError)


def test_time_from_tags_prefers_acquisition_over_file_time():
    assert time_from_tags({"TIFFTAG_DATETIME": "2020:05:18 13:45:00"}) == to_millis("2020-05-18T13:45:00Z")
    both = {"TIFFTAG_DATETIME": "2024:01:01 00:00:00", "ACQUISITIONDATETIME": "2020-05-18T10:00:00Z"}
    assert time_from_tags(both) == to_millis("2020-05-18T10:00:00Z")
    assert time_from_tags({"TIFFTAG_DATETIME": "garbage"}) is None
    assert time_from_tags({}) is None


# -- from_files --------------------------------------------------------------------------------


def test_from_files_glob_is_sorted_and_opens_nothing(dated_files, count_opens):
    col = ImageCollection.from_files(str(dated_files[0].parent / "S2_*.tif"), time_pattern="%Y%m%d")
    assert col.ids == ["S2_20200105_T18", "S2_20200214_T18", "S2_20200301_T18"]
    assert col.times == [to_millis(d) for d in ("2020-01-05", "2020-02-14", "2020-03-01")]
    assert count_opens == []
    assert col.band_names == ["red", "nir"]  # the first image's, from its file
    assert len(count_opens) == 1


def test_from_files_reads_times_from_tags_when_opened(make_raster, count_opens):
    a = make_raster(np.ones((3, 3), "uint8"), name="a.tif")
    b = make_raster(np.ones((3, 3), "uint8"), name="b.tif")
    c = make_raster(np.ones((3, 3), "uint8"), name="c.tif")
    with rasterio.open(a, "r+") as ds:
        ds.update_tags(TIFFTAG_DATETIME="2020:05:18 10:00:00")
    with rasterio.open(b, "r+") as ds:
        ds.update_tags(TIFFTAG_DATETIME="2024:01:01 00:00:00", ACQUISITIONDATETIME="2019-07-01T08:30:00Z")
    col = ImageCollection.from_files([a, b, c])
    assert count_opens == []
    assert col.times == [to_millis("2020-05-18T10:00:00"), to_millis("2019-07-01T08:30:00"), None]
    assert col.first().time == to_millis("2020-05-18T10:00:00")
    assert len(count_opens) == 3


def test_from_files_explicit_ids_times_and_bands(dated_files):
    col = ImageCollection.from_files(dated_files, ids=["a", "b", "c"], times=["2021-01-01", 0, None],
                                     bands=["R", "N"])
    assert col.ids == ["a", "b", "c"]
    assert col.times == [to_millis("2021-01-01"), 0, None]
    assert [img.band_names for img in col] == [["R", "N"]] * 3
    assert col.first().id == "a"


def test_from_files_directory_and_per_band_files(make_raster, tmp_path):
    red = make_raster(np.ones((4, 4), "uint8"), name="T18_20200101_B4.tif")
    nir = make_raster(np.full((4, 4), 2, "uint8"), name="T18_20200101_B8.tif")
    col = ImageCollection.from_files([[red, nir]], time_pattern="%Y%m%d")
    image = col.first()
    assert image.band_names == ["B4", "B8"] and image.id == "T18_20200101_B4"
    assert len(ImageCollection.from_files(tmp_path)) == 2


def test_from_files_equal_stems_get_relative_ids(make_raster, tmp_path):
    (tmp_path / "2020").mkdir()
    (tmp_path / "2021").mkdir()
    a = make_raster(np.ones((2, 2), "uint8"), name="2020/B4.tif")
    b = make_raster(np.ones((2, 2), "uint8"), name="2021/B4.tif")
    assert ImageCollection.from_files([a, b]).ids == ["2020/B4", "2021/B4"]
    with pytest.raises(CollectionError, match="more than once"):
        ImageCollection.from_files([a, a])


def test_from_files_bad_input(dated_files, tmp_path):
    with pytest.raises(CollectionError, match="no file matches"):
        ImageCollection.from_files(str(tmp_path / "*.jp2"))
    with pytest.raises(CollectionError, match="not both"):
        ImageCollection.from_files(dated_files, times=[0, 1, 2], time_pattern="%Y%m%d")
    with pytest.raises(CollectionError, match="ids= has 2 values for 3 images"):
        ImageCollection.from_files(dated_files, ids=["a", "b"])
    with pytest.raises(CollectionError, match="is not a valid date"):
        ImageCollection.from_files(dated_files, time_pattern="%d%m%Y")
    with pytest.raises(BandError, match="has 2 bands but 3 band names were given"):
        ImageCollection.from_files(dated_files, bands=["a", "b", "c"]).first()


# -- ImageCollection(images) and Earth Engine's methods ------------------------------------------


@pytest.fixture
def images():
    """Four 4-band images (B2, B3, B4, B8) at known times; one without a time."""
    out = []
    for k, (when, cloud) in enumerate([("2020-03-01", 5), ("2020-01-01", 50), (None, 1), ("2020-02-01", 20)]):
        out.append(Image.from_array(coded(5, 5, "uint16", bands=4) + k, transform_at(k * 30), UTM,
                                    bands=["B2", "B3", "B4", "B8"], id=f"img{k}", time=when,
                                    properties={"cloud": cloud, "tile": "T18" if k != 2 else None}))
    return out


def test_collection_of_images_basics(images):
    col = ImageCollection(images)
    assert len(col) == col.size() == 4
    assert col.ids == ["img0", "img1", "img2", "img3"]
    assert [img.id for img in col] == col.ids
    assert col[1].id == "img1" and col[1:3].ids == ["img1", "img2"]
    assert col.first() is images[0]
    assert "4 images" in repr(col)
    unnamed = ImageCollection([Image.from_array(np.zeros((2, 2)), transform_at(), UTM)] * 2)
    assert unnamed.ids == ["0", "1"] and [i.id for i in unnamed] == ["0", "1"]


def test_collection_refuses_non_images_and_empty_first():
    with pytest.raises(CollectionError, match="item 0 is a str"):
        ImageCollection(["a.tif"])
    empty = ImageCollection([])
    assert len(empty) == 0
    with pytest.raises(CollectionError, match="empty"):
        empty.first()


def test_filter_date_start_inclusive_end_exclusive(images):
    col = ImageCollection(images)
    assert col.filter_date("2020-01-01", "2020-03-01").ids == ["img1", "img3"]
    assert col.filter_date("2020-01-01T00:00:00.001", "2020-03-01T00:00:00.001").ids == ["img0", "img3"]
    assert col.filter_date("2020-02-01").ids == ["img3"]  # no end: one millisecond, as in Earth Engine
    assert col.filter_date(to_millis("2020-02-01") + 1).ids == []
    assert col.filter_date("1900-01-01", "2100-01-01").ids == ["img0", "img1", "img3"]  # no time: dropped
    with pytest.raises(CollectionError, match="cannot read 'soon' as a time"):
        col.filter_date("soon")


def test_filter_bounds_on_opened_images_in_any_crs(images):
    col = ImageCollection(images)  # image k covers x in [500000 + 30k, 500050 + 30k]
    west = lonlat_box(500000, 3999960, 500020, 4000000)
    assert col.filter_bounds(west).ids == ["img0"]
    mapping = json.loads(gpd.GeoSeries([west]).to_json())["features"][0]["geometry"]
    assert col.filter_bounds(mapping).ids == ["img0"]
    utm = gpd.GeoDataFrame(geometry=[Point(500135, 3999990), Point(500001, 3999999)], crs=UTM)
    assert col.filter_bounds(utm).ids == ["img0", "img3"]  # the union of the geometries
    with pytest.raises(CRSError, match="no CRS"):
        col.filter_bounds(gpd.GeoSeries([Point(500135, 3999990)]))


def test_select_names_and_regular_expressions(images):
    col = ImageCollection(images)
    assert col.select("B[2-4]").band_names == ["B2", "B3", "B4"]
    assert col.select(["B8", "B2"]).first().band_names == ["B8", "B2"]
    assert col.select("B.*").select("B[38]").band_names == ["B3", "B8"]
    values = col.select("B8").first()
    assert values.band_names == ["B8"] and values.id == "img0"
    with pytest.raises(BandError, match="unknown band 'B5'"):
        col.select(["B2", "B5"])


def test_sort_by_time_id_and_property(images):
    col = ImageCollection(images)
    assert col.sort("time").ids == ["img1", "img3", "img0", "img2"]  # no time: last
    assert col.sort("system:time_start", ascending=False).ids == ["img0", "img3", "img1", "img2"]
    assert col.sort("cloud").ids == ["img2", "img0", "img3", "img1"]
    assert col.sort("id", ascending=False).ids == ["img3", "img2", "img1", "img0"]
    assert col.sort("tile").ids == ["img0", "img1", "img3", "img2"]  # stable, missing last
    with pytest.raises(PropertyError, match="no image has a property 'clouds'"):
        col.sort("clouds")


def test_first_and_limit(images):
    col = ImageCollection(images)
    assert col.limit(2).ids == ["img0", "img1"]
    assert col.limit(2, key="cloud", ascending=False).ids == ["img1", "img3"]
    assert col.limit(10).ids == col.ids and col.limit(0).ids == []
    assert col.sort("time").first().id == "img1"
    with pytest.raises(CollectionError, match="whole number"):
        col.limit(-1)


# -- STAC ----------------------------------------------------------------------------------------


def stac_item(item_id, when, hrefs, footprint, **properties):
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": item_id, "links": [],
        "geometry": json.loads(gpd.GeoSeries([footprint]).to_json())["features"][0]["geometry"],
        "bbox": list(footprint.bounds),
        "properties": {"datetime": when, **properties},
        "assets": {key: {"href": href, "type": "image/tiff; application=geotiff", "roles": ["data"],
                         "eo:bands": [{"name": key}]}
                   for key, href in hrefs.items()},
    }


@pytest.fixture
def stac_file(make_raster, tmp_path):
    """An ItemCollection of three items with B4 and B8 assets; the last far away, with missing files."""
    band4 = make_raster(coded(20, 20, "uint16"), name="scene_a_B4.tif")
    band8 = make_raster(coded(20, 20, "uint16") + 5000, name="scene_a_B8.tif")
    band4b = make_raster(coded(20, 20, "uint16") + 1, name="scene_b_B4.tif", transform=transform_at(100))
    here = lonlat_box(500000, 3999800, 500200, 4000000)
    there = lonlat_box(900000, 3999800, 900200, 4000000)
    items = [
        stac_item("a", "2020-05-18T10:00:00Z", {"B4": "scene_a_B4.tif", "B8": f"file://{band8}"}, here, cloud=3),
        stac_item("b", "2020-06-02T10:00:00Z", {"B4": str(band4b), "B8": "missing_b_B8.tif"}, here, cloud=40),
        stac_item("far", "2020-05-20T10:00:00Z", {"B4": "nowhere/B4.tif", "B8": "nowhere/B8.tif"}, there, cloud=0),
    ]
    path = tmp_path / "items.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    assert band4.exists()
    return path


def test_from_stac_reads_ids_times_properties_without_opening(stac_file, count_opens):
    col = ImageCollection.from_stac(stac_file, assets=["B4", "B8"])
    assert col.ids == ["a", "b", "far"]
    assert col.times == [to_millis(t) for t in ("2020-05-18T10:00Z", "2020-06-02T10:00Z", "2020-05-20T10:00Z")]
    assert col.band_names == ["B4", "B8"]
    assert col.sort("cloud").ids == ["far", "a", "b"]
    near = col.filter_bounds(Point(*TO_LONLAT.transform(500100, 3999900)))
    assert near.ids == ["a", "b"]
    assert col.filter_date("2020-05-19", "2020-05-21").ids == ["far"]
    assert count_opens == []  # every answer came from the catalogue
    image = near.select("B4").limit(2).sort("time", ascending=False).first()
    assert image.id == "b" and image.band_names == ["B4"]  # its missing B8 file is never opened
    assert len(count_opens) == 1
    a = col.first()
    assert a.band_names == ["B4", "B8"] and a.time == to_millis("2020-05-18T10:00Z")
    assert a.properties["cloud"] == 3


def test_from_stac_pystac_objects_and_dicts(stac_file):
    pystac = pytest.importorskip("pystac")
    items = pystac.ItemCollection.from_file(str(stac_file))
    from_object = ImageCollection.from_stac(items, assets=["B4"])
    from_list = ImageCollection.from_stac(list(items), assets=["B4"])
    from_file = ImageCollection.from_stac(stac_file, assets=["B4"])
    assert from_object.ids == from_list.ids == from_file.ids == ["a", "b", "far"]
    assert from_object.times == from_file.times
    assert from_object[1].bands[0].source.path == from_file[1].bands[0].source.path
    # an Item read from its own file knows where its relative hrefs point
    one = json.loads(stac_file.read_text())["features"][0]
    item_file = stac_file.parent / "item_a.json"
    item_file.write_text(json.dumps(one))
    first = ImageCollection.from_stac(pystac.Item.from_file(str(item_file))).first()
    assert first.band_names == ["B4", "B8"]
    assert first.bands[0].source.path == str(stac_file.parent / "scene_a_B4.tif")
    assert ImageCollection.from_stac(one).ids == ["a"]  # an Item dict; default assets: the data ones


def test_from_stac_band_names_of_multi_band_assets(make_raster, tmp_path):
    four = make_raster(coded(6, 6, "uint8", bands=4), name="rgbn.tif")
    foot = lonlat_box(500000, 3999940, 500060, 4000000)
    described = stac_item("d", "2020-01-01T00:00:00Z", {"image": str(four)}, foot)
    described["assets"]["image"]["eo:bands"] = [{"name": n} for n in ("red", "green", "blue", "nir")]
    bare = stac_item("e", None, {"image": str(four)}, foot, start_datetime="2020-02-01T00:00:00Z")
    del bare["assets"]["image"]["eo:bands"]  # the file alone knows how many bands it has
    col = ImageCollection.from_stac({"type": "FeatureCollection", "features": [described, bare]})
    assert col.entries[0].band_names == ["red", "green", "blue", "nir"]  # known without opening
    assert col.entries[1].band_names is None
    assert [img.band_names for img in col] == [["red", "green", "blue", "nir"],
                                                ["image_1", "image_2", "image_3", "image_4"]]
    assert col.times[1] == to_millis("2020-02-01")


def test_from_stac_errors(stac_file, tmp_path):
    with pytest.raises(CollectionError, match=r"STAC item 'a' has no asset \['B11'\]"):
        ImageCollection.from_stac(stac_file, assets=["B4", "B11"])
    with pytest.raises(CollectionError, match="does not exist"):
        ImageCollection.from_stac(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CollectionError, match="not a STAC JSON file"):
        ImageCollection.from_stac(bad)
    with pytest.raises(CollectionError, match="type 'Catalog'"):
        ImageCollection.from_stac({"type": "Catalog"})
    with pytest.raises(CollectionError, match="holds no items"):
        ImageCollection.from_stac({"type": "FeatureCollection", "features": []})
    item = json.loads(stac_file.read_text())["features"][0]
    item["properties"]["datetime"] = "yesterday"
    with pytest.raises(CollectionError, match="'yesterday' is not a time"):
        ImageCollection.from_stac(item)
    with pytest.raises(Exception, match="image 'b'.*does not exist"):
        ImageCollection.from_stac(stac_file, assets=["B8"])[1]


# -- tables --------------------------------------------------------------------------------------


@pytest.fixture
def table_files(make_raster):
    paths = {}
    for k, day in enumerate(["2020-01-05", "2020-02-05"]):
        for band, offset in (("B4", 0), ("B8", 5000)):
            paths[(day, band)] = make_raster(coded(20, 20, "uint16") + offset + k, name=f"t{k}_{band}.tif")
    return paths


def test_from_table_dataframe(table_files):
    frame = pd.DataFrame({
        "id": ["jan", "feb"],
        "time": pd.to_datetime(["2020-01-05", "2020-02-05"]),
        "red": [str(table_files[("2020-01-05", "B4")]), str(table_files[("2020-02-05", "B4")])],
        "nir": [str(table_files[("2020-01-05", "B8")]), str(table_files[("2020-02-05", "B8")])],
        "cloud": [10.0, np.nan],
        "sensor": ["S2A", "S2B"],
    })
    col = ImageCollection.from_table(frame)
    assert col.ids == ["jan", "feb"] and col.band_names == ["red", "nir"]
    assert col.times == [to_millis("2020-01-05"), to_millis("2020-02-05")]
    assert col.entries[0].properties == {"cloud": 10.0, "sensor": "S2A"}
    assert col.sort("cloud", ascending=False).ids == ["jan", "feb"]  # NaN counts as missing
    renamed = ImageCollection.from_table(frame, band_columns={"B8": "nir"}, id_column="sensor")
    assert renamed.ids == ["S2A", "S2B"] and renamed.first().band_names == ["B8"]
    assert renamed.first().bands[0].source.path == frame.nir[0]
    no_id = ImageCollection.from_table(frame.drop(columns=["id", "time"]), band_columns=["red"])
    assert no_id.ids == ["0", "1"] and no_id.times == [None, None]


def test_from_table_geodataframe_footprints_filter_without_opening(table_files, count_opens):
    here = lonlat_box(500000, 3999800, 500200, 4000000)
    frame = gpd.GeoDataFrame({
        "id": ["a", "far"],
        "time": ["2020-01-05", "2020-01-06"],
        "B4": [str(table_files[("2020-01-05", "B4")]), "/nowhere/B4.tif"],
    }, geometry=[here, box(10, 10, 11, 11)], crs="EPSG:4326").to_crs(UTM)
    col = ImageCollection.from_table(frame)
    assert col.filter_bounds(here.centroid).ids == ["a"]
    assert count_opens == []
    with pytest.raises(CRSError, match="no CRS"):
        ImageCollection.from_table(frame.set_crs(None, allow_override=True))


def test_from_table_files_resolve_relative_paths(table_files, tmp_path):
    frame = pd.DataFrame({"id": ["jan", "feb"], "datetime": ["2020-01-05T00:00:00Z", "2020-02-05T00:00:00Z"],
                          "B4": ["t0_B4.tif", "t1_B4.tif"], "B8": ["t0_B8.tif", "t1_B8.tif"]})
    frame.to_csv(tmp_path / "catalogue.csv", index=False)
    frame.to_parquet(tmp_path / "catalogue.parquet")
    for name in ("catalogue.csv", "catalogue.parquet"):
        col = ImageCollection.open(tmp_path / name)
        assert col.ids == ["jan", "feb"] and col.times == [to_millis("2020-01-05"), to_millis("2020-02-05")]
        assert [img.band_names for img in col] == [["B4", "B8"]] * 2
        assert col.first().bands[1].source.path == str(tmp_path / "t0_B8.tif")


def test_from_table_errors(table_files, make_raster, tmp_path):
    frame = pd.DataFrame({"id": ["a"], "B4": [str(table_files[("2020-01-05", "B4")])], "note": ["x"]})
    with pytest.raises(CollectionError, match="no time column 'when'"):
        ImageCollection.from_table(frame, time_column="when")
    with pytest.raises(CollectionError, match=r"no band columns \['B5'\]"):
        ImageCollection.from_table(frame, band_columns=["B5"])
    with pytest.raises(CollectionError, match="no column of raster paths"):
        ImageCollection.from_table(frame.drop(columns=["B4"]))
    with pytest.raises(CollectionError, match="no rows"):
        ImageCollection.from_table(frame.iloc[:0])
    with pytest.raises(CollectionError, match="does not exist"):
        ImageCollection.from_table(tmp_path / "none.parquet")
    with pytest.raises(CollectionError, match="no file in band column 'B4'"):
        ImageCollection.from_table(pd.DataFrame({"id": ["a", "b"], "B4": ["x.tif", None]}), band_columns=["B4"])
    two_bands = make_raster(coded(3, 3, "uint8", bands=2), name="two.tif")
    with pytest.raises(BandError, match="image 'a': .*two.tif has 2 bands but 1 band names were given"):
        ImageCollection.from_table(pd.DataFrame({"id": ["a"], "B4": [str(two_bands)]})).first()


def test_open_dispatches_by_kind(dated_files, stac_file):
    assert ImageCollection.open(str(dated_files[0].parent / "S2_*.tif"), time_pattern="%Y%m%d").size() == 3
    assert ImageCollection.open(stac_file, bands=["B4"]).ids == ["a", "b", "far"]
    with pytest.raises(CollectionError, match="time_pattern reads times from raster file names"):
        ImageCollection.open(stac_file, time_pattern="%Y")
