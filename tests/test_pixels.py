"""get_pixels / compute_pixels: grids, resampling, formats and errors.

Expected values are computed here independently of the library: output pixel
centres from the affine coefficients, transformed with pyproj, floored on the
source transform, values read with rasterio. GDAL's warper is a second oracle
away from source pixel edges only (it approximates the transformation).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image as PILImage
from pyproj import Transformer
from rasterio.warp import Resampling, reproject

from sampling import (
    BandError,
    FormatError,
    GridError,
    Image,
    ParameterError,
    RasterReadError,
    TooManyValuesError,
    compute_pixels,
    get_pixels,
    register_asset,
    unregister_asset,
)
from sampling.pixels import output_grid

from .conftest import coded

# -- the independent oracle ----------------------------------------------------------------------


def grid_dict(transform: tuple, width: int, height: int, crs: str) -> dict:
    a, b, c, d, e, f = transform
    return {
        "dimensions": {"width": width, "height": height},
        "affineTransform": {"scaleX": a, "shearX": b, "translateX": c, "shearY": d, "scaleY": e, "translateY": f},
        "crsCode": crs,
    }


def centres(grid: dict) -> tuple[np.ndarray, np.ndarray]:
    """Output pixel centres, straight from the affine coefficients."""
    t = grid["affineTransform"]
    cols, rows = np.meshgrid(np.arange(grid["dimensions"]["width"]) + 0.5,
                             np.arange(grid["dimensions"]["height"]) + 0.5)
    x = t["scaleX"] * cols + t["shearX"] * rows + t["translateX"]
    y = t["shearY"] * cols + t["scaleY"] * rows + t["translateY"]
    return x, y


def expected_pixels(path: Path | str, grid: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(values (bands, h, w), inside (h, w), u, v)``: the source pixel under each output centre."""
    with rasterio.open(path) as ds:
        data, st, crs = ds.read(), ds.transform, ds.crs
    assert st.b == 0 and st.d == 0  # the floor below assumes a north-up source
    x, y = centres(grid)
    xs, ys = Transformer.from_crs(grid["crsCode"], crs.to_wkt(), always_xy=True).transform(x, y)
    u, v = (np.asarray(xs) - st.c) / st.a, (np.asarray(ys) - st.f) / st.e
    col, row = np.floor(u).astype(int), np.floor(v).astype(int)
    inside = (row >= 0) & (row < data.shape[1]) & (col >= 0) & (col < data.shape[2])
    out = np.zeros((data.shape[0], *x.shape), dtype=data.dtype)
    out[:, inside] = data[:, row[inside], col[inside]]
    return out, inside, u, v


def to_crs(x: float, y: float, src: str, dst: str) -> tuple[float, float]:
    return Transformer.from_crs(src, dst, always_xy=True).transform(x, y)


# -- exact resampling on the real scenes ----------------------------------------------------------


def test_rgbn_on_a_geographic_grid_equals_the_source_pixel_under_each_centre(shared_data):
    path = shared_data / "rgbn.tif"
    # ~4 m pixels in degrees, reaching past the scene's west edge
    grid = grid_dict((4.1e-5, 0, -72.2262, 0, -3.9e-5, 18.5230), 300, 250, "EPSG:4326")
    out = get_pixels({"assetId": str(path), "fileFormat": "NUMPY_NDARRAY", "grid": grid}, mask=True)
    expected, inside, _, _ = expected_pixels(path, grid)
    assert out.shape == (250, 300)
    assert out.dtype.names == ("b1", "b2", "b3", "b4", "b1_mask", "b2_mask", "b3_mask", "b4_mask")
    for k, name in enumerate(["b1", "b2", "b3", "b4"]):
        assert out[name].dtype == np.uint8
        np.testing.assert_array_equal(out[name], expected[k])
        np.testing.assert_array_equal(out[f"{name}_mask"], inside.astype("uint8"))
    assert 0.5 < inside.mean() < 1  # the test does cross the edge


