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
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import SamplingError
from .reduce import STATISTICS

__all__ = ["main"]


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's errors into a one-line message and exit code 2.

    Warnings (an empty result, a class with too few pixels...) are printed as
    ``warning: ...`` lines on standard error, without Python's source locations.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            try:
                return func(*args, **kwargs)
            except (SamplingError, FileExistsError, FileNotFoundError) as exc:
                raise click.UsageError(str(exc)) from None
            finally:
                for warning in caught:
                    if not issubclass(warning.category, (DeprecationWarning, PendingDeprecationWarning)):
                        click.echo(f"warning: {warning.message}", err=True)

    return wrapper


def check_output(output: Path, overwrite: bool) -> None:
    """Refuse a bad OUTPUT before any work is done: its format, its directory, an existing file."""
    from .errors import FormatError
    from .io import TABLE_FORMATS

    suffix = output.suffix.lower()
    if suffix not in TABLE_FORMATS:
        raise FormatError(
            f"cannot write a table as {suffix or 'a file without extension'}; end OUTPUT in one of "
            f"{', '.join(TABLE_FORMATS)}."
        )
    directory = output.parent if str(output.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(f"the directory {directory} does not exist; create it first.")
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} already exists; pass --overwrite to replace it.")


def progress_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--progress/--no-progress``: by default a bar only on an interactive terminal, never in CI."""
    return click.option(
        "--progress/--no-progress", default=None,
        help="Show a progress bar on standard error [default: only on a terminal, and not when CI is set].",
    )(func)


def cluster_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--scheduler``, ``--workers`` and ``--partitions``: run a command on a Dask cluster."""
    func = click.option("--partitions", type=click.IntRange(min=1),
                        help="With --scheduler/--workers: partitions of regions (default: 2 per worker thread).")(func)
    func = click.option("--workers", type=click.IntRange(min=1), metavar="N",
                        help="Run on a local Dask cluster of N worker processes; OUTPUT is a dataset directory.")(func)
    return click.option("--scheduler", metavar="ADDRESS",
                        help="Run on the Dask cluster whose scheduler is at ADDRESS (tcp://host:8786); "
                        "OUTPUT is a dataset directory.")(func)


def open_inputs(inputs: tuple[str, ...], bands: str | None, layer: str | None) -> tuple[Any, Any]:
    """``IMAGE... REGIONS`` -> an :class:`~sampling.Image` and a GeoDataFrame of regions."""
    from .image import Image
    from .io import read_regions

    if len(inputs) < 2:
        raise click.UsageError("give at least one IMAGE and one REGIONS file.")
    *images, regions_path = inputs
    image = Image.open(images if len(images) > 1 else images[0], bands=split_list(bands))
    return image, read_regions(regions_path, layer=layer)


def split_list(value: str | None) -> list[str] | None:
    """``"a,b, c"`` -> ``["a", "b", "c"]``; None stays None."""
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


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

    Each command reads an image (one multi-band raster, or several single-band
    rasters, one per band; files or URLs), or a collection of them for get-region,
    and regions (GeoPackage, GeoJSON, Shapefile or GeoParquet, in any CRS), and
    writes a table in the format its OUTPUT's extension names: .parquet
    (GeoParquet), .csv, .gpkg or .geojson.
    Bad input exits with code 2 and one line saying what to fix.

    \b
    Examples (with the bundled data):
      sampling sample-regions data/example.tif data/example_regions.gpkg -o samples.parquet
      sampling reduce-regions data/example.tif data/example_regions.gpkg -o stats.csv
      sampling get-region 'data/collection/*.tif' data/example_regions.gpkg -o series.parquet

    Run 'sampling COMMAND --help' for a command's options and examples.
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


