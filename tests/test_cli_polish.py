"""The command line: help with examples, --version, outputs by extension, user errors, progress."""

from __future__ import annotations

import json
import warnings

import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from shapely import box

from sampling import __version__, reduce_regions, sample_regions
from sampling.cli import main

from .conftest import EXAMPLE_DATA

IMAGE = str(EXAMPLE_DATA / "example.tif")
REGIONS = str(EXAMPLE_DATA / "example_regions.gpkg")
COLLECTION = str(EXAMPLE_DATA / "collection" / "*.tif")
COMMANDS = ["sample-regions", "reduce-regions", "get-region"]


def run(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, env=env)


def test_help_explains_every_command_with_an_example():
    result = run("--help")
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output
        assert f"sampling {command} " in result.output and "data/example_regions.gpkg" in result.output
        own = run(command, "--help")
        assert own.exit_code == 0 and "Example" in own.output and f"sampling {command} " in own.output


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and result.output.strip() == f"sampling, version {__version__}"


def read_back(path):
    suffix = path.suffix
    if suffix in (".parquet", ".geoparquet"):
        assert b"geo" in pq.read_schema(path).metadata  # GeoParquet metadata is present
        return gpd.read_parquet(path)
    if suffix == ".csv":
        return pd.read_csv(path, index_col=0)
    return gpd.read_file(path)


@pytest.mark.parametrize("suffix", [".parquet", ".geoparquet", ".csv", ".gpkg", ".geojson"])
def test_sample_regions_output_by_extension(tmp_path, suffix):
    out = tmp_path / f"samples{suffix}"
    result = run("sample-regions", IMAGE, REGIONS, "-o", out, "--geometries", "--properties", "class")
    assert result.exit_code == 0, result.output
    expected = sample_regions(IMAGE, gpd.read_file(REGIONS), properties=["class"], geometries=True)
    table = read_back(out)
    assert len(table) == len(expected)
    assert table["nir"].tolist() == expected["nir"].tolist()
    assert table["class"].tolist() == expected["class"].tolist()
    if suffix == ".csv":
        assert table["geometry"].iloc[0] == expected.geometry.iloc[0].wkt
    else:
        assert table.crs == expected.crs
        assert table.geometry.reset_index(drop=True).geom_equals(expected.geometry.reset_index(drop=True)).all()
    if suffix == ".gpkg":
        import pyogrio

        assert pyogrio.list_layers(out)[0][0] == "samples"  # named after the file, not its temporary name
    if suffix == ".geojson":
        assert json.loads(out.read_text())["type"] == "FeatureCollection"


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".gpkg", ".geojson"])
def test_reduce_regions_output_by_extension(tmp_path, suffix):
    out = tmp_path / f"stats{suffix}"
    result = run("reduce-regions", IMAGE, REGIONS, "-o", out, "--reducers", "count,mean,max",
                 "--percentiles", "10,90")
    assert result.exit_code == 0, result.output
    assert "wrote 12 rows" in result.output
    expected = reduce_regions(IMAGE, gpd.read_file(REGIONS), reducers=["count", "mean", "max"], percentiles=[10, 90])
    table = read_back(out)
    assert table["red_count"].tolist() == expected["red_count"].tolist()
    assert table["nir_p90"].tolist() == pytest.approx(expected["nir_p90"].astype(float).tolist())
    assert table["field_id"].tolist() == expected["field_id"].tolist()


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_get_region_output_by_extension(tmp_path, suffix):
    from sampling import ImageCollection, get_region

    out = tmp_path / f"series{suffix}"
    result = run("get-region", COLLECTION, REGIONS, "-o", out, "--scale", "30", "--crs", "EPSG:32618")
    assert result.exit_code == 0, result.output
    expected = get_region(ImageCollection.from_files(COLLECTION), gpd.read_file(REGIONS), scale=30, crs="EPSG:32618")
    table = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    assert list(table.columns) == list(expected.columns)
    assert table["nir"].astype("float64").tolist() == pytest.approx(expected["nir"].astype("float64").tolist(),
                                                                    nan_ok=True)
    if suffix == ".parquet":
        assert b"geo" not in pq.read_schema(out).metadata  # a plain table: plain Parquet


def test_get_region_to_a_vector_format_is_a_clear_error(tmp_path):
    result = run("get-region", COLLECTION, REGIONS, "-o", tmp_path / "series.gpkg", "--scale", "30")
    assert result.exit_code == 2 and "needs geometries" in result.output


def test_plain_parquet_for_a_table_without_geometries(tmp_path):
    """A pandas table (get_region's kind of output) is written as plain Parquet."""
    from sampling.io import write_table

    frame = pd.DataFrame({"id": ["a", "b"], "time": [1, 2], "nir": pd.array([3, None], dtype="UInt16")})
    write_table(frame, tmp_path / "t.parquet")
    back = pd.read_parquet(tmp_path / "t.parquet")
    assert back["nir"].tolist() == [3, pd.NA] and b"geo" not in (pq.read_schema(tmp_path / "t.parquet").metadata or {})
    with pytest.raises(ValueError, match="needs geometries"):
        write_table(frame, tmp_path / "t.gpkg")