def test_rgbn_on_a_sheared_rotated_grid_in_the_next_utm_zone(shared_data):
    path = shared_data / "rgbn.tif"
    x0, y0 = to_crs(-72.2235, 18.5225, "EPSG:4326", "EPSG:32619")
    angle = np.radians(17.0)
    s = 3.7
    transform = (s * np.cos(angle), s * np.sin(angle) + 1.1, x0, s * np.sin(angle), -s * np.cos(angle), y0)
    grid = grid_dict(transform, 180, 140, "EPSG:32619")
    out = get_pixels({"assetId": str(path), "fileFormat": "NUMPY", "grid": grid})
    expected, inside, _, _ = expected_pixels(path, grid)
    assert inside.any() and not inside.all()
    for k, name in enumerate(out.dtype.names):
        np.testing.assert_array_equal(out[name], expected[k])


def test_landsat_geotiff_on_a_geographic_grid_is_exact_and_georeferenced(landsat_paths):
    register_asset("LANDSAT/LC08/C02/T1_L2/LC08_224078_20200518", landsat_paths)
    try:
        grid = grid_dict((2.5e-4, 0, -54.70, 0, -2.3e-4, -25.20), 320, 260, "EPSG:4326")
        data = get_pixels({"assetId": "LANDSAT/LC08/C02/T1_L2/LC08_224078_20200518", "fileFormat": "GEO_TIFF",
                           "grid": grid, "bandIds": ["B4", "B3", "B2"]})
    finally:
        unregister_asset("LANDSAT/LC08/C02/T1_L2/LC08_224078_20200518")
    with rasterio.MemoryFile(data) as memory, memory.open() as ds:
        assert ds.driver == "GTiff"
        assert (ds.width, ds.height, ds.count) == (320, 260, 3)
        assert ds.dtypes == ("uint16",) * 3
        assert ds.crs.to_epsg() == 4326
        assert ds.transform == Affine(2.5e-4, 0, -54.70, 0, -2.3e-4, -25.20)
        assert ds.descriptions == ("B4", "B3", "B2")
        got = ds.read()
    for k, band in enumerate([4, 3, 2]):
        expected, _, _, _ = expected_pixels(landsat_paths[[2, 3, 4].index(band)], grid)
        np.testing.assert_array_equal(got[k], expected[0])


def test_gdal_warper_agrees_away_from_source_pixel_edges(landsat_paths):
    x0, y0 = to_crs(-54.60, -25.25, "EPSG:4326", "EPSG:32622")
    grid = grid_dict((27.0, 4.0, x0, 3.0, -26.0, y0), 200, 180, "EPSG:32622")
    out = get_pixels({"assetId": landsat_paths[2], "fileFormat": "NUMPY_NDARRAY", "grid": grid})
    red = out["b1"]
    expected, inside, u, v = expected_pixels(landsat_paths[2], grid)
    np.testing.assert_array_equal(red, expected[0])
    with rasterio.open(landsat_paths[2]) as ds:
        warped = np.zeros((180, 200), dtype="uint16")
        reproject(ds.read(1), warped, src_transform=ds.transform, src_crs=ds.crs,
                  dst_transform=Affine(27.0, 4.0, x0, 3.0, -26.0, y0), dst_crs="EPSG:32622",
                  resampling=Resampling.nearest)
    fu, fv = u - np.floor(u), v - np.floor(v)
    margin = np.minimum.reduce([fu, 1 - fu, fv, 1 - fv])
    away = inside & (margin > 0.01)
    assert away.mean() > 0.9
    np.testing.assert_array_equal(red[away], warped[away])


def test_no_grid_returns_the_native_grid_unchanged(shared_data):
    path = shared_data / "rgbn.tif"
    data = get_pixels({"assetId": str(path), "fileFormat": "GEOTIFF"})
    with rasterio.open(path) as src, rasterio.MemoryFile(data) as memory, memory.open() as ds:
        assert ds.crs == src.crs and ds.transform == src.transform and ds.shape == src.shape
        np.testing.assert_array_equal(ds.read(), src.read())


# -- regions ---------------------------------------------------------------------------------


def lonlat_box(x0: float, y0: float, x1: float, y1: float, crs: str) -> dict:
    corners = [to_crs(x, y, crs, "EPSG:4326") for x, y in [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]]
    return {"type": "Polygon", "coordinates": [[list(c) for c in corners]]}


