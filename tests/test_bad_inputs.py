"""Bad inputs: each one gets a clear error naming the input (row, file) and the fix, or a documented behaviour.

docs/errors.md lists the same cases as a table; every row of that table is a test here.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS as RioCRS
from shapely import GeometryCollection, LineString, Point, Polygon, box

from sampling import (
    BandError,
    CRSError,
    GeometryError,
    GridError,
    Image,
    PropertyError,
    RasterReadError,
    SamplingError,
    iter_sample_regions,
    sample_regions,
)
from sampling.errors import OutputTooLargeError

from .conftest import REPO, coded

UTM = "EPSG:32618"
T = Affine(10, 0, 500000, 0, -10, 4000000)  # 10 m pixels; the image covers x 500000..500640, y 3999360..4000000


@pytest.fixture
def image() -> Image:
    return Image.from_array(coded(64, 64), T, UTM, bands=["v"])


def regions(*geoms, crs=UTM, **columns) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(columns or None, geometry=list(geoms), crs=crs)


FIELD = box(500000, 3999900, 500040, 4000000)  # 4 x 10 pixels in the top-left corner


# -- regions -------------------------------------------------------------------------------------


def test_regions_without_crs(image):
    with pytest.raises(CRSError, match=r"no CRS.*set_crs"):
        sample_regions(image, gpd.GeoDataFrame(geometry=[FIELD]))


def test_regions_in_a_crs_of_another_planet(image):
    with pytest.raises(CRSError, match=r"cannot transform regions from IAU_2015:49900 .* to EPSG:32618.*set_crs"):
        sample_regions(image, regions(box(0, 0, 1, 1), crs="IAU_2015:49900"))


def test_regions_in_a_local_engineering_crs(image):
    local = (
        'ENGCRS["site grid",EDATUM["site"],CS[Cartesian,2],AXIS["x",east,LENGTHUNIT["metre",1]],'
        'AXIS["y",north,LENGTHUNIT["metre",1]]]'
    )
    with pytest.raises(CRSError, match=r"'site grid', a local CRS not tied to the Earth"):
        sample_regions(image, regions(FIELD, crs=local))


def test_empty_geometries_are_named_by_row_label(image):
    frame = regions(FIELD, Polygon(), crs=UTM).set_axis(["north", "gone"])
    with pytest.raises(GeometryError, match=r"rows \['gone'\] have empty geometries.*is_empty"):
        sample_regions(image, frame)


def test_none_geometries_are_named_by_row_label(image):
    frame = regions(None, FIELD, None).set_axis([10, 11, 12])
    with pytest.raises(GeometryError, match=r"rows \[10, 12\] have no geometry \(None\).*notna"):
        sample_regions(image, frame)


def test_self_intersecting_polygon_is_refused_with_the_repair():
    bowtie = Polygon([(500000, 3999900), (500100, 4000000), (500100, 3999900), (500000, 4000000)])
    img = Image.from_array(coded(64, 64), T, UTM)
    with pytest.raises(GeometryError, match=r"rows \[0\] have invalid geometries \(row 0: Self-inters.*make_valid"):
        sample_regions(img, regions(bowtie))
    repaired = sample_regions(img, regions(bowtie).make_valid())  # the advice works
    assert len(repaired) > 0


@pytest.mark.parametrize("coordinate", [math.nan, math.inf])
def test_non_finite_coordinates_are_refused(image, coordinate):
    with pytest.raises(GeometryError, match=r"rows \[0\] have invalid geometries.*Invalid Coordinate"):
        sample_regions(image, regions(Point(coordinate, 4000000)))


def test_geometry_collection_selects_the_union_of_its_members(image):
    point = Point(500305, 3999695)  # row 30, col 30
    line = LineString([(500500, 3999505), (500530, 3999505)])
    collection = sample_regions(image, regions(GeometryCollection([FIELD, point, line])))
    separately = sample_regions(image, regions(FIELD, point, line))
    assert sorted(collection["v"]) == sorted(separately["v"])
    assert len(collection) == 40 + 1 + 3  # the line ends on the edge of column 53


def test_3d_geometries_are_sampled_in_2d(image):
    flat = sample_regions(image, regions(FIELD, Point(500305, 3999695)))
    lifted = sample_regions(image, regions(shapely.force_3d(FIELD, 120.0), Point(500305, 3999695, 7.5)))
    pd.testing.assert_frame_equal(flat, lifted)


def test_coordinates_outside_the_crs_valid_area_name_the_rows(image):
    frame = regions(Point(-75.0, 40.0), Point(-75.0, 95.0), crs="EPSG:4326").set_axis(["ok", "beyond the pole"])
    with pytest.raises(CRSError, match=r"rows \['beyond the pole'\] have coordinates outside the area"):
        sample_regions(image, frame)


def _utm60_box_across_the_antimeridian() -> Polygon:
    from pyproj import Transformer

    to_utm = Transformer.from_crs(4326, 32660, always_xy=True)
    x0, y0 = to_utm.transform(179.95, 60.0)
    x1, y1 = to_utm.transform(-179.95, 60.05)
    return box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def test_regions_crossing_the_antimeridian_in_a_geographic_grid_are_refused():
    # Without the check this 5 km box wrapped around the globe and selected 240,384 wrong pixels.
    img = Image.from_array(np.zeros((100, 100), "uint8"), Affine(0.01, 0, 179.5, 0, -0.01, 60.5), "EPSG:4326")
    frame = regions(box(600000, 6600000, 601000, 6601000), _utm60_box_across_the_antimeridian(), crs="EPSG:32660")
    with pytest.raises(GeometryError, match=r"rows \[1\] cross the antimeridian.*projection="):
        sample_regions(img, frame)
    # the advice works: in a projected working CRS the box is fine
    assert len(sample_regions(img, frame.iloc[[1]], projection="EPSG:32660", scale=1000)) > 0


def test_regions_circling_a_pole_in_a_geographic_grid_are_refused():
    img = Image.from_array(np.zeros((10, 3600), "uint8"), Affine(0.1, 0, -180, 0, -0.1, 90), "EPSG:4326")
    cap = regions(box(-100000, -100000, 100000, 100000), crs="EPSG:3413")  # polar stereographic, around the pole
    with pytest.raises(GeometryError, match=r"circle a pole"):
        sample_regions(img, cap)


def test_regions_outside_the_image_give_an_empty_table_and_a_warning(image):
    with pytest.warns(UserWarning, match=r"entirely outside the image.*CRS"):
        result = sample_regions(image, regions(box(0, 0, 100, 100), name=["far"]))
    assert len(result) == 0
    assert list(result.columns) == ["name", "v", "geometry"]
    assert result["v"].dtype == np.dtype("int32")


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (pd.DataFrame({"x": [1]}), "plain DataFrame"),
        (42, "must be a GeoDataFrame"),
        (gpd.GeoDataFrame(geometry=[], crs=UTM), "is empty"),
    ],
)
def test_regions_of_the_wrong_kind(image, value, match):
    with pytest.raises(GeometryError, match=match):
        sample_regions(image, value)


def test_unknown_property(image):
    with pytest.raises(PropertyError, match=r"unknown properties \['colour'\]; the regions have \['name'\]"):
        sample_regions(image, regions(FIELD, name=["a"]), properties=["colour"])


# -- rasters ---------------------------------------------------------------------------------------


def _write(path: Path, array: np.ndarray, **profile) -> Path:
    array = np.asarray(array).reshape(np.shape(array)[-2:])
    options = dict(driver="GTiff", width=array.shape[-1], height=array.shape[-2], count=1, dtype=array.dtype)
    options.update(profile)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, "w", **options) as dst:
            dst.write(array, 1)
    return path


def test_raster_without_georeferencing(tmp_path):
    path = _write(tmp_path / "plain.tif", coded(8, 8))
    with pytest.raises(RasterReadError, match=rf"{path} has no coordinate reference system and geotransform"):
        Image.open(path)


def test_raster_without_crs(tmp_path):
    path = _write(tmp_path / "nocrs.tif", coded(8, 8), transform=T)
    with pytest.raises(RasterReadError, match=rf"{path} has no coordinate reference system, so.*gdal_edit"):
        Image.open(path)


def test_raster_georeferenced_only_by_ground_control_points(tmp_path):
    path = _write(tmp_path / "gcps.tif", coded(8, 8))
    gcps = [GroundControlPoint(0, 0, 500000, 4000000), GroundControlPoint(8, 8, 500080, 3999920),
            GroundControlPoint(0, 8, 500080, 4000000)]
    with rasterio.open(path, "r+") as dst:
        dst.gcps = (gcps, RioCRS.from_epsg(32618))
    with pytest.raises(RasterReadError, match=rf"{path} is georeferenced by ground control points.*gdalwarp"):
        Image.open(path)


def test_raster_whose_transform_puts_it_at_infinity(tmp_path):
    path = _write(tmp_path / "inf.tif", coded(100, 10), crs=UTM, transform=Affine(10, 0, 0, 0, -1e307, 0))
    with pytest.raises(RasterReadError, match=rf"{path} has unusable georeferencing.*at infinity"):
        Image.open(path)


def _pixel_centre_by_hand(t: Affine, row: int, col: int) -> tuple[float, float]:
    u, v = col + 0.5, row + 0.5
    return t.a * u + t.b * v + t.c, t.d * u + t.e * v + t.f


@pytest.mark.parametrize(
    "transform",
    [
        Affine.translation(500000, 4000000) * Affine.rotation(30) * Affine.scale(10, -10),  # rotated
        Affine(10, 4, 500000, 3, -10, 4000000),  # sheared
        Affine(10, 0, 500000, 0, 10, 3999000),  # south-up
    ],
    ids=["rotated", "sheared", "south-up"],
)
def test_rotated_or_sheared_raster_is_sampled_correctly(make_raster, transform):
    """Values at hand-computed pixel centres are the pixels' own codes; rasterio agrees."""
    path = make_raster(coded(40, 30), transform=transform)
    img = Image.open(path)
    rng = np.random.default_rng(7)
    rows, cols = rng.integers(0, 40, 25), rng.integers(0, 30, 25)
    points = [Point(*_pixel_centre_by_hand(transform, r, c)) for r, c in zip(rows, cols, strict=True)]
    result = sample_regions(img, regions(*points), geometries=True)
    assert result["b1"].tolist() == (rows * 1000 + cols).tolist()
    # the centre reported is the hand-computed centre
    expected = np.array([p.coords[0] for p in points])
    got = shapely.get_coordinates(result.geometry.values)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    # rasterio's own point sampling (an independent inverse transform) reads the same values
    with rasterio.open(path) as ds:
        assert [v[0] for v in ds.sample([p.coords[0] for p in points])] == result["b1"].tolist()
    # a polygon on the tilted grid selects what rasterio's rasteriser selects
    corners = [(5.3, 5.1), (5.2, 20.4), (30.1, 24.3), (33.4, 3.2)]  # off the centres: no exact ties
    polygon = Polygon([_pixel_centre_by_hand(transform, r, c) for r, c in corners])
    mask = ~rasterio.features.geometry_mask([polygon], out_shape=(40, 30), transform=transform)
    expected_codes = sorted((np.nonzero(mask)[0] * 1000 + np.nonzero(mask)[1]).tolist())
    assert sorted(sample_regions(img, regions(polygon))["b1"].tolist()) == expected_codes


