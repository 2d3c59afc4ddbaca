"""Earth Engine's pixel-to-table operations on rasters you own.

``sampling`` turns the pixels of local or remote rasters into tables the way Google
Earth Engine does on its servers:

* :func:`sample_regions` -- ``Image.sampleRegions``: one row per pixel in each region.
* :func:`get_region` -- ``ImageCollection.getRegion``: one row per pixel and image of an
  :class:`ImageCollection`.
* :func:`get_pixels`, :func:`compute_pixels` -- ``ee.data.getPixels`` / ``computePixels``:
  the pixels of an image on any grid, as PNG, JPEG, GeoTIFF, NPY or NumPy arrays.
* :func:`reduce_regions` -- ``Image.reduceRegions``: one row of band statistics per region.
* :func:`sample`, :func:`stratified_sample` -- ``Image.sample``, ``Image.stratifiedSample``,
  reproducible; :func:`spatial_split` for blocked train/test splits (``sampling.ml``).

Earth Engine's camelCase spellings live in ``sampling.ee`` and as ``Image`` methods.
* :func:`stream_sample_regions` -- the same, streamed to one GeoParquet file in bounded memory.

The pixel geometry lives in :class:`PixelGrid`; images in :class:`Image`.
"""

from __future__ import annotations

from . import ee
from .assets import lookup_asset, register_asset, registered_assets, unregister_asset
from .collection import ImageCollection
from .dataset import DatasetSummary, read_dataset, sample_regions_to_dataset
from .errors import (
    BandError,
    CollectionError,
    CRSError,
    DatasetError,
    FormatError,
    GeometryError,
    GridError,
    OptionError,
    OutputTooLargeError,
    ParameterError,
    PropertyError,
    RasterReadError,
    SamplingError,
    TooManyValuesError,
    VectorReadError,
    WriteError,
)
from .get_region import get_region, to_wide
from .grid import PixelGrid, working_grid
from .image import Band, Image
from .ml import sample, spatial_split, stratified_sample
from .patches import Patches, cut_patches
from .pixels import compute_pixels, get_pixels
from .reduce import reduce_regions
from .sample_regions import feature_ids, iter_sample_regions, sample_regions
from .selection import Selection, select_pixels
from .stream import stream_sample_regions

__version__ = "0.1.0"

__all__ = [
    "BandError",
    "CRSError",
    "FormatError",
    "GeometryError",
    "GridError",
    "PropertyError",
    "RasterReadError",
    "SamplingError",
    "TooManyValuesError",
    "VectorReadError",
    "PixelGrid",
    "working_grid",
    "Band",
    "Image",
    "Selection",
    "select_pixels",
    "sample_regions",
    "iter_sample_regions",
    "feature_ids",
    "CollectionError",
    "ImageCollection",
    "get_region",
    "to_wide",
    "ParameterError",
    "get_pixels",
    "compute_pixels",
    "register_asset",
    "unregister_asset",
    "lookup_asset",
    "registered_assets",
    "Patches",
    "cut_patches",
    "stream_sample_regions",
    "__version__",
    "OptionError",
    "reduce_regions",
    "sample",
    "stratified_sample",
    "spatial_split",
    "ee",
    "DatasetError",
    "OutputTooLargeError",
    "WriteError",
    "DatasetSummary",
    "read_dataset",
    "sample_regions_to_dataset",
]