def test_region_crops_to_its_bounding_box_snapped_outward_on_the_native_grid(shared_data):
    path = shared_data / "rgbn.tif"
    region = lonlat_box(793100.3, 2049500.2, 793300.7, 2049700.9, "EPSG:32618")
    data = get_pixels({"assetId": str(path), "fileFormat": "GEO_TIFF", "region": region})
    with rasterio.open(path) as src, rasterio.MemoryFile(data) as memory, memory.open() as ds:
        # bbox of the region in EPSG:32618, snapped outward to the 5 m lattice of the scene
        corners = [to_crs(x, y, "EPSG:4326", "EPSG:32618") for x, y in region["coordinates"][0]]
        xs, ys = [c[0] for c in corners], [c[1] for c in corners]
        left = 792988.0 + 5 * np.floor((min(xs) - 792988.0) / 5)
        top = 2050382.0 - 5 * np.floor((2050382.0 - max(ys)) / 5)
        right = 792988.0 + 5 * np.ceil((max(xs) - 792988.0) / 5)
        bottom = 2050382.0 - 5 * np.ceil((2050382.0 - min(ys)) / 5)
        assert ds.transform == Affine(5, 0, left, 0, -5, top)
        assert (ds.width, ds.height) == ((right - left) / 5, (top - bottom) / 5)
        window = src.window(left, bottom, right, top)
        np.testing.assert_array_equal(ds.read(), src.read(window=window))


def test_region_with_dimensions_is_rescaled_to_them(shared_data):
    path = shared_data / "rgbn.tif"
    region = lonlat_box(793000, 2049000, 794000, 2050000, "EPSG:32618")
    grid = {"dimensions": {"width": 50, "height": 40}, "crsCode": "EPSG:32618"}
    out = get_pixels({"assetId": str(path), "fileFormat": "NUMPY_NDARRAY", "grid": grid, "region": region})
    box = output_grid(Image.open(path), {"crsCode": "EPSG:32618"}, region)
    rescaled = output_grid(Image.open(path), grid, region)
    assert out.shape == (40, 50)
    assert rescaled.bounds == pytest.approx(box.bounds, abs=1e-6)
    t = rescaled.transform
    expected, _, _, _ = expected_pixels(path, grid_dict(tuple(t)[:6], 50, 40, "EPSG:32618"))
    np.testing.assert_array_equal(out["b1"], expected[0])


def test_region_in_a_geojson_crs_member_and_as_a_geoseries(shared_data):
    import geopandas as gpd
    from shapely import box

    path = shared_data / "rgbn.tif"
    utm = {"type": "Polygon", "coordinates": [[[793103, 2049502], [793203, 2049502], [793203, 2049602],
                                               [793103, 2049502]]],
           "crs": {"type": "name", "properties": {"name": "EPSG:32618"}}}
    a = get_pixels({"assetId": str(path), "fileFormat": "NUMPY", "region": utm})
    b = get_pixels({"assetId": str(path), "fileFormat": "NUMPY",
                    "region": gpd.GeoSeries([box(793103, 2049502, 793203, 2049602)], crs=32618)})
    assert a.shape == b.shape == (20, 20)
    np.testing.assert_array_equal(a, b)


# -- formats ----------------------------------------------------------------------------------


@pytest.fixture
def small_rgbn(shared_data):
    """A 40 x 30 window of rgbn.tif on its own lattice, with its expected values."""
    path = shared_data / "rgbn.tif"
    grid = grid_dict((5, 0, 793288.0, 0, -5, 2050082.0), 40, 30, "EPSG:32618")
    expected, _, _, _ = expected_pixels(path, grid)
    return str(path), grid, expected


def test_npy_is_a_structured_array_numpy_loads(small_rgbn):
    path, grid, expected = small_rgbn
    data = get_pixels({"assetId": path, "fileFormat": "npy", "grid": grid, "bandIds": ["b4", "b1"]})
    array = np.load(io.BytesIO(data), allow_pickle=False)
    assert array.shape == (30, 40) and array.dtype.names == ("b4", "b1")
    np.testing.assert_array_equal(array["b4"], expected[3])
    np.testing.assert_array_equal(array["b1"], expected[0])


