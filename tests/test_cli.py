"""The sample-regions command and the README's example."""

from __future__ import annotations

import subprocess
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from click.testing import CliRunner

from sampling import Image, sample_regions
from sampling.cli import main

from .conftest import EXAMPLE_DATA, REPO

IMAGE = str(EXAMPLE_DATA / "example.tif")
REGIONS = str(EXAMPLE_DATA / "example_regions.gpkg")


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_sample_regions_to_geoparquet_equals_the_library_call(tmp_path):
    out = tmp_path / "samples.parquet"
    result = run("sample-regions", IMAGE, REGIONS, "-o", str(out), "--geometries")
    assert result.exit_code == 0, result.output
    written = gpd.read_parquet(out)
    expected = sample_regions(Image.open(IMAGE), gpd.read_file(REGIONS), geometries=True)
    assert written["nir"].tolist() == expected["nir"].tolist()
    assert written.geometry.equals(expected.geometry)


def test_sample_regions_to_csv_with_properties_and_scale(tmp_path):
    out = tmp_path / "samples.csv"
    result = run("sample-regions", IMAGE, REGIONS, "-o", str(out), "--properties", "class", "--scale", "20")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, index_col=0)
    assert list(table.columns) == ["class", "blue", "green", "red", "nir"]
    expected = sample_regions(IMAGE, gpd.read_file(REGIONS), properties=["class"], scale=20)
    assert table["red"].tolist() == expected["red"].tolist()


def test_several_single_band_files(tmp_path, make_raster):
    with rasterio.open(IMAGE) as ds:
        data, profile = ds.read(), ds.profile
    paths = [make_raster(data[k], transform=profile["transform"], crs=profile["crs"], nodata=0, name=f"scene_{b}.tif")
             for k, b in enumerate(["B2", "B3", "B4", "B8"])]
    out = tmp_path / "s.parquet"
    result = run("sample-regions", *map(str, paths), REGIONS, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert list(gpd.read_parquet(out).columns)[-5:] == ["B2", "B3", "B4", "B8", "geometry"]


def test_an_existing_output_needs_overwrite(tmp_path):
    out = tmp_path / "samples.csv"
    out.write_text("precious")
    result = run("sample-regions", IMAGE, REGIONS, "-o", str(out))
    assert result.exit_code == 2
    assert "already exists" in result.output and "--overwrite" in result.output
    assert out.read_text() == "precious"
    assert run("sample-regions", IMAGE, REGIONS, "-o", str(out), "--overwrite").exit_code == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.tif", REGIONS], "does not exist"),
        ([IMAGE, "missing.gpkg"], "does not exist"),
        ([IMAGE, REGIONS, "--properties", "nope"], "unknown properties"),
        ([IMAGE, REGIONS, "--scale", "-3"], "scale must be a positive"),
        ([IMAGE], "at least one IMAGE and one REGIONS"),
    ],
)
def test_user_errors_exit_2_with_one_clear_line(tmp_path, args, message):
    result = run("sample-regions", *args, "-o", str(tmp_path / "x.parquet"))
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "x.parquet").exists()


def test_unknown_output_format(tmp_path):
    result = run("sample-regions", IMAGE, REGIONS, "-o", str(tmp_path / "x.xlsx"))
    assert result.exit_code == 2
    assert "cannot write a table as .xlsx" in result.output


def test_python_dash_m_runs_the_command_line():
    done = subprocess.run([sys.executable, "-m", "sampling", "--help"], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0
    assert "sample-regions" in done.stdout


def test_example_data_is_what_its_generator_makes(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_example", EXAMPLE_DATA / "make_example.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "HERE", tmp_path)
    module.main()
    with rasterio.open(tmp_path / "example.tif") as fresh, rasterio.open(IMAGE) as bundled:
        assert np.array_equal(fresh.read(), bundled.read())
        assert fresh.profile == bundled.profile
    for name in ("example_regions.gpkg", "example_points.gpkg"):
        assert gpd.read_file(tmp_path / name).equals(gpd.read_file(EXAMPLE_DATA / name))


@pytest.mark.parametrize("suffix, driver", [(".geojson", "GeoJSON"), (".shp", "ESRI Shapefile"), (".parquet", None)])
def test_regions_in_any_vector_format(tmp_path, suffix, driver):
    regions = gpd.read_file(REGIONS)
    path = tmp_path / f"regions{suffix}"
    if driver is None:
        regions.to_parquet(path)
    else:
        regions.to_file(path, driver=driver)
    out = tmp_path / "samples.parquet"
    result = run("sample-regions", IMAGE, str(path), "-o", str(out))
    assert result.exit_code == 0, result.output
    expected = sample_regions(IMAGE, regions)
    assert gpd.read_parquet(out)["nir"].tolist() == expected["nir"].tolist()
