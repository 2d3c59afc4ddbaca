"""Sampling on a real Dask cluster: a LocalCluster of two worker processes.

The loopback S3 server starts first and its endpoint and keys go into the
environment, so the worker processes inherit them and read from it themselves.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from click.testing import CliRunner
from geopandas.testing import assert_geodataframe_equal

from sampling import GridError, Image, PixelGrid, PropertyError, RasterReadError, sample_regions
from sampling.cli import main
from sampling.cluster import (
    BlockLattice,
    _cuts,
    _partitioned,
    map_regions,
    sample_regions_dask,
    spatial_keys,
    write_dataset,
)

from .conftest import coded
from .loopback import HTTPServer, S3Server, serve_http, serve_s3, write_cog

dask = pytest.importorskip("dask")
dask_geopandas = pytest.importorskip("dask_geopandas")
distributed = pytest.importorskip("distributed")

SIZE = 2048
TRANSFORM = Affine(10, 0, 600000, 0, -10, 5000000)
CRS = "EPSG:32633"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated COGs: a 2048 x 2048 two-band int32 image whose values encode row and column, nodata blobs."""
    root = tmp_path_factory.mktemp("cluster_data")
    values = coded(SIZE, SIZE, "int32", bands=2)
    rng = np.random.default_rng(60)
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    for r, c, radius in zip(rng.integers(0, SIZE, 12), rng.integers(0, SIZE, 12), rng.integers(20, 120, 12),
                            strict=True):
        values[0][(rows - r) ** 2 + (cols - c) ** 2 < radius**2] = -1  # clouds in band 1 only
    write_cog(root / "coded.tif", values, transform=TRANSFORM, crs=CRS, nodata=-1)
    return root


@pytest.fixture(scope="module")
def s3(data_dir: Path) -> Iterator[S3Server]:
    """The S3 server; its endpoint and a credentials file in the environment the workers inherit."""
    with pytest.MonkeyPatch.context() as mp, serve_s3() as server:
        for key, value in server.credentials_file(data_dir / "aws_credentials").items():
            mp.setenv(key, value)
        server.upload("cogs", {"coded.tif": data_dir / "coded.tif"})
        yield server


@pytest.fixture(scope="module")
def http(data_dir: Path) -> Iterator[HTTPServer]:
    with serve_http(data_dir) as server:
        yield server


@pytest.fixture(scope="module")
def client(s3: S3Server) -> Iterator[distributed.Client]:
    """Two worker processes, one thread each, started after the S3 settings are in the environment."""
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
        host="127.0.0.1", silence_logs=logging.ERROR,
    )
    with cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def fields() -> gpd.GeoDataFrame:
    """3,000 regions in EPSG:4326 over the generated image: polygons of 2 to 30 pixels a side,
    some overlapping, some MultiPolygons, some smaller than a pixel, some outside, and points."""
    rng = np.random.default_rng(61)
    n = 3000
    x = TRANSFORM.c + rng.uniform(-500, SIZE * 10 + 500, n)
    y = TRANSFORM.f - rng.uniform(-500, SIZE * 10 + 500, n)
    half = rng.uniform(3, 150, n)
    geoms = shapely.box(x - half, y - half, x + half, y + half)
    multi = rng.random(n) < 0.1
    geoms[multi] = [shapely.MultiPolygon([g, shapely.box(*(np.array(g.bounds) + 400))]) for g in geoms[multi]]
    points = rng.random(n) < 0.3
    geoms[points] = shapely.points(x[points], y[points])
    frame = gpd.GeoDataFrame(
        {"plot": [f"p{k}" for k in range(n)], "area_class": rng.integers(0, 5, n).astype("int16")},
        geometry=geoms, crs=CRS, index=pd.RangeIndex(1000, 1000 + n, name="fid"),
    )
    return frame.to_crs("EPSG:4326")