def test_zipped_geotiffs(small_rgbn):
    path, grid, expected = small_rgbn
    whole = get_pixels({"assetId": path, "fileFormat": "ZIPPED_GEO_TIFF", "grid": grid})
    with zipfile.ZipFile(io.BytesIO(whole)) as archive:
        assert archive.namelist() == ["download.tif"]
        with rasterio.MemoryFile(archive.read("download.tif")) as memory, memory.open() as ds:
            assert ds.count == 4 and ds.transform == Affine(5, 0, 793288.0, 0, -5, 2050082.0)
            np.testing.assert_array_equal(ds.read(), expected)
    per_band = get_pixels({"assetId": path, "fileFormat": "zipped_geo_tiff_per_band", "grid": grid,
                           "bandIds": ["b3", "b2"]})
    with zipfile.ZipFile(io.BytesIO(per_band)) as archive:
        assert archive.namelist() == ["download.b3.tif", "download.b2.tif"]
        for name, k in [("download.b3.tif", 2), ("download.b2.tif", 1)]:
            with rasterio.MemoryFile(archive.read(name)) as memory, memory.open() as ds:
                assert ds.count == 1 and ds.crs.to_epsg() == 32618
                np.testing.assert_array_equal(ds.read(1), expected[k])


def test_png_of_8_bit_rgb_bands_is_the_data(small_rgbn):
    path, grid, expected = small_rgbn
    data = get_pixels({"assetId": path, "grid": grid, "bandIds": ["b1", "b2", "b3"]})  # PNG is the default
    picture = PILImage.open(io.BytesIO(data))
    assert picture.format == "PNG" and picture.mode == "RGB" and picture.size == (40, 30)
    np.testing.assert_array_equal(np.asarray(picture), np.moveaxis(expected[:3], 0, -1))


def test_png_of_one_8_bit_band_is_grey(small_rgbn):
    path, grid, expected = small_rgbn
    picture = PILImage.open(io.BytesIO(get_pixels({"assetId": path, "grid": grid, "bandIds": "b4"})))
    rgb = np.asarray(picture)
    for channel in range(3):
        np.testing.assert_array_equal(rgb[..., channel], expected[3])


def test_jpeg_and_auto(small_rgbn, shared_data):
    path, grid, expected = small_rgbn
    params = {"assetId": path, "grid": grid, "bandIds": ["b1", "b2", "b3"]}
    jpeg = PILImage.open(io.BytesIO(get_pixels({**params, "fileFormat": "JPG"})))
    assert jpeg.format == "JPEG" and jpeg.mode == "RGB" and jpeg.size == (40, 30)
    error = np.abs(np.asarray(jpeg).astype(int) - np.moveaxis(expected[:3], 0, -1).astype(int))
    assert error.mean() < 4  # lossy, but the same picture
    opaque = PILImage.open(io.BytesIO(get_pixels({**params, "fileFormat": "AUTO"})))
    assert opaque.format == "JPEG"
    # the scene's corner: some pixels lie outside the image, so transparent, so PNG
    corner = grid_dict((5, 0, 792988.0 - 50, 0, -5, 2050382.0 + 50), 40, 30, "EPSG:32618")
    masked = PILImage.open(io.BytesIO(get_pixels({**params, "grid": corner, "fileFormat": "auto_jpeg_png"})))
    assert masked.format == "PNG" and masked.mode == "RGBA"
    alpha = np.asarray(masked)[..., 3]
    assert (alpha[:10, :] == 0).all() and (alpha[:, :10] == 0).all() and (alpha[10:, 10:] == 255).all()


def test_visualised_raw_formats_hold_vis_bands(small_rgbn):
    path, grid, expected = small_rgbn
    out = get_pixels({"assetId": path, "grid": grid, "bandIds": ["b4"], "fileFormat": "NUMPY_NDARRAY",
                      "visualizationOptions": {"ranges": [{"min": 0, "max": 100}]}})
    assert out.dtype.names == ("vis-red", "vis-green", "vis-blue")
    grey = np.floor(np.clip(expected[3] / 100.0, 0, 1) * 255 + 0.5).astype("uint8")
    for name in out.dtype.names:
        np.testing.assert_array_equal(out[name], grey)


