"""Errors raised by ``sampling``.

Every error derives from :class:`SamplingError`; most also derive from the
builtin a user would naturally catch (``ValueError``, ``OSError``,
``KeyError``), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "SamplingError",
    "CRSError",
    "GeometryError",
    "BandError",
    "PropertyError",
    "GridError",
    "RasterReadError",
    "VectorReadError",
    "TooManyValuesError",
    "FormatError",
    "CollectionError",
    "ParameterError",
    "OptionError",
    "OutputTooLargeError",
    "WriteError",
    "DatasetError",
]


class SamplingError(Exception):
    """Root of every error raised by ``sampling``."""


class CRSError(SamplingError, ValueError):
    """A coordinate reference system is missing, unknown or unusable."""


class GeometryError(SamplingError, ValueError):
    """A region's geometry is missing, empty, invalid or of an unsupported kind."""


class BandError(SamplingError, KeyError):
    """A band name is unknown, duplicated or collides with another column."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class PropertyError(SamplingError, KeyError):
    """A requested region property does not exist."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class GridError(SamplingError, ValueError):
    """A pixel grid, scale, projection or transform is invalid."""


class RasterReadError(SamplingError, OSError):
    """A raster could not be opened or read (missing, unreadable, corrupt)."""


class VectorReadError(SamplingError, OSError):
    """A vector file of regions could not be read."""


class TooManyValuesError(SamplingError, ValueError):
    """A request exceeds a value limit (Earth Engine's ``getRegion`` cap)."""


class FormatError(SamplingError, ValueError):
    """An output format is unknown or cannot hold the requested data."""


class CollectionError(SamplingError, ValueError):
    """An image collection is empty, or its files, catalogue or dates cannot be read."""


class ParameterError(SamplingError, ValueError):
    """A request's parameter dictionary has a missing, unknown or malformed entry."""


class OptionError(SamplingError, ValueError):
    """An option is out of range, unknown, or conflicts with another option."""


class OutputTooLargeError(SamplingError, MemoryError):
    """A result would not fit in the memory available; stream it to disk instead."""


class WriteError(SamplingError, OSError):
    """An output file could not be written; nothing was left in its place."""


class DatasetError(SamplingError, ValueError):
    """A dataset directory cannot be started, resumed or read as asked."""