def _tiled(path: Path) -> Path:
    return _write(path, coded(64, 64), crs=UTM, transform=T, tiled=True, blockxsize=16, blockysize=16,
                  compress="deflate")


def test_geotiff_truncated_after_its_header(tmp_path):
    good = _tiled(tmp_path / "good.tif")
    cut = tmp_path / "cut.tif"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size * 2 // 3])
    with pytest.raises(RasterReadError, match=rf"{cut} is truncated: its data should end at byte \d+ but the file "
                                              r"has only \d+ bytes.*again"):
        Image.open(cut)


def test_geotiff_with_a_corrupt_block_fails_while_reading_with_the_file_and_pixels(tmp_path):
    path = _tiled(tmp_path / "corrupt.tif")
    with rasterio.open(path) as ds:
        offset = int(ds.get_tag_item("BLOCK_OFFSET_1_2", "TIFF", bidx=1))  # block column 1, block row 2
        size = int(ds.get_tag_item("BLOCK_SIZE_1_2", "TIFF", bidx=1))
    data = bytearray(path.read_bytes())
    data[offset : offset + size] = b"\xff" * size
    path.write_bytes(bytes(data))
    img = Image.open(path)  # the header is intact
    assert len(sample_regions(img, regions(FIELD))) == 40  # blocks before the damage read fine
    with pytest.raises(RasterReadError) as caught:
        sample_regions(img, regions(box(500000, 3999360, 500640, 4000000)))
    message = str(caught.value)
    assert str(path) in message
    assert "(rows 32-47, columns 16-31, band 1)" in message
    assert "ZIPDecode" in message or "Decoding" in message  # GDAL's own reason, not 'see previous exception'
    assert "See previous exception" not in message
    assert "gdalinfo -checksum" in message