def test_bands_of_different_dtypes_keep_them_and_share_one_in_a_geotiff(make_raster):
    counts_values, ndvi_values = coded(6, 8, "uint8")[0], coded(6, 8, "float32")[0] / 1000
    counts = make_raster(counts_values, name="counts.tif")
    ndvi = make_raster(ndvi_values, name="ndvi.tif")
    image = Image.open([counts, ndvi], bands=["counts", "ndvi"])
    out = compute_pixels({"expression": image, "fileFormat": "NUMPY_NDARRAY"})
    assert out.dtype == np.dtype([("counts", "uint8"), ("ndvi", "float32")])
    tif = compute_pixels({"expression": image, "fileFormat": "GEO_TIFF"})
    with rasterio.MemoryFile(tif) as memory, memory.open() as ds:
        assert ds.dtypes == ("float32", "float32")
        np.testing.assert_array_equal(ds.read(1), counts_values)
        np.testing.assert_array_equal(ds.read(2), ndvi_values)


def test_masked_pixels_are_zero_in_raw_formats_and_the_mask_is_offered(make_raster):
    data = coded(5, 5, "int16")[0] + 1
    data[1, 2] = -9
    path = make_raster(data, nodata=-9)
    grid = grid_dict((10, 0, 500000 - 10, 0, -10, 4000000), 4, 3, "EPSG:32618")  # one column left of the image
    out = get_pixels({"assetId": str(path), "fileFormat": "NUMPY_NDARRAY", "grid": grid}, mask=True)
    assert out["b1"].tolist() == [[0, 1, 2, 3], [0, 1001, 1002, 0], [0, 2001, 2002, 2003]]
    assert out["b1_mask"].tolist() == [[0, 1, 1, 1], [0, 1, 1, 0], [0, 1, 1, 1]]


def test_compute_pixels_takes_an_image_expression_and_no_region(small_rgbn):
    path, grid, expected = small_rgbn
    out = compute_pixels({"expression": Image.open(path), "grid": grid, "fileFormat": "NUMPY"})
    np.testing.assert_array_equal(out["b2"], expected[1])
    with pytest.raises(ParameterError, match="no 'region'"):
        compute_pixels({"expression": Image.open(path), "region": {"type": "Point", "coordinates": [0, 0]}})


def test_an_unregistered_asset_id_says_how_to_register_it():
    with pytest.raises(RasterReadError, match="register_asset"):
        get_pixels({"assetId": "COPERNICUS/S2_SR/20200518T140051_20200518T140049_T21JXN"})


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "error", "match"),
    [
        ({"fileFormat": "WEBP"}, FormatError, "unknown fileFormat 'WEBP'"),
        ({"fileFormat": "TF_RECORD_IMAGE"}, FormatError, "TF_RECORD_IMAGE is not supported"),
        ({"fileFormat": "PNG", "visualizationOptions": {"paletteColors": ["000000", "ffffff"]}},
         FormatError, "paletteColors colours one band, but 3 bands"),
        ({"bandIds": ["B4", "B5"]}, BandError, "unknown band 'B5'"),
        ({"grid": {"crsCode": "EPSG:4326"}}, GridError, "no 'dimensions' and there is no region"),
        ({"grid": {"dimensions": {"width": 0, "height": 5}}}, GridError, "positive whole numbers"),
        ({"grid": {"dimensions": {"width": 5, "height": 5}, "affineTransform": {"scaleX": 30}}},
         GridError, "degenerate"),
        ({"grid": {"dimensions": {"width": 5, "height": 5}, "afineTransform": {}}}, GridError, "afineTransform"),
        ({"fileformat": "PNG"}, ParameterError, "unknown parameter"),
        ({"fileFormat": "GEO_TIFF", "visualizationOptions": {"ranges": [{"min": 0, "max": 1}] * 2}},
         FormatError, "ranges has 2 entries for 3 bands"),
    ],
)
def test_bad_requests_get_clear_errors(landsat_paths, extra, error, match):
    image = Image.open(landsat_paths)
    with pytest.raises(error, match=match):
        get_pixels({"assetId": image, "fileFormat": "NPY", **extra})


def test_png_of_16_bit_data_needs_visualisation_options(landsat_paths):
    image = Image.open(landsat_paths)
    with pytest.raises(FormatError, match=r"8-bit RGB.*uint16.*visualizationOptions"):
        get_pixels({"assetId": image, "fileFormat": "PNG"})
    with pytest.raises(FormatError, match="8-bit RGB"):
        get_pixels({"assetId": image, "fileFormat": "JPEG", "bandIds": ["B4"]})


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"grid": grid_dict((30, 0, 0, 0, -30, 0), 32769, 10, "EPSG:32621")},
         "Pixel grid dimensions (32769x10) must be less than or equal to 32768."),
        ({"grid": grid_dict((30, 0, 0, 0, -30, 0), 4096, 4096, "EPSG:32621"), "bandIds": ["B2", "B3"]},
         "Total request size (100663296 bytes) must be less than or equal to 50331648 bytes."),
    ],
)
def test_strict_mode_has_earth_engines_limits_and_messages(landsat_paths, request_, message):
    params = {"assetId": Image.open(landsat_paths), "fileFormat": "NPY", **request_}
    with pytest.raises(TooManyValuesError) as info:
        get_pixels(params, strict=True)
    assert str(info.value).startswith(message)


