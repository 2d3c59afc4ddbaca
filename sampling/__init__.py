"""Earth Engine's pixel-to-table operations on rasters you own.

``sampling`` turns the pixels of local or remote rasters into tables the way Google
Earth Engine does on its servers:

* :func:`sample_regions` -- ``Image.sampleRegions``: one row per pixel in each region.

The pixel geometry lives in :class:`PixelGrid`; images in :class:`Image`.
"""

from __future__ import annotations

from .dataset import DatasetSummary, read_dataset, sample_regions_to_dataset
from .errors import (
    BandError,
    CRSError,
    DatasetError,
    FormatError,
    GeometryError,
    GridError,
    OutputTooLargeError,
    PropertyError,
    RasterReadError,
    SamplingError,
    TooManyValuesError,
    VectorReadError,
    WriteError,
)
from .grid import PixelGrid, working_grid
from .image import Band, Image
from .sample_regions import feature_ids, iter_sample_regions, sample_regions
from .selection import Selection, select_pixels

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
    "__version__",
    "DatasetError",
    "OutputTooLargeError",
    "WriteError",
    "DatasetSummary",
    "read_dataset",
    "sample_regions_to_dataset",
]