def test_geotiff_with_a_garbage_header(tmp_path):
    path = tmp_path / "garbage.tif"
    path.write_bytes(b"II*\x00" + bytes(range(256)) * 8)
    with pytest.raises(RasterReadError, match=rf"{path}"):
        Image.open(path)


@pytest.mark.parametrize("content", [b"", b"name,value\nfield,1\n", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64],
                         ids=["empty", "csv", "fake-png"])
def test_file_that_is_not_a_raster(tmp_path, content):
    path = tmp_path / "data.tif"
    path.write_bytes(content)
    with pytest.raises(RasterReadError, match=rf"{path} is not a raster GDAL can read"):
        Image.open(path)


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.tif"
    with pytest.raises(RasterReadError, match=rf"raster {path} does not exist") as caught:
        sample_regions(path, regions(FIELD))
    assert isinstance(caught.value, OSError)  # catchable as a builtin too


def test_directory_instead_of_a_raster(tmp_path):
    with pytest.raises(RasterReadError, match="is a directory, not a raster file"):
        Image.open(tmp_path)


_OPEN_EACH = """
import json, sys
from sampling import Image, SamplingError
out = {}
for path in sys.argv[1:]:
    try:
        out[path] = ["ok", Image.open(path).band_names]
    except SamplingError as exc:
        out[path] = [type(exc).__name__, str(exc)]
print(json.dumps(out))
"""

