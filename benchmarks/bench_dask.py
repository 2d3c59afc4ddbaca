"""Benchmark: ``sample_regions`` on a 2-worker Dask LocalCluster against the single-process engine.

Run from the repository root::

    python benchmarks/bench_dask.py            # about 2 minutes
    python benchmarks/bench_dask.py --quick    # about 30 seconds

It writes a seeded test scene (a 4-band uint16 cloud-optimised GeoTIFF with spatially
structured values, 512 x 512 DEFLATE tiles) and seeded field polygons and points in
a temporary directory, then times, as the median of several runs:

* single process: ``sample_regions(image, regions)``, and the same written to GeoParquet;
* cluster: ``sample_regions(image, regions, client=client).compute()`` and
  ``write_dataset(...)`` (a partitioned GeoParquet dataset written by the workers),
  on a ``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)``.

Each timed run opens the scene anew (in the cluster, each worker reopens it), so no
run finds blocks decompressed by the previous one in GDAL's cache. Cluster start-up
is timed once and reported apart. Before any time counts, the cluster's rows are
checked equal to the single-process rows.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from affine import Affine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from sampling import Image, sample_regions  # noqa: E402
from sampling.cluster import write_dataset  # noqa: E402

CRS = "EPSG:32631"


def write_scene(path: Path, size: int, seed: int) -> Path:
    """A 4-band uint16 COG: smooth fields plus noise (so it compresses like imagery), nodata blobs."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(200, 4000, (4, size // 64 + 2, size // 64 + 2)).astype("float32")
    yy, xx = np.mgrid[0:size, 0:size] / 64.0
    iy, ix = yy.astype(int), xx.astype(int)
    bands = []
    for b in range(4):
        smooth = coarse[b][iy, ix]  # blocky "fields"
        bands.append((smooth + rng.normal(0, 60, (size, size))).clip(1, 65535).astype("uint16"))
    data = np.stack(bands)
    for _ in range(8):  # clouds
        r, c, radius = rng.integers(0, size, 2).tolist() + [int(rng.integers(size // 40, size // 12))]
        data[:, (yy * 64 - r) ** 2 + (xx * 64 - c) ** 2 < radius**2] = 0
    transform = Affine(10, 0, 500000, 0, -10, 5000000)
    with rasterio.open(path, "w", driver="COG", width=size, height=size, count=4, dtype="uint16", crs=CRS,
                       transform=transform, nodata=0, blocksize=512, compress="deflate", overviews="none") as dst:
        dst.write(data)
    return path


def make_regions(image: Image, polygons: int, points: int, seed: int) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    left, bottom, right, top = image.grid.bounds
    n = polygons + points
    x = rng.uniform(left, right, n)
    y = rng.uniform(bottom, top, n)
    half = rng.uniform(10, 150, n)  # fields of 20 m to 300 m
    geoms = shapely.box(x - half, y - half, x + half, y + half)
    geoms[polygons:] = shapely.points(x[polygons:], y[polygons:])
    return gpd.GeoDataFrame({"field": np.arange(n), "crop": rng.integers(0, 12, n).astype("int16")},
                            geometry=geoms, crs=CRS)


def median_time(func, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller scene and fewer regions")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    size, polygons, points = (4096, 5_000, 20_000) if args.quick else (8192, 20_000, 100_000)

    from distributed import Client, LocalCluster

    work = Path(tempfile.mkdtemp(prefix="bench_dask_"))
    try:
        start = time.perf_counter()
        scene = write_scene(work / "scene.tif", size, seed=1)
        image = Image.open(scene, bands=["blue", "green", "red", "nir"])
        regions = make_regions(image, polygons, points, seed=2)
        print(f"scene {size} x {size} x 4 uint16 ({scene.stat().st_size / 1e6:.0f} MB), "
              f"{polygons} polygons + {points} points, written in {time.perf_counter() - start:.1f} s")

        # Every timed run opens the scene anew, as a job would: otherwise a run would find the
        # blocks of the previous one decompressed in GDAL's block cache.
        def open_scene() -> Image:
            return Image.open(scene, bands=["blue", "green", "red", "nir"])

        single_s, single = median_time(lambda: sample_regions(open_scene(), regions), args.runs)

        def single_to_parquet() -> None:
            sample_regions(open_scene(), regions).to_parquet(work / "single.parquet")

        single_pq_s, _ = median_time(single_to_parquet, args.runs)

        start = time.perf_counter()
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
                               silence_logs=logging.ERROR)
        client = Client(cluster)
        startup_s = time.perf_counter() - start
        try:
            lazy = sample_regions(image, regions, client=client)
            # correctness before speed: the same rows and values as the single-process engine
            result = lazy.compute()
            position = regions.index.get_indexer(result.index)
            pd.testing.assert_frame_equal(
                pd.DataFrame(result.iloc[np.argsort(position, kind="stable")].drop(columns="geometry")),
                pd.DataFrame(single.drop(columns="geometry")),
            )
            cluster_s, _ = median_time(lambda: sample_regions(open_scene(), regions, client=client).compute(),
                                       args.runs)

            def cluster_to_parquet() -> None:
                write_dataset(sample_regions(open_scene(), regions, client=client), work / "dataset", overwrite=True)

            cluster_pq_s, _ = median_time(cluster_to_parquet, args.runs)
            partitions = lazy.npartitions
        finally:
            client.close()
            cluster.close()

        rows = len(single)
        print(f"\n{rows:,} rows; cluster: 2 worker processes x 1 thread, {partitions} partitions, "
              f"start-up {startup_s:.1f} s (not counted below); median of {args.runs} runs\n")
        print("| task | single process | 2-worker cluster | speed-up |")
        print("|---|---|---|---|")
        print(f"| sample_regions -> GeoDataFrame in memory | {single_s:.2f} s | {cluster_s:.2f} s "
              f"| {single_s / cluster_s:.2f} x |")
        print(f"| sample_regions -> GeoParquet | {single_pq_s:.2f} s | {cluster_pq_s:.2f} s "
              f"| {single_pq_s / cluster_pq_s:.2f} x |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
