"""Output formats of ``get_pixels``: names, aliases and encoders.

Earth Engine's ``fileFormat`` values, case-insensitive, with its aliases:

==========================  ==========  ===============================================
format                      alias       what it holds
==========================  ==========  ===============================================
``PNG`` (the default)                   8-bit RGB, RGBA when a pixel is transparent
``JPEG``                    ``JPG``     8-bit RGB (no transparency)
``AUTO_JPEG_PNG``           ``AUTO``    PNG if any pixel is transparent, else JPEG
``NPY``                                 NumPy ``.npy`` of the structured array below
``GEO_TIFF``                ``GEOTIFF`` one georeferenced GeoTIFF, all bands
``ZIPPED_GEO_TIFF``                     a zip holding that GeoTIFF (``download.tif``)
``ZIPPED_GEO_TIFF_PER_BAND``            a zip of one GeoTIFF per band (``download.<band>.tif``)
``NUMPY_NDARRAY``           ``NUMPY``   a structured array (height, width), one field per band
==========================  ==========  ===============================================

PNG and JPEG are encoded by GDAL's PNG and JPEG drivers through rasterio (no
extra dependency; GDAL links the same libpng and libjpeg other libraries use).
GeoTIFFs are written with rasterio in memory, DEFLATE-compressed, tiled when both
sides reach 256 pixels.
"""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from collections.abc import Sequence

import numpy as np
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile

from .errors import BandError, FormatError
from .grid import PixelGrid

__all__ = [
    "FILE_FORMATS",
    "FORMAT_ALIASES",
    "FORMAT_BY_EXTENSION",
    "RAW_FORMATS",
    "file_format",
    "format_for_path",
    "structured_array",
    "encode_npy",
    "encode_png",
    "encode_jpeg",
    "encode_geotiff",
    "encode_zipped_geotiff",
    "encode_zipped_geotiff_per_band",
    "add_mask_bands",
]

FILE_FORMATS = (
    "PNG",
    "JPEG",
    "AUTO_JPEG_PNG",
    "NPY",
    "GEO_TIFF",
    "ZIPPED_GEO_TIFF",
    "ZIPPED_GEO_TIFF_PER_BAND",
    "NUMPY_NDARRAY",
)
FORMAT_ALIASES = {"JPG": "JPEG", "AUTO": "AUTO_JPEG_PNG", "GEOTIFF": "GEO_TIFF", "NUMPY": "NUMPY_NDARRAY"}

#: Formats that hold the data values (the others hold 8-bit pictures).
RAW_FORMATS = ("NPY", "GEO_TIFF", "ZIPPED_GEO_TIFF", "ZIPPED_GEO_TIFF_PER_BAND", "NUMPY_NDARRAY")

#: The format a file extension implies (for the command line).
FORMAT_BY_EXTENSION = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "GEO_TIFF",
    ".tiff": "GEO_TIFF",
    ".npy": "NPY",
    ".zip": "ZIPPED_GEO_TIFF",
}

#: DEFLATE level of PNGs: on a Landsat scene level 3 is 2.4x faster than zlib's default 6
#: for files 0.8 % larger.
PNG_ZLEVEL = 3

#: The stem of the files inside the zipped formats, as in Earth Engine's downloads.
ZIP_STEM = "download"

#: Data types a GeoTIFF stores as they are.
_GEOTIFF_DTYPES = {np.dtype(t) for t in ("uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64",
                                         "float32", "float64")}


def file_format(name: str | None) -> str:
    """The canonical name of a ``fileFormat`` (default ``PNG``), aliases resolved.

    Examples
    --------
    >>> file_format("geotiff"), file_format("jpg"), file_format(None)
    ('GEO_TIFF', 'JPEG', 'PNG')
    """
    if name is None:
        return "PNG"
    if not isinstance(name, str):
        raise FormatError(f"fileFormat must be a string such as 'GEO_TIFF', got {name!r}.")
    key = name.strip().upper()
    key = FORMAT_ALIASES.get(key, key)
    if key == "TF_RECORD_IMAGE":
        raise FormatError(
            "fileFormat TF_RECORD_IMAGE is not supported: ask for NPY or NUMPY_NDARRAY (one field per band) "
            "and write tf.train.Example records from the arrays with TensorFlow."
        )
    if key not in FILE_FORMATS:
        aliases = ", ".join(f"{a} ({c})" for a, c in FORMAT_ALIASES.items())
        raise FormatError(f"unknown fileFormat {name!r}; use one of {', '.join(FILE_FORMATS)} or an alias: {aliases}.")
    return key


def format_for_path(path: str) -> str:
    """The format a file name's extension implies.

    Examples
    --------
    >>> format_for_path("out/scene.TIF")
    'GEO_TIFF'
    """
    suffix = "." + str(path).rsplit(".", 1)[-1].lower() if "." in str(path) else ""
    if suffix not in FORMAT_BY_EXTENSION:
        raise FormatError(
            f"cannot tell the format of {path}: end it in {', '.join(FORMAT_BY_EXTENSION)} or give the format."
        )
    return FORMAT_BY_EXTENSION[suffix]


# -- raw formats -----------------------------------------------------------------------------