@main.command("sample-regions", short_help="One row per pixel in each region (Earth Engine's sampleRegions).")
@click.argument("inputs", nargs=-1, required=True, metavar="IMAGE... REGIONS")
@output_option
@click.option("--scale", type=float, help="Working pixel size in metres (default: the first band's).")
@click.option("--properties", help="Comma-separated region columns to copy (default: all).")
@click.option("--geometries", is_flag=True, help="Add pixel-centre points in the working CRS.")
@click.option("--bands", help="Comma-separated band names, one per band of the image(s).")
@click.option("--layer", help="Layer of the regions file to read.")
@progress_option
@click.option(
    "--partition-size", type=click.IntRange(min=1), metavar="N",
    help="Write OUTPUT as a resumable dataset: a directory of GeoParquet parts of N regions each.",
)
@click.option("--resume", is_flag=True, help="Finish the interrupted dataset in OUTPUT, skipping its finished parts.")
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
    progress: bool | None,
    partition_size: int | None,
    resume: bool,
    scheduler: str | None = None,
    workers: int | None = None,
    partitions: int | None = None,
) -> None:
    """One row per pixel of IMAGE in each region of REGIONS (Earth Engine's sampleRegions).

    IMAGE is one multi-band raster or several single-band rasters (one per band);
    REGIONS is any vector file GDAL reads (GeoPackage, GeoJSON, Shapefile) or
    GeoParquet. OUTPUT ends in .parquet (GeoParquet), .csv, .gpkg or .geojson.

    With --partition-size (or --resume), OUTPUT is a directory that fills with one
    GeoParquet part per N regions; if the run is interrupted, run the same command
    with --resume to write only the missing parts.

    With --scheduler ADDRESS (a running Dask cluster) or --workers N (a local one),
    the work runs on the cluster's workers and OUTPUT is a directory of GeoParquet
    files, one per partition, that appears complete or not at all. IMAGE may be a URL
    (https://..., s3://...) the workers can read.

    \b
    Example:
      sampling sample-regions B2.tif B3.tif B4.tif fields.gpkg -o samples.parquet --scale 30
      sampling sample-regions scene.tif fields.gpkg -o samples/ --partition-size 500 --resume
      sampling sample-regions s3://bucket/scene.tif fields.gpkg -o samples/ --workers 4
    """
    from .io import write_table
    from .progress import wants_progress
    from .sample_regions import sample_regions

    cluster = scheduler is not None or workers is not None
    if scheduler is not None and workers is not None:
        raise click.UsageError("give either --scheduler or --workers, not both.")
    if cluster and (partition_size is not None or resume):
        raise click.UsageError("--partition-size/--resume write a dataset in this process; with --scheduler or "
                               "--workers the cluster writes it: give one or the other.")
    if partitions is not None and not cluster:
        raise click.UsageError("--partitions needs --scheduler or --workers (use --partition-size in one process).")
    if cluster:
        image, regions = open_inputs(inputs, bands, layer)
        _sample_regions_on_cluster(image, regions, output, overwrite=overwrite, scheduler=scheduler, workers=workers,
                                   partitions=partitions, properties=split_list(properties), scale=scale,
                                   geometries=geometries)
        return
    if output.is_dir() and partition_size is None and not resume:
        raise click.UsageError(f"{output} is a directory: give a file name, or --partition-size N to write a dataset.")
    dataset = partition_size is not None or resume
    if not dataset:
        check_output(output, overwrite)
    image, regions = open_inputs(inputs, bands, layer)
    props = split_list(properties)
    if dataset:
        from .dataset import sample_regions_to_dataset

        summary = sample_regions_to_dataset(
            image, regions, output, partition_size=partition_size, resume=resume, overwrite=overwrite,
            properties=props, scale=scale, geometries=geometries,
        )
        done = f" ({summary.skipped} were already written)" if summary.skipped else ""
        click.echo(f"wrote {summary.written} of {summary.partitions} parts{done}, {summary.rows} rows in all, "
                   f"to {output}", err=True)
        return
    result = sample_regions(image, regions, properties=props, scale=scale, geometries=geometries,
                            progress=wants_progress(progress))
    write_table(result, output, overwrite=overwrite)
    click.echo(f"wrote {len(result)} rows x {len(result.columns)} columns to {output}", err=True)


def _sample_regions_on_cluster(image: Any, regions: Any, output: Path, *, overwrite: bool, scheduler: str | None,
                               workers: int | None, partitions: int | None, **options: Any) -> None:
    """Sample on a Dask cluster (given, or local with ``workers`` processes); write a GeoParquet dataset."""
    from contextlib import ExitStack

    from .cluster import sample_regions_dask, write_dataset

    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} already exists; pass --overwrite to replace it.")
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


@main.command("reduce-regions", short_help="Band statistics per region (Earth Engine's reduceRegions).")
@click.argument("inputs", nargs=-1, required=True, metavar="IMAGE... REGIONS")
@output_option
@click.option("--reducers", default=",".join(STATISTICS),
              show_default=True, help="Comma-separated statistics: count, sum, mean, min, max, std, median.")
