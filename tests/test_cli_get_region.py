"""The ``sampling get-region`` command: globs, STAC files and catalogue tables in, tables out."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from click.testing import CliRunner
from shapely import box

from sampling import ImageCollection, get_region, to_wide
from sampling.cli import main

from .conftest import EXAMPLE_DATA, coded

COLLECTION = EXAMPLE_DATA / "collection"
POINT = {"type": "Point", "coordinates": [-74.98, 37.94]}


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def fields(tmp_path) -> Path:
    path = tmp_path / "fields.gpkg"
    gpd.read_file(EXAMPLE_DATA / "example_regions.gpkg").iloc[:3].to_file(path)
    return path


def test_glob_and_vector_file_to_parquet(fields, tmp_path):
    out = tmp_path / "series.parquet"
    result = run("get-region", COLLECTION / "scene_*.tif", fields, "-o", out)
    assert result.exit_code == 0, result.output
    written = pd.read_parquet(out)
    expected = get_region(ImageCollection.from_files(COLLECTION / "scene_*.tif"), gpd.read_file(fields))
    pd.testing.assert_frame_equal(written, expected)
    assert list(written.columns) == ["region", "field_id", "class", "id", "longitude", "latitude", "time",
                                     "red", "nir"]
    assert written.time.notna().all()  # from the files' TIFFTAG_DATETIME
    assert f"wrote {len(expected)} rows" in result.output


def test_stac_file_and_inline_geojson_to_csv(tmp_path):
    out = tmp_path / "point.csv"
    result = run("get-region", COLLECTION / "items.json", json.dumps(POINT), "-o", out, "--select", "n.*")
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out)
    assert list(written.columns) == ["id", "longitude", "latitude", "time", "nir"]  # no index column
    expected = get_region(ImageCollection.from_stac(COLLECTION / "items.json").select("nir"), POINT)
    assert written.id.tolist() == expected.id.tolist()
    assert written.time.tolist() == expected.time.tolist()
    assert written.nir.tolist() == expected.nir.tolist()
    assert written.longitude.tolist() == expected.longitude.tolist()  # CSV keeps doubles exactly


def test_catalogue_table_time_filter_scale_and_crs(make_raster, tmp_path):
    for k in range(3):
        make_raster(coded(10, 10, "uint16") + k, name=f"r{k}.tif")
    table = pd.DataFrame({"id": ["a", "b", "c"], "time": ["2020-01-01", "2020-02-01", "2020-03-01"],
                          "red": ["r0.tif", "r1.tif", "r2.tif"]})
    table.to_csv(tmp_path / "catalogue.csv", index=False)
    area = tmp_path / "area.geojson"
    gpd.GeoDataFrame({"name": ["x"]}, geometry=[box(500000, 3999960, 500040, 4000000)], crs="EPSG:32618").to_file(area)
    out = tmp_path / "out.parquet"
    result = run("get-region", tmp_path / "catalogue.csv", area, "-o", out, "--crs", "EPSG:32618", "--scale", "20",
                 "--start", "2020-01-15", "--end", "2020-03-01")
    assert result.exit_code == 0, result.output
    written = pd.read_parquet(out)
    assert written.id.tolist() == ["b"] * 4  # 2 x 2 pixels of 20 m, one image in the window
    assert written.red.tolist() == [1002, 1004, 3002, 3004]  # source pixels under the 20 m centres, plus 1


def test_wide_output(fields, tmp_path):
    out = tmp_path / "wide.csv"
    result = run("get-region", COLLECTION, fields, "-o", out, "--wide", "--time-pattern", "%Y%m%d")
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out)
    expected = to_wide(get_region(ImageCollection.from_files(COLLECTION, time_pattern="%Y%m%d"),
                                  gpd.read_file(fields)))
    assert list(written.columns) == list(expected.columns)
    assert "nir_2021-06-29" in written.columns and len(written) == len(expected)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nothing/*.tif", json.dumps(POINT)], "no file matches"),
        ([COLLECTION / "items.json", "{bad json"], "not valid JSON"),
        ([COLLECTION / "items.json", json.dumps(POINT), "--time-pattern", "%Y"], "time_pattern reads times"),
        ([COLLECTION, json.dumps(POINT), "--time-pattern", "%Y%Q"], "%Q"),
        ([COLLECTION, json.dumps(POINT), "--max-values", "7"], "Too many values: 1 points x 2 bands x 4 images > 7."),
        ([COLLECTION, "missing.gpkg"], "does not exist"),
        ([COLLECTION, json.dumps(POINT), "--end", "2021-01-01"], "--end needs --start"),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(args, message, tmp_path):
    result = run("get-region", *args, "-o", tmp_path / "out.csv")
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out.csv").exists()


def test_no_limit_lifts_the_value_limit(tmp_path):
    out = tmp_path / "out.csv"
    result = run("get-region", COLLECTION, json.dumps(POINT), "-o", out, "--max-values", "7", "--no-limit")
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) == 4
    again = run("get-region", COLLECTION, json.dumps(POINT), "-o", out)
    assert again.exit_code == 2 and "already exists" in again.output
