"""The ``sampling`` command line.

Each command wraps one library function. User errors (bad paths, CRS, bands,
formats...) print one clear line and exit with code 2; outputs are written
atomically and never replace an existing file without ``--overwrite``.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any, Callable

import click

from . import __version__
from .errors import SamplingError

__all__ = ["main"]


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's errors into a one-line message and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (SamplingError, FileExistsError, FileNotFoundError) as exc:
            raise click.UsageError(str(exc)) from None

    return wrapper


def output_option(func: Callable[..., Any] | None = None, *, datasets: bool = False) -> Any:
    """``-o/--output`` and ``--overwrite``, shared by every command that writes a file.

    With ``datasets=True`` the output may also be a directory (a partitioned dataset).
    """
    if func is None:
        return functools.partial(output_option, datasets=datasets)
    func = click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")(func)
    help_text = "Output file; its extension chooses the format."
    if datasets:
        help_text += " With --scheduler or --workers: a directory of GeoParquet files."
    return click.option(
        "-o", "--output", required=True, type=click.Path(dir_okay=datasets, path_type=Path), help=help_text,
    )(func)


def cluster_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--scheduler``, ``--workers`` and ``--partitions``: run a command on a Dask cluster."""
    func = click.option("--partitions", type=click.IntRange(min=1),
                        help="Partitions of regions (default: 2 per worker thread).")(func)
    func = click.option("--workers", type=click.IntRange(min=1),
                        help="Start a local Dask cluster of N worker processes.")(func)
    return click.option("--scheduler", metavar="ADDRESS",
                        help="Run on the Dask cluster whose scheduler is at ADDRESS (tcp://host:8786).")(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sampling")
def main() -> None:
    """Earth Engine's pixel-to-table operations on rasters you own.

    \b
    Example:
      sampling sample-regions data/example.tif data/example_regions.gpkg -o samples.parquet
    """


@main.command("sample-regions")
@click.argument("inputs", nargs=-1, required=True, metavar="IMAGE... REGIONS")
@output_option(datasets=True)
@click.option("--scale", type=float, help="Working pixel size in metres (default: the first band's).")
@click.option("--properties", help="Comma-separated region columns to copy (default: all).")
@click.option("--geometries", is_flag=True, help="Add pixel-centre points in the working CRS.")
@click.option("--bands", help="Comma-separated band names, one per band of the image(s).")
@click.option("--layer", help="Layer of the regions file to read.")
@cluster_options
@user_errors
def sample_regions_command(
    inputs: tuple[str, ...],
    output: Path,
    overwrite: bool,
    scale: float | None,
    properties: str | None,
    geometries: bool,
    bands: str | None,
    layer: str | None,
    scheduler: str | None = None,
    workers: int | None = None,
    partitions: int | None = None,
) -> None:
    """One row per pixel of IMAGE in each region of REGIONS (Earth Engine's sampleRegions).

    IMAGE is one multi-band raster or several single-band rasters (one per band),
    as paths or URLs (https://..., s3://...); REGIONS is any vector file GDAL reads
    (GeoPackage, GeoJSON, Shapefile) or GeoParquet. OUTPUT ends in .parquet
    (GeoParquet), .csv, .gpkg or .geojson. With --scheduler or --workers the work runs
    on a Dask cluster and OUTPUT is a directory of GeoParquet files, one per partition.

    \b
    Examples:
      sampling sample-regions B2.tif B3.tif B4.tif fields.gpkg -o samples.parquet --scale 30
      sampling sample-regions s3://bucket/scene.tif fields.gpkg -o samples/ --workers 4
    """
    from .image import Image
    from .io import read_regions, write_table
    from .sample_regions import sample_regions

    if len(inputs) < 2:
        raise click.UsageError("give at least one IMAGE and one REGIONS file.")
    if scheduler and workers:
        raise click.UsageError("give either --scheduler or --workers, not both.")
    *images, regions_path = inputs
    band_names = bands.split(",") if bands else None
    image = Image.open(images if len(images) > 1 else images[0], bands=band_names)
    regions = read_regions(regions_path, layer=layer)
    props = properties.split(",") if properties else None
    if scheduler or workers:
        _sample_regions_on_cluster(image, regions, output, overwrite=overwrite, scheduler=scheduler, workers=workers,
                                   partitions=partitions, properties=props, scale=scale, geometries=geometries)
        return
    if output.is_dir():
        raise click.UsageError(f"{output} is a directory; give a file name (or --workers/--scheduler for a dataset).")
    result = sample_regions(image, regions, properties=props, scale=scale, geometries=geometries)
    write_table(result, output, overwrite=overwrite)
    click.echo(f"wrote {len(result)} rows x {len(result.columns)} columns to {output}", err=True)


def _sample_regions_on_cluster(image: Any, regions: Any, output: Path, *, overwrite: bool, scheduler: str | None,
                               workers: int | None, partitions: int | None, **options: Any) -> None:
    """Sample on a Dask cluster (given, or local with ``workers`` processes); write a GeoParquet dataset."""
    from contextlib import ExitStack

    from .cluster import sample_regions_dask, write_dataset

    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise click.UsageError("--scheduler and --workers need Dask: pip install 'sampling[dask]'") from None
    with ExitStack() as stack:
        if scheduler:
            try:
                client = stack.enter_context(Client(scheduler, timeout=30))
            except OSError as exc:
                raise click.UsageError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        else:
            cluster = stack.enter_context(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True))
            client = stack.enter_context(Client(cluster))
        result = sample_regions_dask(image, regions, partitions=partitions, client=client, **options)
        rows = write_dataset(result, output, overwrite=overwrite)
    click.echo(f"wrote {rows} rows in {result.npartitions} partitions to {output}/", err=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