def test_strict_mode_band_limit_and_an_allowed_request(make_raster):
    path = make_raster(np.zeros((1025, 2, 2), "uint8"))
    with pytest.raises(TooManyValuesError, match=r"^Number of bands \(1025\) must be less than or equal to 1024"):
        get_pixels({"assetId": str(path), "fileFormat": "NPY"}, strict=True)
    # 4096 x 4096 x (2 + 1) bytes = 48 MiB exactly: allowed
    grid = grid_dict((10, 0, 0, 0, -10, 0), 4096, 2, "EPSG:32618")
    assert len(get_pixels({"assetId": str(path), "fileFormat": "NPY", "bandIds": ["b1"], "grid": grid},
                          strict=True)) > 0


def test_mask_is_refused_for_pictures(small_rgbn):
    path, grid, _ = small_rgbn
    with pytest.raises(FormatError, match="transparent"):
        get_pixels({"assetId": path, "grid": grid, "bandIds": ["b1", "b2", "b3"]}, mask=True)


def test_bands_on_different_grids_are_resampled_onto_the_first_bands_grid(make_raster):
    fine = make_raster(coded(4, 6, "uint16")[0], transform=(10, 0, 500000, 0, -10, 4000000), name="B4.tif")
    coarse = make_raster(coded(2, 3, "uint16")[0], transform=(20, 0, 500000, 0, -20, 4000000), name="B11.tif")
    image = Image.open([fine, coarse])
    assert image.band_names == ["B4", "B11"]
    out = get_pixels({"assetId": image, "fileFormat": "NUMPY_NDARRAY"})
    assert out.shape == (4, 6)
    np.testing.assert_array_equal(out["B4"], coded(4, 6, "uint16")[0])
    # each 20 m pixel covers 2 x 2 pixels of the 10 m grid
    np.testing.assert_array_equal(out["B11"], np.kron(coded(2, 3, "uint16")[0], np.ones((2, 2), "uint16")))


def test_the_asset_registry(shared_data):
    from sampling import lookup_asset, registered_assets

    image = register_asset("projects/me/assets/rgbn", shared_data / "rgbn.tif")
    try:
        assert "projects/me/assets/rgbn" in registered_assets()
        assert lookup_asset("projects/me/assets/rgbn") is image
        again = register_asset("projects/me/assets/rgbn", Image.open(shared_data / "rgbn.tif").select(["b4"]))
        assert lookup_asset("projects/me/assets/rgbn") is again  # registering again replaces
        out = get_pixels({"assetId": "projects/me/assets/rgbn", "fileFormat": "NUMPY"})
        assert out.dtype.names == ("b4",)
    finally:
        unregister_asset("projects/me/assets/rgbn")
    assert "projects/me/assets/rgbn" not in registered_assets()
    with pytest.raises(KeyError, match="not registered"):
        unregister_asset("projects/me/assets/rgbn")
    assert lookup_asset(shared_data / "rgbn.tif").band_names == ["b1", "b2", "b3", "b4"]  # a Path
    with pytest.raises(RasterReadError, match="does not exist"):  # a wrong path fails when registered
        register_asset("x", shared_data / "missing.tif")


def test_a_request_larger_than_memory_is_refused_before_reading():
    from sampling.errors import OutputTooLargeError

    image = Image.from_array(np.zeros((1, 4, 4), "uint16"), Affine(10, 0, 0, 0, -10, 40), "EPSG:32618")
    huge = {"dimensions": {"width": 10_000_000, "height": 10_000_000}}
    with pytest.raises(OutputTooLargeError, match="10000000 x 10000000 pixel request"):
        compute_pixels({"expression": image, "fileFormat": "NPY", "grid": huge})