@pytest.fixture
def not_a_raster(tmp_path):
    path = tmp_path / "notes.tif"
    path.write_text("this is not a raster")
    return path


@pytest.fixture
def regions_without_crs(tmp_path):
    path = tmp_path / "nocrs.shp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # that the file has no CRS is the point
        gpd.GeoDataFrame({"k": [1]}, geometry=[box(500100, 4198000, 500300, 4198200)]).to_file(path)
    return path


@pytest.mark.parametrize(
    "args, message",
    [
        (["sample-regions", "missing.tif", REGIONS], "raster missing.tif does not exist"),
        (["sample-regions", "{not_a_raster}", REGIONS], "is not a raster GDAL can read"),
        (["sample-regions", IMAGE, "missing.gpkg"], "regions file missing.gpkg does not exist"),
        (["sample-regions", IMAGE, "{regions_without_crs}"], "have no CRS"),
        (["sample-regions", IMAGE, REGIONS, "--scale", "0"], "scale must be a positive number"),
        (["sample-regions", IMAGE, REGIONS, "--scale", "ten"], "'ten' is not a valid float"),
        (["sample-regions", IMAGE, REGIONS, "--bands", "a,b"], "names 2 bands but the raster(s) have 4"),
        (["sample-regions", IMAGE, REGIONS, "--properties", "crop"], "unknown properties ['crop']"),
        (["sample-regions", IMAGE], "give at least one IMAGE and one REGIONS"),
        (["reduce-regions", IMAGE, REGIONS, "--reducers", "mean,average"], "unknown statistics ['average']"),
        (["reduce-regions", IMAGE, REGIONS, "--percentiles", "150"], "percentiles must be numbers from 0 to 100"),
        (["reduce-regions", IMAGE, REGIONS, "--percentiles", "ten"], "--percentiles takes comma-separated numbers"),
        (["reduce-regions", IMAGE, REGIONS, "--bands", "blue,blue,red,nir"], "duplicate band names ['blue']"),
    ],
)
def test_user_errors_exit_2_with_one_clear_line(tmp_path, not_a_raster, regions_without_crs, args, message):
    args = [a.format(not_a_raster=not_a_raster, regions_without_crs=regions_without_crs) for a in args]
    out = tmp_path / "out.parquet"
    result = run(*args, "-o", out)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_output_problems_are_found_before_any_work(tmp_path, command):
    # the raster does not exist either: the output is checked first, so no work is wasted
    existing = tmp_path / "done.csv"
    existing.write_text("precious")
    result = run(command, "missing.tif", REGIONS, "-o", existing)
    assert result.exit_code == 2 and "already exists; pass --overwrite" in result.output
    assert existing.read_text() == "precious"
    result = run(command, "missing.tif", REGIONS, "-o", tmp_path / "out.xlsx")
    assert result.exit_code == 2 and "cannot write a table as .xlsx" in result.output
    result = run(command, "missing.tif", REGIONS, "-o", tmp_path / "nowhere" / "out.csv")
    assert result.exit_code == 2 and "does not exist; create it first" in result.output


def test_warnings_are_one_line_each(tmp_path):
    outside = tmp_path / "outside.gpkg"
    gpd.GeoDataFrame(geometry=[box(0, 0, 100, 100)], crs=32618).to_file(outside)
    result = run("sample-regions", IMAGE, outside, "-o", tmp_path / "s.csv")
    assert result.exit_code == 0
    assert "warning: the regions lie entirely outside the image" in result.output
    assert "UserWarning" not in result.output and ".py:" not in result.output


def test_progress_is_off_unless_on_a_terminal_or_asked(tmp_path):
    quiet = run("sample-regions", IMAGE, REGIONS, "-o", tmp_path / "a.csv")
    assert quiet.exit_code == 0 and "sample_regions" not in quiet.stderr  # CliRunner's stderr is no terminal
    forced = run("reduce-regions", IMAGE, REGIONS, "-o", tmp_path / "b.csv", "--progress", env={"CI": "true"})
    assert forced.exit_code == 0 and "reduce_regions" in forced.stderr and "region" in forced.stderr
    off = run("reduce-regions", IMAGE, REGIONS, "-o", tmp_path / "c.csv", "--no-progress")
    assert "reduce_regions" not in off.stderr
    series = run("get-region", COLLECTION, REGIONS, "-o", tmp_path / "d.csv", "--scale", "30", "--progress")
    assert series.exit_code == 0 and "get_region" in series.stderr and "image" in series.stderr


def test_auto_progress_follows_the_terminal_and_ci(monkeypatch):
    import sys

    from sampling.progress import wants_progress

    class Terminal:
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    monkeypatch.delenv("CI", raising=False)
    assert wants_progress(None) is True
    monkeypatch.setenv("CI", "true")
    assert wants_progress(None) is False
    assert wants_progress(True) is True