def add_mask_bands(
    values: Sequence[np.ndarray], band_names: Sequence[str], valid: np.ndarray
) -> tuple[list[np.ndarray], list[str]]:
    """Append one ``uint8`` band per band, ``<band>_mask``: 1 where valid, 0 where masked.

    Examples
    --------
    >>> v, n = add_mask_bands([np.array([[7, 0]], "uint16")], ["B4"], np.array([[[True, False]]]))
    >>> n, v[1].tolist()
    (['B4', 'B4_mask'], [[1, 0]])
    """
    names = [str(n) for n in band_names]
    mask_names = [f"{n}_mask" for n in names]
    clash = sorted(set(mask_names) & set(names))
    if clash:
        raise BandError(f"mask bands {clash} would collide with bands of the same name; rename the bands.")
    masks = [np.asarray(v, dtype="uint8") for v in valid]
    return [*values, *masks], [*names, *mask_names]


def structured_array(values: Sequence[np.ndarray], band_names: Sequence[str]) -> np.ndarray:
    """A structured array ``(height, width)`` with one field per band, each in its own dtype.

    Examples
    --------
    >>> a = structured_array([np.ones((1, 2), "uint16"), np.zeros((1, 2), "float32")], ["B4", "ndvi"])
    >>> a.dtype.names, a.shape, a["B4"].dtype
    (('B4', 'ndvi'), (1, 2), dtype('uint16'))
    """
    shape = values[0].shape if values else (0, 0)
    out = np.zeros(shape, dtype=[(str(n), v.dtype) for n, v in zip(band_names, values, strict=True)])
    for name, band in zip(band_names, values, strict=True):
        out[str(name)] = band
    return out


def encode_npy(values: Sequence[np.ndarray], band_names: Sequence[str]) -> bytes:
    """The ``.npy`` bytes of :func:`structured_array` (``numpy.load`` reads it back)."""
    buffer = io.BytesIO()
    np.save(buffer, structured_array(values, band_names), allow_pickle=False)
    return buffer.getvalue()


def _geotiff_dtype(dtypes: Sequence[np.dtype]) -> np.dtype:
    """The one dtype a multi-band GeoTIFF stores: the smallest that holds every band's values."""
    common = np.result_type(*dtypes)
    if common == np.bool_:
        return np.dtype("uint8")
    if common == np.float16:
        return np.dtype("float32")
    return common if common in _GEOTIFF_DTYPES else np.dtype("float64")


def encode_geotiff(values: Sequence[np.ndarray], band_names: Sequence[str], grid: PixelGrid) -> bytes:
    """A GeoTIFF of the bands on ``grid`` (CRS and transform), band names as descriptions.

    The bands share one dtype, the smallest that holds every band's values
    (``numpy.result_type``); no nodata value is set (masked pixels are 0).
    """
    if not values:
        raise FormatError("no bands to write.")
    dtype = _geotiff_dtype([v.dtype for v in values])
    height, width = grid.shape  # type: ignore[misc]
    profile = dict(
        driver="GTiff", width=width, height=height, count=len(values), dtype=dtype, crs=grid.crs.to_wkt(),
        transform=grid.transform, compress="deflate",
    )
    if width >= 256 and height >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    if len(values) > 1:
        profile.update(interleave="band")
    with MemoryFile() as memory:
        with memory.open(**profile) as dst:
            for k, band in enumerate(values, start=1):
                dst.write(np.asarray(band).astype(dtype, copy=False), k)
            dst.descriptions = tuple(str(n) for n in band_names)
        return memory.read()


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def encode_zipped_geotiff(values: Sequence[np.ndarray], band_names: Sequence[str], grid: PixelGrid) -> bytes:
    """A zip holding one GeoTIFF of all bands, ``download.tif``."""
    return _zip({f"{ZIP_STEM}.tif": encode_geotiff(values, band_names, grid)})


def encode_zipped_geotiff_per_band(values: Sequence[np.ndarray], band_names: Sequence[str], grid: PixelGrid) -> bytes:
    """A zip of one GeoTIFF per band, ``download.<band>.tif``, each in the band's own dtype."""
    files = {}
    for name, band in zip(band_names, values, strict=True):
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", str(name))
        files[f"{ZIP_STEM}.{safe}.tif"] = encode_geotiff([band], [name], grid)
    if len(files) != len(values):
        raise FormatError(f"band names {list(band_names)} collide once made safe for file names; rename the bands.")
    return _zip(files)


# -- pictures ---------------------------------------------------------------------------------


def _encode_picture(bands: np.ndarray, driver: str, **options: object) -> bytes:
    count, height, width = bands.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile() as memory:
            with memory.open(driver=driver, width=width, height=height, count=count, dtype="uint8", **options) as dst:
                dst.write(bands)
            return memory.read()


def encode_png(rgb: np.ndarray, alpha: np.ndarray | None = None) -> bytes:
    """PNG bytes of ``rgb`` (``(3, h, w)`` uint8); RGBA when ``alpha`` is given."""
    bands = rgb if alpha is None else np.concatenate([rgb, alpha[np.newaxis]])
    return _encode_picture(np.ascontiguousarray(bands, dtype="uint8"), "PNG", zlevel=PNG_ZLEVEL)


def encode_jpeg(rgb: np.ndarray, *, quality: int = 95) -> bytes:
    """JPEG bytes of ``rgb`` (``(3, h, w)`` uint8)."""
    return _encode_picture(np.ascontiguousarray(rgb, dtype="uint8"), "JPEG", quality=quality)