_WITHOUT_ROOTS_FILE_ACCESS = ["--inh-caps=-dac_override,-dac_read_search",
                              "--bounding-set=-dac_override,-dac_read_search"]


def test_unreadable_file(make_raster, tmp_path):
    """A file without read permission: a clear error, not GDAL's 'not recognized as a supported format'.

    Root reads any file, so as root the check runs in a child process that keeps uid 0 but gives up the
    capabilities that override file permissions (``setpriv``), where ``chmod 000`` does stop reads.
    """
    readable = make_raster(coded(4, 4), name="readable.tif")
    locked = make_raster(coded(4, 4), name="locked.tif")
    locked.chmod(0o000)
    try:
        if os.geteuid() != 0:
            with pytest.raises(RasterReadError, match=rf"raster {locked} is not readable: check its permissions"):
                Image.open(locked)
            return
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and util-linux's setpriv is missing, so permissions cannot be enforced")
        run = subprocess.run(
            [setpriv, *_WITHOUT_ROOTS_FILE_ACCESS, sys.executable, "-c", _OPEN_EACH, str(readable), str(locked)],
            capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        if run.returncode != 0:
            pytest.skip(f"cannot drop root's file-access capabilities here: {run.stderr[-300:]}")
        out = json.loads(run.stdout)
        assert out[str(readable)] == ["ok", ["b1"]]  # the set-up reads what it may
        assert out[str(locked)] == ["RasterReadError", f"raster {locked} is not readable: check its permissions."]
    finally:
        locked.chmod(0o644)


# -- bands ------------------------------------------------------------------------------------------


def test_band_names_colliding_with_property_names(image):
    with pytest.raises(BandError, match=r"band names \['v'\] collide with properties.*rename.*properties="):
        sample_regions(image, regions(FIELD, v=[1]))
    assert "v" in sample_regions(image, regions(FIELD, v=[1]), properties=[]).columns  # the advice works


def test_band_named_geometry_is_refused(image):
    # It used to replace the geometry column silently.
    with pytest.raises(BandError, match=r"band names \['geometry'\] collide with the output's geometry column"):
        sample_regions(image.rename(["geometry"]), regions(FIELD))


def test_property_named_geometry_that_is_not_the_geometry_is_refused(image):
    frame = gpd.GeoDataFrame({"geometry": ["label"], "geom": [FIELD]}, geometry="geom", crs=UTM)
    with pytest.raises(PropertyError, match=r"column 'geometry' is not their geometry"):
        sample_regions(image, frame)
    assert len(sample_regions(image, frame, properties=[])) == 40


def test_duplicate_band_names(make_raster):
    path = make_raster(coded(4, 4, bands=2))
    with pytest.raises(BandError, match=r"duplicate band names \['red'\].*bands=\["):
        Image.open(path, bands=["red", "red"])
    with pytest.raises(BandError, match=r"duplicate band names \['b1'\]"):
        Image.open([path, path]).select(["b1", "b1"])
    img = Image.from_array(coded(4, 4, bands=2), T, UTM)
    with pytest.raises(BandError, match="duplicate band names"):
        img.rename(["x", "x"])


def test_the_same_file_twice_is_refused(make_raster):
    path = make_raster(coded(4, 4), name="B4.tif")
    with pytest.raises(BandError, match=r"duplicate band names \['B4'\]"):
        Image.open([path, path])


def test_integer_nodata_outside_the_dtype_warns_and_masks_nothing():
    data = np.array([[0, 255], [7, 9]], dtype="uint8")
    with pytest.warns(UserWarning, match=r"nodata -9999 cannot be a value of uint8, so no pixel equals it"):
        img = Image.from_array(data, T, UTM, nodata=-9999)
    result = sample_regions(img, regions(box(500000, 3999980, 500020, 4000000)))
    assert result["b1"].tolist() == [0, 255, 7, 9]


def test_geotiff_whose_nodata_tag_lies_outside_its_dtype_masks_nothing(make_raster):
    """GDAL ignores a nodata tag a band cannot hold (rasterio reports none): nothing is masked."""
    path = make_raster(np.array([[200, 1], [2, 157]], dtype="uint8"), nodata=200)
    raw = path.read_bytes()
    assert raw.count(b"200\x00") == 1
    path.write_bytes(raw.replace(b"200\x00", b"-99\x00"))  # as some writers leave it
    img = Image.open(path)
    assert img.bands[0].nodata is None
    assert sample_regions(img, regions(box(500000, 3999980, 500020, 4000000)))["b1"].tolist() == [200, 1, 2, 157]


def test_nan_nodata_on_a_float_band_masks_the_nan_pixels(make_raster):
    data = np.array([[1.5, np.nan], [np.nan, -0.0]], dtype="float32")
    img = Image.open(make_raster(data, nodata=np.nan))
    area = regions(box(500000, 3999980, 500020, 4000000))
    assert sample_regions(img, area)["b1"].tolist() == [1.5, -0.0]
    kept = sample_regions(img, area, drop_masked=False)  # pixels masked in every band are still dropped
    assert kept["b1"].tolist() == [1.5, -0.0]


def test_nan_nodata_on_an_integer_band_warns_and_masks_nothing():
    with pytest.warns(UserWarning, match=r"nodata nan cannot be a value of int16"):
        img = Image.from_array(np.array([[1, 2]], dtype="int16"), T, UTM, nodata=np.nan)
    assert sample_regions(img, regions(box(500000, 3999990, 500020, 4000000)))["b1"].tolist() == [1, 2]


# -- scale and size -------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [0, -10, math.nan, math.inf, "ten"])
def test_scale_must_be_a_positive_number_of_metres(image, scale):
    with pytest.raises(GridError, match=r"scale must be a (positive )?number of metres"):
        sample_regions(image, regions(FIELD), scale=scale)


@pytest.mark.parametrize("tile_scale", [0, -1, math.nan, "big"])
def test_tile_scale_must_be_positive(image, tile_scale):
    with pytest.raises(GridError, match="tile_scale must be a positive number"):
        sample_regions(image, regions(FIELD), tile_scale=tile_scale)


def test_huge_request_is_refused_before_reading_with_a_way_out(image):
    # 1e-6 m pixels over a 1 cm x 100 m strip: about 1e12 rows, far beyond any memory.
    strip = regions(box(500000, 3999900, 500000.01, 4000000))
    with pytest.raises(OutputTooLargeError, match=r"about 1,000,000,000,\d{3} rows .* of memory available.*"
                                                  r"sample_regions_to_dataset.*--partition-size.*iter_sample_regions"):
        sample_regions(image, strip, scale=1e-6)
    # the error is a MemoryError too, and streaming is not refused (it is how such requests are done)
    assert issubclass(OutputTooLargeError, MemoryError)
    first = next(iter(iter_sample_regions(image, strip, scale=1e-6, tile_scale=100)))
    assert len(first) == 10_000 and (first["v"] == 0).all()  # one row of pixel (0, 0), cut in 10,000


def test_geometry_too_wide_to_rasterise(image):
    with pytest.raises(GeometryError, match=r"geometry at position 0 spans .* pixels from west to east"):
        next(iter(iter_sample_regions(image, regions(box(500000, 3999999, 5e300, 4000000)))))


def test_every_error_is_a_sampling_error_and_a_builtin():
    from sampling import errors

    for name in errors.__all__:
        kind = getattr(errors, name)
        assert issubclass(kind, SamplingError)
        if kind is not SamplingError:
            assert len(kind.__mro__) > 3, f"{name} should also derive from a builtin error"


# -- regressions found by fuzzing (tests/test_fuzz.py) ---------------------------------------------------------


def _patch_tiff_tag(path: Path, tag: int, patch) -> None:
    """Rewrite one entry of a little-endian TIFF's first directory: ``patch(data, entry_offset)``."""
    data = bytearray(path.read_bytes())
    assert data[:4] == b"II*\x00"
    ifd = int.from_bytes(data[4:8], "little")
    for k in range(int.from_bytes(data[ifd : ifd + 2], "little")):
        entry = ifd + 2 + 12 * k
        if int.from_bytes(data[entry : entry + 2], "little") == tag:
            patch(data, entry)
            path.write_bytes(bytes(data))
            return
    raise AssertionError(f"tag {tag} not found")


def test_a_header_claiming_65535_bands_fails_fast(tmp_path):
    """A flipped SamplesPerPixel made opening take 40 s (a quadratic check) and reading minutes."""
    import time

    path = _write(tmp_path / "many.tif", coded(64, 64, "int16"), crs=UTM, transform=T, tiled=True, blockxsize=16,
                  blockysize=16, compress="deflate")
    _patch_tiff_tag(path, 277, lambda data, entry: data.__setitem__(slice(entry + 8, entry + 10), b"\xff\xff"))
    started = time.monotonic()
    image = Image.open(path)
    assert len(image.band_names) == 65535
    with pytest.raises(RasterReadError, match=rf"cannot read {path} \(rows 0-15, columns 0-15, bands 1-65535\)"):
        sample_regions(image, regions(FIELD))
    assert time.monotonic() - started < 20


def test_a_header_with_undecodable_text(tmp_path):
    """Three bit flips found by the fuzzer: rasterio raised a bare UnicodeDecodeError reading the CRS."""
    from .test_fuzz import _bases

    data = bytearray(_bases(tmp_path)[1])
    for offset, bit in ((187, 4), (300, 5), (393, 4)):
        data[offset] ^= 1 << bit
    path = tmp_path / "flipped.tif"
    path.write_bytes(bytes(data))
    with pytest.raises(RasterReadError, match=rf"{path} is not a raster GDAL can read .*utf-8"):
        Image.open(path)
