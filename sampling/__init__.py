"""Earth Engine's pixel-to-table operations on rasters you own.

``sampling`` turns the pixels of local or remote rasters into tables the way Google
Earth Engine does on its servers:

* :func:`sample_regions` -- ``Image.sampleRegions``: one row per pixel in each region.
* :func:`stream_sample_regions` -- the same, streamed to one GeoParquet file in bounded memory.

The pixel geometry lives in :class:`PixelGrid`; images in :class:`Image`.
"""

from __future__ import annotations

from .errors import (
    BandError,
    CRSError,
    FormatError,
    GeometryError,
    GridError,
    PropertyError,
    RasterReadError,
    SamplingError,
    TooManyValuesError,
    VectorReadError,
)
from .grid import PixelGrid, working_grid
from .image import Band, Image
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
    "stream_sample_regions",
    "__version__",
]