@click.option("--percentiles", help="Comma-separated percentiles to add, e.g. 10,90.")
@click.option("--scale", type=float, help="Working pixel size in metres (default: the first band's).")
@click.option("--properties", help="Comma-separated region columns to keep (default: all).")
@click.option("--bands", help="Comma-separated band names, one per band of the image(s).")
@click.option("--layer", help="Layer of the regions file to read.")
@progress_option
@user_errors
def reduce_regions_command(
    inputs: tuple[str, ...],
    output: Path,
    overwrite: bool,
    reducers: str,
    percentiles: str | None,
    scale: float | None,
    properties: str | None,
    bands: str | None,
    layer: str | None,
    progress: bool | None,
) -> None:
    """One row of per-band statistics per region of REGIONS (Earth Engine's reduceRegions).

    The pixels are those sample-regions selects (centre inside a polygon, the pixel
    under a point, every pixel a line crosses); each band is reduced over its own
    unmasked pixels. Columns are named <band>_<statistic> (B4_mean) and <band>_p<q>
    (B4_p90); a region without pixels gets count 0 and empty statistics. The
    regions' geometries are kept, so OUTPUT may also be .gpkg or .geojson.

    \b
    Examples:
      sampling reduce-regions data/example.tif data/example_regions.gpkg -o stats.csv
      sampling reduce-regions B2.tif B3.tif B4.tif fields.gpkg -o stats.parquet \\
          --reducers mean,std --percentiles 10,50,90 --scale 30
    """
    from .errors import OptionError
    from .io import write_table
    from .progress import wants_progress
    from .reduce import reduce_regions

    check_output(output, overwrite)
    try:
        quantiles = [float(q) for q in split_list(percentiles) or []]
    except ValueError:
        raise OptionError(f"--percentiles takes comma-separated numbers from 0 to 100, got {percentiles!r}.") from None
    image, regions = open_inputs(inputs, bands, layer)
    result = reduce_regions(image, regions, reducers=split_list(reducers) or [], percentiles=quantiles, scale=scale,
                            properties=split_list(properties), progress=wants_progress(progress))
    write_table(result, output, overwrite=overwrite)
    click.echo(f"wrote {len(result)} rows x {len(result.columns)} columns to {output}", err=True)


@main.command("get-region", short_help="Pixel time series of a collection (Earth Engine's getRegion).")
@click.argument("collection")
@click.argument("geometry")
@output_option
@click.option("--scale", type=float, help="Working pixel size in metres (default: the first image's first band's).")
@click.option("--crs", default="EPSG:4326", show_default=True, help="Working CRS; its origin is the grid's origin.")
@click.option("--bands", help="Comma-separated band names (rasters), asset keys (STAC) or band columns (table).")
@click.option("--select", "select_bands", help="Comma-separated band names or regular expressions to keep.")
@click.option("--time-pattern", help="Read image times from raster file names, e.g. '%Y%m%d'.")
@click.option("--start", help="Keep images starting on or after this time (ISO 8601, UTC).")
@click.option("--end", help="Keep images starting before this time (ISO 8601, UTC).")
@click.option("--max-values", type=int, default=1_048_576, show_default=True,
              help="Refuse more values (pixels x bands x images) than this.")
@click.option("--no-limit", is_flag=True, help="Lift the value limit.")
@click.option("--wide", is_flag=True, help="One row per pixel and one column per date and band.")
@click.option("--layer", help="Layer of the GEOMETRY file to read.")
@progress_option
@user_errors
def get_region_command(
    collection: str,
    geometry: str,
    output: Path,
    overwrite: bool,
    scale: float | None,
    crs: str,
    bands: str | None,
    select_bands: str | None,
    time_pattern: str | None,
    start: str | None,
    end: str | None,
    max_values: int,
    no_limit: bool,
    wide: bool,
    layer: str | None,
    progress: bool | None,
) -> None:
    """Pixel time series of COLLECTION in GEOMETRY (Earth Engine's getRegion).

    COLLECTION is a raster path, directory or quoted glob ('scenes/*.tif'), a STAC
    ItemCollection JSON file, or a catalogue table (.parquet or .csv, one row per
    image, one path column per band). GEOMETRY is a vector file (each feature a region
    whose label and properties start each row) or inline GeoJSON in EPSG:4326.
    OUTPUT ends in .parquet or .csv: columns id, longitude, latitude, time (ms), bands.

    \b
    Example:
      sampling get-region 'data/collection/*.tif' data/example_regions.gpkg -o series.parquet
    """
    import json

    from .collection import ImageCollection
    from .get_region import get_region, to_wide
    from .io import read_regions, write_table
    from .progress import wants_progress

    check_output(output, overwrite)
    images = ImageCollection.open(collection, bands=bands.split(",") if bands else None, time_pattern=time_pattern)
    if start or end:
        if not start:
            raise click.UsageError("--end needs --start.")
        images = images.filter_date(start, end)
    if select_bands:
        images = images.select(select_bands.split(","))
    if geometry.lstrip().startswith("{"):
        try:
            region: Any = json.loads(geometry)
        except json.JSONDecodeError as exc:
            raise click.UsageError(f"GEOMETRY looks like GeoJSON but is not valid JSON: {exc}") from None
    else:
        region = read_regions(geometry, layer=layer)
    result = get_region(images, region, scale=scale, crs=crs, max_values=None if no_limit else max_values,
                        progress=wants_progress(progress))
    if wide:
        result = to_wide(result)
    write_table(result, output, overwrite=overwrite, index=False)
    click.echo(f"wrote {len(result)} rows x {len(result.columns)} columns to {output}", err=True)
