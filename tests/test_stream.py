"""Streaming to GeoParquet: the file equals sample_regions' result, written atomically."""

from __future__ import annotations

import json
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely

from sampling import Image, sample_regions
from sampling.stream import GeoParquetStream, stream_sample_regions

sample_regions_module = sys.modules["sampling.sample_regions"]


@pytest.fixture
def scene(make_raster):
    rng = np.random.default_rng(0)
    data = rng.integers(1, 1000, (3, 60, 80)).astype("uint16")
    data[:, 10:20, 10:30] = 0  # a cloud
    data[1, 40:45, 5:60] = 0  # one band masked
    path = make_raster(data, nodata=0, block=16)
    image = Image.open(path, bands=["red", "green", "nir"])
    x0, y0 = 500000, 4000000
    polys = [shapely.box(x0 + 10 * a, y0 - 10 * (a + 25), x0 + 10 * (a + 30), y0 - 10 * a) for a in range(0, 40, 3)]
    polys.append(shapely.Point(x0 + 55, y0 - 55))
    fields = gpd.GeoDataFrame({"name": [f"f{k}" for k in range(len(polys))], "area": np.arange(len(polys)) * 1.5},
                              geometry=polys, crs=32618, index=np.arange(len(polys)) * 10 + 3)
    return image, fields


def read_back(path) -> gpd.GeoDataFrame:
    return gpd.read_parquet(path)


@pytest.mark.parametrize("options", [{}, {"geometries": True}, {"drop_masked": False, "properties": ["name"]}])
def test_streamed_file_equals_sample_regions(scene, tmp_path, monkeypatch, options):
    image, fields = scene
    expected = sample_regions(image, fields, **options)
    monkeypatch.setattr(sample_regions_module, "DEFAULT_BATCH_PIXELS", 700)  # many small chunks
    path = tmp_path / "out.parquet"
    rows = stream_sample_regions(image, fields, path, **options)
    got = read_back(path)
    assert rows == len(expected) == len(got)
    assert pq.ParquetFile(path).metadata.num_row_groups > 3
    pd.testing.assert_frame_equal(pd.DataFrame(got.drop(columns="geometry")),
                                  pd.DataFrame(expected.drop(columns="geometry")))
    assert got.crs == expected.crs
    if options.get("geometries"):
        assert got.geometry.geom_equals_exact(expected.geometry, 0).all()
    else:
        assert got.geometry.isna().all()


def test_geoparquet_metadata(scene, tmp_path):
    image, fields = scene
    path = tmp_path / "points.parquet"
    stream_sample_regions(image, fields, path, geometries=True)
    geo = json.loads(pq.ParquetFile(path).metadata.metadata[b"geo"])
    column = geo["columns"][geo["primary_column"]]
    assert geo["version"] == "1.1.0"
    assert column["encoding"] == "WKB"
    assert column["geometry_types"] == ["Point"]
    assert gpd.GeoSeries.from_wkb(pq.read_table(path)["geometry"].to_pylist(), crs=32618).total_bounds.tolist() == \
        pytest.approx(column["bbox"])
    # readers that look at the Arrow schema (pyarrow.parquet.read_table) find it too
    early = json.loads(pq.read_table(path).schema.metadata[b"geo"])
    assert early["columns"]["geometry"]["crs"]["id"]["code"] == 32618


def test_nothing_selected_still_writes_the_columns(scene, tmp_path):
    image, fields = scene
    far = fields.set_geometry(fields.geometry.translate(1e6, 0))
    path = tmp_path / "empty.parquet"
    with pytest.warns(UserWarning, match="outside"):
        assert stream_sample_regions(image, far, path) == 0
    got = read_back(path)
    assert len(got) == 0 and list(got.columns) == ["name", "area", "red", "green", "nir", "geometry"]


def test_a_failure_mid_stream_leaves_no_file_and_keeps_the_old_one(scene, tmp_path, monkeypatch):
    image, fields = scene
    (tmp_path / "results").mkdir()
    path = tmp_path / "results" / "out.parquet"
    path.write_bytes(b"the previous result")
    monkeypatch.setattr(sample_regions_module, "DEFAULT_BATCH_PIXELS", 500)
    real = GeoParquetStream.write
    written = []

    def failing(self, frame):
        if written:
            raise OSError("disk full")
        written.append(len(frame))
        real(self, frame)

    monkeypatch.setattr(GeoParquetStream, "write", failing)
    with pytest.raises(OSError, match="disk full"):
        stream_sample_regions(image, fields, path)
    assert path.read_bytes() == b"the previous result"
    assert [p.name for p in path.parent.iterdir()] == ["out.parquet"]


def test_overwrite_false_refuses_an_existing_file(scene, tmp_path):
    image, fields = scene
    path = tmp_path / "out.parquet"
    path.write_bytes(b"x")
    with pytest.raises(FileExistsError):
        stream_sample_regions(image, fields, path, overwrite=False)


def test_stream_of_frames_keeps_types_across_chunks(tmp_path):
    path = tmp_path / "frames.parquet"
    crs = "EPSG:4326"
    with GeoParquetStream(path) as stream:
        stream.write(gpd.GeoDataFrame({"v": pd.array([1, None], dtype="UInt16")},
                                      geometry=[shapely.Point(0, 0), None], crs=crs))
        stream.write(gpd.GeoDataFrame({"v": pd.array([3], dtype="UInt16")},
                                      geometry=[shapely.box(0, 0, 1, 1)], crs=crs))
    got = gpd.read_parquet(path)
    assert got["v"].tolist() == [1, pd.NA, 3]
    assert str(got["v"].dtype) == "UInt16"
    geo = json.loads(pq.ParquetFile(path).metadata.metadata[b"geo"])
    assert geo["columns"]["geometry"]["geometry_types"] == ["Point", "Polygon"]
    assert geo["columns"]["geometry"]["bbox"] == [0.0, 0.0, 1.0, 1.0]


def test_memory_is_bounded_by_the_chunk(scene, tmp_path, monkeypatch):
    """Frames are written as they come: at most one chunk is alive at a time."""
    image, fields = scene
    alive = []
    real = GeoParquetStream.write

    def tracking(self, frame):
        import gc
        import weakref

        gc.collect()
        alive.append(sum(1 for r in refs if r() is not None))
        refs.append(weakref.ref(frame))
        real(self, frame)

    refs: list = []
    monkeypatch.setattr(sample_regions_module, "DEFAULT_BATCH_PIXELS", 600)
    monkeypatch.setattr(GeoParquetStream, "write", tracking)
    stream_sample_regions(image, fields, tmp_path / "out.parquet")
    assert len(alive) > 3 and max(alive) == 0
