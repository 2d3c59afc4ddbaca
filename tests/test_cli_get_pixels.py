"""The ``sampling get-pixels`` command: formats by extension, options, one-line errors."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from PIL import Image as PILImage
from pyproj import Transformer
from shapely import box

from sampling.cli import main

# a 30 x 20 pixel block of the Landsat scene, on its 30 m lattice
LEFT, TOP = 717345.0 + 30 * 600, -2776995.0 - 30 * 700
GRID = {"dimensions": {"width": 30, "height": 20}, "crsCode": "EPSG:32621",
        "affineTransform": {"scaleX": 30, "shearX": 0, "translateX": LEFT, "shearY": 0, "scaleY": -30,
                            "translateY": TOP}}


def run(*args: str):
    return CliRunner().invoke(main, ["get-pixels", *args], catch_exceptions=False)


def landsat_block(path: str) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1, window=rasterio.windows.Window(600, 700, 30, 20))


def test_png_with_ranges(landsat_paths, tmp_path):
    out = tmp_path / "rgb.png"
    result = run(landsat_paths[2], landsat_paths[1], landsat_paths[0], "-o", str(out),
                 "--grid", json.dumps(GRID), "--ranges", "0,20000")
    assert result.exit_code == 0, result.output
    picture = PILImage.open(out)
    assert picture.format == "PNG" and picture.mode == "RGB" and picture.size == (30, 20)
    rgb = np.asarray(picture)
    for channel, path in enumerate([landsat_paths[2], landsat_paths[1], landsat_paths[0]]):
        expected = np.floor(np.clip(landsat_block(path) / 20000, 0, 1) * 255 + 0.5).astype("uint8")
        np.testing.assert_array_equal(rgb[..., channel], expected)


def test_geotiff_with_a_grid_file_and_bands(landsat_paths, tmp_path):
    grid_file = tmp_path / "grid.json"
    grid_file.write_text(json.dumps(GRID))
    out = tmp_path / "block.tif"
    result = run(*landsat_paths, "-o", str(out), "--grid", str(grid_file), "--bands", "B4,B2")
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as ds:
        assert ds.count == 2 and ds.descriptions == ("B4", "B2") and ds.dtypes == ("uint16", "uint16")
        assert ds.crs.to_epsg() == 32621 and ds.transform == rasterio.Affine(30, 0, LEFT, 0, -30, TOP)
        np.testing.assert_array_equal(ds.read(1), landsat_block(landsat_paths[2]))
        np.testing.assert_array_equal(ds.read(2), landsat_block(landsat_paths[0]))


def test_npy_with_a_region_file_and_mask(landsat_paths, tmp_path):
    region = tmp_path / "region.gpkg"
    gpd.GeoDataFrame(geometry=[box(LEFT, TOP - 20 * 30, LEFT + 30 * 30, TOP)], crs=32621).to_file(region)
    out = tmp_path / "block.npy"
    result = run(landsat_paths[2], "-o", str(out), "--region", str(region), "--mask")
    assert result.exit_code == 0, result.output
    array = np.load(out)
    assert array.dtype.names == ("b1", "b1_mask") and array.shape == (20, 30)
    np.testing.assert_array_equal(array["b1"], landsat_block(landsat_paths[2]))
    assert (array["b1_mask"] == 1).all()


def test_jpeg_of_8_bit_bands_and_a_geojson_region(shared_data, tmp_path):
    to_lonlat = Transformer.from_crs("EPSG:32618", "EPSG:4326", always_xy=True)
    corners = [list(to_lonlat.transform(x, y)) for x, y in
               [(793105.5, 2049504.5), (793300.5, 2049504.5), (793300.5, 2049699.5), (793105.5, 2049699.5),
                (793105.5, 2049504.5)]]
    region = json.dumps({"type": "Polygon", "coordinates": [corners]})
    out = tmp_path / "rgb.jpg"
    result = run(str(shared_data / "rgbn.tif"), "-o", str(out), "--bands", "b1,b2,b3", "--region", region)
    assert result.exit_code == 0, result.output
    picture = PILImage.open(out)
    # corners half a pixel inside the 5 m lattice: snapped outward to 40 x 40 pixels
    assert picture.format == "JPEG" and picture.mode == "RGB" and picture.size == (40, 40)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "{tmp}/x.png"], "8-bit RGB"),
        (["-o", "{tmp}/x.tif", "--grid", "{{not json"], "--grid is neither a file nor valid JSON"),
        (["-o", "{tmp}/x.tif", "--format", "TF_RECORD_IMAGE"], "TF_RECORD_IMAGE is not supported"),
        (["-o", "{tmp}/x.webp"], "cannot tell the format"),
        (["-o", "{tmp}/x.png", "--ranges", "0"], "--ranges '0'"),
        (["-o", "{tmp}/x.png", "--ranges", "0,1", "--palette", "red,blue"], "paletteColors colours one band"),
        (["-o", "{tmp}/x.npy", "--bands", "B9"], "unknown band 'B9'"),
    ],
)
def test_bad_input_exits_2_with_one_line(landsat_paths, tmp_path, args, message):
    args = [a.format(tmp=tmp_path) for a in args]
    result = CliRunner().invoke(main, ["get-pixels", *landsat_paths, *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not list(tmp_path.iterdir())  # nothing written, not even a partial file


def test_an_existing_output_needs_overwrite(landsat_paths, tmp_path):
    out = tmp_path / "x.npy"
    out.write_bytes(b"keep")
    result = CliRunner().invoke(main, ["get-pixels", landsat_paths[0], "-o", str(out), "--grid", json.dumps(GRID)])
    assert result.exit_code == 2 and "already exists" in result.output
    assert out.read_bytes() == b"keep"
    assert run(landsat_paths[0], "-o", str(out), "--grid", json.dumps(GRID), "--overwrite").exit_code == 0
    assert np.load(out).shape == (20, 30)