def in_region_order(result: gpd.GeoDataFrame, regions: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Rows regrouped in the regions' order (stable: pixels keep their order within a region)."""
    position = regions.index.get_indexer(result.index)
    assert (position >= 0).all()
    return result.iloc[np.argsort(position, kind="stable")]


def test_generated_data_thousands_of_regions_equal_single_process(client, data_dir, fields) -> None:
    image = Image.open(data_dir / "coded.tif", bands=["a", "b"])
    single = sample_regions(image, fields)
    lazy = sample_regions(image, fields, client=client)
    assert isinstance(lazy, dask_geopandas.GeoDataFrame)
    assert lazy.npartitions == 4  # 2 per worker thread
    with distributed.get_task_stream(client) as stream:
        result = lazy.compute()
    assert len({task["worker"] for task in stream.data}) == 2  # both worker processes sampled
    assert len(single) > 100_000 and single["a"].dtype == "int32"
    assert_geodataframe_equal(in_region_order(result, fields), single)


def test_options_give_the_same_result_as_single_process(client, data_dir, fields) -> None:
    image = Image.open(data_dir / "coded.tif")
    subset = fields.iloc[::7]
    options = dict(properties=["plot"], geometries=True, drop_masked=False, feature_ids=True, scale=25)
    single = sample_regions(image, subset, **options)
    result = sample_regions(image, subset, partitions=5, **options).compute()
    assert result.index.name == "system:index"
    assert_geodataframe_equal(result.sort_index(), single.sort_index())


def test_real_landsat_data_equal_single_process(client, shared_data: Path, landsat_paths: list[str]) -> None:
    image = Image.open(landsat_paths)
    for name in ("points.gpkg", "polygons.gpkg"):
        regions = gpd.read_file(shared_data / "landsat8" / name)
        single = sample_regions(image, regions, geometries=True)
        result = sample_regions(image, regions, partitions=3, geometries=True).compute()
        assert_geodataframe_equal(in_region_order(result, regions), single)


def test_a_dask_geopandas_frame_keeps_its_labels(client, data_dir, fields) -> None:
    image = Image.open(data_dir / "coded.tif")
    subset = fields.iloc[::3]
    lazy_regions = dask_geopandas.from_geopandas(subset, npartitions=6)
    single = sample_regions(image, lazy_regions.compute())  # (Dask changed the string columns' dtype)
    shuffled = sample_regions(image, lazy_regions)
    assert shuffled.npartitions == 6
    assert_geodataframe_equal(in_region_order(shuffled.compute(), subset), single)
    # the regions of one raster block never land in two partitions
    lattice = BlockLattice.of(image)
    parts = [p.compute() for p in _partitioned(lazy_regions, partitions=6, client=None, spatial=True,
                                               blocks=lattice).partitions]
    assert sum(len(p) for p in parts) == len(subset) and {i for p in parts for i in p.index} == set(subset.index)
    blocks_of = [set(spatial_keys(p, lattice)[0].tolist()) for p in parts]
    assert all(a.isdisjoint(b) for i, a in enumerate(blocks_of) for b in blocks_of[i + 1 :])
    kept = sample_regions_dask(image, lazy_regions, spatial_partitioning=False, partitions=4)
    assert kept.npartitions == 4
    assert_geodataframe_equal(in_region_order(kept.compute(), subset), single)


def test_workers_read_from_the_loopback_s3_server(client, s3: S3Server, data_dir, fields) -> None:
    remote = Image.open("s3://cogs/coded.tif")
    local = Image.open(data_dir / "coded.tif")
    subset = fields.iloc[:600]
    # the workers see the endpoint and keys through the environment they inherited
    assert set(client.run(lambda: os.environ["AWS_S3_ENDPOINT"]).values()) == {s3.endpoint}
    with distributed.get_task_stream(client) as stream:
        result = sample_regions(remote, subset, partitions=4).compute()
    assert len({task["worker"] for task in stream.data}) == 2
    assert_geodataframe_equal(in_region_order(result, subset), sample_regions(local, subset))


def test_workers_use_keys_from_their_environment_variables(client, s3: S3Server, data_dir, fields) -> None:
    s3.upload("cogs", {"keys-a.tif": data_dir / "coded.tif", "keys-b.tif": data_dir / "coded.tif"})
    subset = fields.iloc[:40]

    def set_keys(secret: str) -> None:
        os.environ.update(AWS_ACCESS_KEY_ID=s3.access_key, AWS_SECRET_ACCESS_KEY=secret)

    def unset_keys() -> None:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            os.environ.pop(key, None)

    try:
        # environment variables take precedence over the credentials file: a wrong secret there fails
        client.run(set_keys, "AWrongSecretInTheWorkersEnvironment0123")
        with pytest.raises(RasterReadError, match="access denied"):
            sample_regions(Image.open("s3://cogs/keys-a.tif"), subset, partitions=2).compute()
        client.run(set_keys, s3.secret_key)
        result = sample_regions(Image.open("s3://cogs/keys-b.tif"), subset, partitions=2).compute()
    finally:
        client.run(unset_keys)
    expected = sample_regions(Image.open(data_dir / "coded.tif"), subset)
    assert_geodataframe_equal(in_region_order(result, subset), expected)


def _plots_over(image: Image, n: int, seed: int) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    left, bottom, right, top = image.grid.bounds
    x = rng.uniform(left - 100, right + 100, n)
    y = rng.uniform(bottom - 100, top + 100, n)
    half = rng.uniform(2, 40, n)
    geoms = shapely.box(x - half, y - half, x + half, y + half)
    geoms[::4] = shapely.points(x[::4], y[::4])
    return gpd.GeoDataFrame({"plot": np.arange(n) * 10, "kind": rng.integers(0, 3, n).astype("int8")},
                            geometry=geoms, crs=image.grid.crs)


def sorted_rows(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return table.sort_values(keys, kind="stable").reset_index(drop=True)


def test_get_region_on_the_cluster_equals_single_process(client, shared_data: Path) -> None:
    # the real collection: three scenes on two lattices, covering different pixels, with distinct times
    from sampling import ImageCollection, get_region

    images = [Image.open(shared_data / name, id=name[:-4], time=f"2020-0{k + 1}-01")
              for k, name in enumerate(["rgbn.tif", "rgbn_suba.tif", "rgbn_subb.tif"])]
    collection = ImageCollection(images)
    plots = _plots_over(images[0], 300, seed=62).to_crs("EPSG:4326")
    single = get_region(collection, plots, max_values=None, scale=5, crs=images[0].grid.crs)
    lazy = get_region(collection, plots, scale=5, crs=images[0].grid.crs, max_values=None, partitions=4)
    assert isinstance(lazy, dask.dataframe.DataFrame) and lazy.npartitions == 4
    result = lazy.compute()
    assert len(single) > 10_000 and list(result.columns) == list(single.columns)
    keys = ["region", "id", "longitude", "latitude"]
    pd.testing.assert_frame_equal(sorted_rows(result, keys), sorted_rows(single, keys))
    with pytest.raises(Exception, match="pass max_values=None"):
        get_region(collection, plots, client=client)


def test_get_region_from_s3_on_the_workers(client, s3: S3Server, data_dir, fields) -> None:
    from sampling import get_region

    s3.upload("series", {f"day{k}.tif": data_dir / "coded.tif" for k in (1, 2)})
    remote = [Image.open(f"s3://series/day{k}.tif", time=f"2021-05-0{k}") for k in (1, 2)]
    local = [Image.open(data_dir / "coded.tif", id=f"day{k}", time=f"2021-05-0{k}") for k in (1, 2)]
    subset = fields.iloc[:200]
    result = get_region(remote, subset, crs=CRS, max_values=None, client=client).compute()
    single = get_region(local, subset, crs=CRS, max_values=None)
    keys = ["fid", "id", "longitude", "latitude"]
    pd.testing.assert_frame_equal(sorted_rows(result, keys), sorted_rows(single, keys))


def test_hilbert_partitions_share_few_blocks(fields) -> None:
    # each partition's regions should cover a compact area, so few raster blocks are read by
    # more than one partition (and so by more than one worker)
    regions = fields.to_crs(CRS)

    def blocks_read(frame: gpd.GeoDataFrame) -> int:
        total = 0
        for part in frame.partitions:
            bounds = part.compute().bounds.to_numpy()
            c0, r0 = ~TRANSFORM @ (bounds[:, 0], bounds[:, 3])
            c1, r1 = ~TRANSFORM @ (bounds[:, 2], bounds[:, 1])
            blocks = set()
            for a, b, c, d in zip(r0 // 256, r1 // 256, c0 // 256, c1 // 256, strict=True):
                blocks.update((i, j) for i in range(int(a), int(b) + 1) for j in range(int(c), int(d) + 1))
            total += len(blocks)
        return total

    lattice = BlockLattice(PixelGrid(CRS, TRANSFORM, (SIZE, SIZE)), (256, 256))
    hilbert = blocks_read(_partitioned(regions, partitions=8, client=None, spatial=True, blocks=lattice))
    unordered = blocks_read(_partitioned(regions, partitions=8, client=None, spatial=False, blocks=lattice))
    assert hilbert < 0.4 * unordered, (hilbert, unordered)


def test_partition_cuts_move_to_block_boundaries_when_near() -> None:
    keys = np.repeat([5, 9, 2, 7], [30, 25, 25, 20])  # rows sorted by block, four blocks
    assert _cuts(keys, 4) == [0, 30, 55, 80, 100]  # every cut at a block boundary
    assert _cuts(np.zeros(100, "int64"), 4) == [0, 25, 50, 75, 100]  # one block: even parts
    assert _cuts(np.repeat([1, 2], [90, 10]), 2) == [0, 50, 100]  # the boundary is too far: balance wins


def test_a_worker_that_cannot_read_names_the_source_and_the_partition(client, data_dir, http, fields) -> None:
    shutil.copy(data_dir / "coded.tif", data_dir / "vanishing.tif")
    image = Image.open(f"{http.url}/vanishing.tif?token=private-token")  # the client reads the header
    lazy = sample_regions(image, fields.iloc[:300], partitions=3)
    (data_dir / "vanishing.tif").unlink()  # ... and the file is gone when the workers open it
    with pytest.raises(RasterReadError) as info:
        lazy.compute()
    message = str(info.value)
    assert "partition " in message and " of 3 (regions " in message
    assert f"{http.url}/vanishing.tif" in message and "404" in message
    assert "private-token" not in message
    assert info.value.partition in (0, 1, 2)


def test_options_shipped_to_the_workers_win_over_their_environment(client, s3: S3Server, data_dir, fields) -> None:
    # objects no worker has opened yet (GDAL remembers what it read from a URL)
    s3.upload("cogs", {"again.tif": data_dir / "coded.tif", "once-more.tif": data_dir / "coded.tif"})
    image = Image.open("s3://cogs/again.tif")
    wrong = {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": "NotTheRightSecretAtAll012345"}
    lazy = sample_regions_dask(image, fields.iloc[:50], partitions=2, gdal_options=wrong)
    with pytest.raises(RasterReadError) as info:
        lazy.compute()
    message = str(info.value)
    assert "cannot open raster s3://cogs/again.tif: access denied" in message and "partition" in message
    assert "NotTheRightSecretAtAll012345" not in message and s3.secret_key not in message
    # and the user's rasterio.Env around the call travels too (here: a proxy that is not there)
    image = Image.open("s3://cogs/once-more.tif")  # the header is read here, directly
    with rasterio.Env(GDAL_HTTP_PROXY="127.0.0.1:9"):
        lazy = sample_regions(image, fields.iloc[:50], partitions=2)
    with pytest.raises(RasterReadError, match=r"partition \d of 2 .*s3://cogs/once-more\.tif.*connect"):
        lazy.compute()


def test_bad_arguments_fail_before_anything_runs(data_dir, fields) -> None:
    image = Image.open(data_dir / "coded.tif")
    with pytest.raises(PropertyError, match="unknown properties"):
        sample_regions(image, fields, properties=["nope"], partitions=2)
    with pytest.raises(GridError, match="partitions must be a positive integer"):
        sample_regions(image, fields, partitions=0)
    with pytest.raises(Exception, match="no CRS"):
        sample_regions(image, dask_geopandas.from_geopandas(fields.set_crs(None, allow_override=True),
                                                             npartitions=2))


def test_partitioned_geoparquet_dataset(client, data_dir, fields, tmp_path: Path) -> None:
    image = Image.open(data_dir / "coded.tif")
    subset = fields.iloc[::3]
    lazy = sample_regions(image, subset, partitions=6, geometries=True)
    target = tmp_path / "samples.parquet"
    rows = write_dataset(lazy, target)
    files = sorted(p.name for p in target.iterdir())
    assert len([f for f in files if f.endswith(".parquet")]) == 6
    single = sample_regions(image, subset, geometries=True)
    assert rows == len(single)
    back = gpd.read_parquet(target)
    assert_geodataframe_equal(in_region_order(back, subset), single, check_index_type=False)
    lazy_back = dask_geopandas.read_parquet(target)
    assert lazy_back.npartitions == 6 and lazy_back.crs == single.crs
    with pytest.raises(FileExistsError):
        write_dataset(lazy, target)
    assert write_dataset(lazy, target, overwrite=True) == rows


def test_map_regions_runs_any_per_region_operation(client, fields) -> None:
    def count(part: gpd.GeoDataFrame, factor: int) -> pd.DataFrame:
        return pd.DataFrame({"n": [len(part) * factor]})

    meta = pd.DataFrame({"n": pd.Series([], dtype="int64")})
    result = map_regions(count, fields, 10, meta=meta, partitions=4).compute()
    assert result["n"].sum() == 10 * len(fields)


def test_cli_on_a_running_cluster(client, data_dir, fields, tmp_path: Path) -> None:
    regions_path = tmp_path / "fields.gpkg"
    fields.iloc[:400].to_file(regions_path)
    out = tmp_path / "out"
    runner = CliRunner()
    args = ["sample-regions", str(data_dir / "coded.tif"), str(regions_path), "-o", str(out),
            "--scheduler", client.scheduler.address, "--partitions", "3"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "3 partitions" in result.output
    back = gpd.read_parquet(out)
    single = sample_regions(Image.open(data_dir / "coded.tif"), gpd.read_file(regions_path))
    assert_geodataframe_equal(back.sort_values(["plot", "b1", "b2"]).reset_index(drop=True),
                              single.sort_values(["plot", "b1", "b2"]).reset_index(drop=True),
                              check_index_type=False)
    again = runner.invoke(main, args)
    assert again.exit_code == 2 and "already exists" in again.output
    assert runner.invoke(main, [*args, "--overwrite"]).exit_code == 0


def test_cli_with_its_own_local_cluster(data_dir, fields, tmp_path: Path) -> None:
    regions_path = tmp_path / "fields.gpkg"
    fields.iloc[:100].to_file(regions_path)
    out = tmp_path / "out.parquet"
    result = CliRunner().invoke(main, ["sample-regions", str(data_dir / "coded.tif"), str(regions_path),
                                       "-o", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    single = sample_regions(Image.open(data_dir / "coded.tif"), gpd.read_file(regions_path))
    assert len(gpd.read_parquet(out)) == len(single)


def test_cli_refuses_conflicting_switches(data_dir, tmp_path: Path) -> None:
    base = ["sample-regions", str(data_dir / "coded.tif"), "r.gpkg", "-o", str(tmp_path / "o")]
    for extra, message in [
        (["--workers", "2", "--scheduler", "tcp://x:1"], "either --scheduler or --workers"),
        (["--workers", "2", "--partition-size", "10"], "give one or the other"),
        (["--partitions", "3"], "--partitions needs --scheduler or --workers"),
    ]:
        result = CliRunner().invoke(main, [*base, *extra])
        assert result.exit_code == 2 and message in result.output, result.output