def _json_option(value: str, what: str) -> Any:
    """JSON text, or the path of a file holding it."""
    import json

    text = Path(value).read_text() if Path(value).is_file() else value
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        from .errors import ParameterError

        raise ParameterError(f"{what} is neither a file nor valid JSON ({exc}): {value[:80]!r}") from None


def _ranges_option(value: str) -> list[dict[str, float]]:
    """``min,max`` (one range for all bands) or ``min,max;min,max;...`` (one per band)."""
    from .errors import ParameterError

    ranges = []
    for part in value.split(";"):
        try:
            low, high = (float(v) for v in part.split(","))
        except ValueError:
            raise ParameterError(
                f"--ranges {value!r}: give min,max for all bands or min,max;min,max;min,max per band."
            ) from None
        ranges.append({"min": low, "max": high})
    return ranges


@main.command("get-pixels")
@click.argument("images", nargs=-1, required=True, metavar="IMAGE...")
@output_option
@click.option("--format", "file_format",
              help="PNG, JPEG, AUTO_JPEG_PNG, NPY, GEO_TIFF, ZIPPED_GEO_TIFF or ZIPPED_GEO_TIFF_PER_BAND "
                   "(default: from OUTPUT's extension: .png .jpg .npy .tif .zip).")
@click.option("--grid", help="Earth Engine's grid as JSON, or a .json file: "
                             '{"dimensions": {...}, "affineTransform": {...}, "crsCode": "EPSG:..."}.')
@click.option("--region", help="A GeoJSON geometry in longitude/latitude, or a vector file (in its own CRS).")
@click.option("--bands", help="Comma-separated band names to return, in order (bandIds).")
@click.option("--ranges", help="Visualise: min,max for all bands, or min,max;min,max;min,max per band.")
@click.option("--palette", help="Visualise one band with comma-separated colours (hex or CSS names).")
@click.option("--gamma", type=float, help="Visualise with this gamma.")
@click.option("--opacity", type=float, help="Visualise with this opacity (0 to 1).")
@click.option("--mask", is_flag=True, help="Add a <band>_mask band per band (raw formats).")
@click.option("--strict", is_flag=True, help="Enforce Earth Engine's request limits.")
@user_errors
def get_pixels_command(
    images: tuple[str, ...],
    output: Path,
    overwrite: bool,
    file_format: str | None,
    grid: str | None,
    region: str | None,
    bands: str | None,
    ranges: str | None,
    palette: str | None,
    gamma: float | None,
    opacity: float | None,
    mask: bool,
    strict: bool,
) -> None:
    """Pixels of IMAGE on a grid, as a file (Earth Engine's getPixels).

    IMAGE is one raster, or several single-band rasters (one per band). Without
    --grid and --region the output is the image's own grid. PNG and JPEG need
    8-bit data with 1 or 3 bands, or visualisation options (--ranges, --palette,
    --gamma, --opacity).

    \b
    Examples:
      sampling get-pixels B4.tif B3.tif B2.tif -o rgb.png --ranges 0,3000
      sampling get-pixels scene.tif -o crop.tif --region field.geojson
      sampling get-pixels scene.tif -o patch.npy --bands B4,B8 \\
        --grid '{"dimensions": {"width": 64, "height": 64}, "crsCode": "EPSG:32618",
                 "affineTransform": {"scaleX": 10, "scaleY": -10, "translateX": 500000, "translateY": 4000000}}'
    """
    from .encode import file_format as canonical_format
    from .encode import format_for_path
    from .errors import FormatError
    from .image import Image
    from .io import read_regions, write_bytes
    from .pixels import get_pixels

    fmt = canonical_format(file_format) if file_format else format_for_path(str(output))
    if fmt == "NUMPY_NDARRAY":
        raise FormatError("NUMPY_NDARRAY is an in-memory array; write NPY (.npy) from the command line.")
    params: dict[str, Any] = {
        "assetId": Image.open(list(images) if len(images) > 1 else images[0]),
        "fileFormat": fmt,
    }
    if grid:
        params["grid"] = _json_option(grid, "--grid")
    if region:
        params["region"] = read_regions(region) if Path(region).is_file() else _json_option(region, "--region")
    if bands:
        params["bandIds"] = bands.split(",")
    options: dict[str, Any] = {}
    if ranges:
        options["ranges"] = _ranges_option(ranges)
    if palette:
        options["paletteColors"] = palette.split(",")
    if gamma is not None:
        options["gamma"] = gamma
    if opacity is not None:
        options["opacity"] = opacity
    if options:
        params["visualizationOptions"] = options
    data = get_pixels(params, mask=mask, strict=strict)
    write_bytes(data, output, overwrite=overwrite)
    click.echo(f"wrote {len(data)} bytes ({fmt}) to {output}", err=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
