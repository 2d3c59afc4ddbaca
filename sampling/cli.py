"""The ``sampling`` command line.

Each command wraps one library function. User errors (bad paths, CRS, bands,
formats...) print one clear line and exit with code 2; outputs are written
atomically and never replace an existing file without ``--overwrite``.
"""

from __future__ import annotations

import functools
import signal
import sys
import threading
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


def output_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``-o/--output`` and ``--overwrite``, shared by every command that writes a file."""
    func = click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")(func)
    return click.option(
        "-o", "--output", required=True, type=click.Path(path_type=Path),
        help="Output file; its extension chooses the format.",
    )(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sampling")
def main() -> None:
    """Earth Engine's pixel-to-table operations on rasters you own.

    \b
    Example:
      sampling sample-regions data/example.tif data/example_regions.gpkg -o samples.parquet
    """
    _stop_cleanly_on_sigterm()


def _stop_cleanly_on_sigterm() -> None:
    """Make SIGTERM (``kill``, a scheduler's stop) unwind like Ctrl-C, so no partial output stays behind."""
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    click.get_current_context().call_on_close(lambda: signal.signal(signal.SIGTERM, previous))


@main.command("sample-regions")
@click.argument("inputs", nargs=-1, required=True, metavar="IMAGE... REGIONS")
@output_option
@click.option("--scale", type=float, help="Working pixel size in metres (default: the first band's).")
@click.option("--properties", help="Comma-separated region columns to copy (default: all).")
@click.option("--geometries", is_flag=True, help="Add pixel-centre points in the working CRS.")
@click.option("--bands", help="Comma-separated band names, one per band of the image(s).")
@click.option("--layer", help="Layer of the regions file to read.")
@click.option(
    "--partition-size", type=click.IntRange(min=1), metavar="N",
    help="Write OUTPUT as a resumable dataset: a directory of GeoParquet parts of N regions each.",
)
@click.option("--resume", is_flag=True, help="Finish the interrupted dataset in OUTPUT, skipping its finished parts.")
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
    partition_size: int | None,
    resume: bool,
) -> None:
    """One row per pixel of IMAGE in each region of REGIONS (Earth Engine's sampleRegions).

    IMAGE is one multi-band raster or several single-band rasters (one per band);
    REGIONS is any vector file GDAL reads (GeoPackage, GeoJSON, Shapefile) or
    GeoParquet. OUTPUT ends in .parquet (GeoParquet), .csv, .gpkg or .geojson.

    With --partition-size (or --resume), OUTPUT is a directory that fills with one
    GeoParquet part per N regions; if the run is interrupted, run the same command
    with --resume to write only the missing parts.

    \b
    Example:
      sampling sample-regions B2.tif B3.tif B4.tif fields.gpkg -o samples.parquet --scale 30
      sampling sample-regions scene.tif fields.gpkg -o samples/ --partition-size 500 --resume
    """
    from .image import Image
    from .io import read_regions, write_table
    from .sample_regions import sample_regions

    if len(inputs) < 2:
        raise click.UsageError("give at least one IMAGE and one REGIONS file.")
    *images, regions_path = inputs
    band_names = bands.split(",") if bands else None
    if output.is_dir() and partition_size is None and not resume:
        raise click.UsageError(f"{output} is a directory: give a file name, or --partition-size N to write a dataset.")
    image = Image.open(images if len(images) > 1 else images[0], bands=band_names)
    regions = read_regions(regions_path, layer=layer)
    props = properties.split(",") if properties else None
    if partition_size is not None or resume:
        from .dataset import sample_regions_to_dataset

        summary = sample_regions_to_dataset(
            image, regions, output, partition_size=partition_size, resume=resume, overwrite=overwrite,
            properties=props, scale=scale, geometries=geometries,
        )
        done = f" ({summary.skipped} were already written)" if summary.skipped else ""
        click.echo(f"wrote {summary.written} of {summary.partitions} parts{done}, {summary.rows} rows in all, "
                   f"to {output}", err=True)
        return
    result = sample_regions(image, regions, properties=props, scale=scale, geometries=geometries)
    write_table(result, output, overwrite=overwrite)
    click.echo(f"wrote {len(result)} rows x {len(result.columns)} columns to {output}", err=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
