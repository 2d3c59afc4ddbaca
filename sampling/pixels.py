"""``get_pixels`` and ``compute_pixels``: Earth Engine's ``ee.data.getPixels`` / ``computePixels``.

Both take Earth Engine's parameter dictionary and return the pixels of an image
on a requested grid, as file bytes (PNG, JPEG, NPY, GeoTIFF, zipped GeoTIFFs) or
as a NumPy structured array. The rules (spec section 5; see ``docs/get_pixels.md``):

* **grid** ``{"dimensions": {"width", "height"}, "affineTransform": {...},
  "crsCode" | "crsWkt"}`` is used as given, shear included; an output pixel takes
  the value of the source pixel containing its centre (transformed into the
  source's CRS). No grid: the image's native grid (its first band's).
* **region** (GeoJSON, longitude/latitude as RFC 7946 says): the output covers
  the region's bounding box in the output CRS, snapped outward to whole pixels of
  the grid; with ``dimensions`` too, that box is resampled to those dimensions.
* Masked pixels are 0 in raw formats and transparent in PNG.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import shapely
from affine import Affine

from .assets import lookup_asset
from .dense import read_windows
from .encode import (
    RAW_FORMATS,
    add_mask_bands,
    encode_geotiff,
    encode_jpeg,
    encode_npy,
    encode_png,
    encode_zipped_geotiff,
    encode_zipped_geotiff_per_band,
    file_format,
    structured_array,
)
from .errors import BandError, FormatError, GridError, ParameterError, TooManyValuesError
from .grid import PixelGrid, as_crs, working_grid
from .image import Image, as_image
from .memory import check_fits_in_memory
from .regions import as_regions, to_working_crs, validate_regions
from .visualize import VIS_BANDS, VisualizationOptions, check_displayable, visualize

__all__ = ["get_pixels", "compute_pixels", "output_grid", "check_limits", "MAX_REQUEST_BYTES", "MAX_GRID_SIDE",
           "MAX_BANDS"]

#: Earth Engine's caps, enforced with ``strict=True``: 48 MiB, 32768 pixels a side, 1024 bands.
MAX_REQUEST_BYTES = 48 * 2**20
MAX_GRID_SIDE = 32768
MAX_BANDS = 1024

_COMMON = ("fileFormat", "grid", "bandIds", "visualizationOptions", "workloadTag")
_GET_PARAMS = ("assetId", *_COMMON[:2], "region", *_COMMON[2:])
_COMPUTE_PARAMS = ("expression", *_COMMON)
_GRID_KEYS = ("dimensions", "affineTransform", "crsCode", "crsWkt")
_AFFINE_KEYS = ("scaleX", "shearX", "translateX", "shearY", "scaleY", "translateY")
_PICTURES = ("PNG", "JPEG", "AUTO_JPEG_PNG")


def get_pixels(params: Mapping[str, Any], *, mask: bool = False, strict: bool = False) -> bytes | np.ndarray:
    """Pixels of an image asset on a grid, as Earth Engine's ``ee.data.getPixels``.

    Parameters
    ----------
    params
        Earth Engine's dictionary:

        ``assetId``
            A registered asset id (:func:`~sampling.register_asset`), or the path or
            URL of a raster, or an :class:`~sampling.Image`.
        ``fileFormat``
            ``PNG`` (default), ``JPEG``, ``AUTO_JPEG_PNG``, ``NPY``, ``GEO_TIFF``,
            ``ZIPPED_GEO_TIFF``, ``ZIPPED_GEO_TIFF_PER_BAND`` or ``NUMPY_NDARRAY``;
            aliases ``JPG``, ``AUTO``, ``GEOTIFF``, ``NUMPY``; any case.
        ``grid``
            ``{"dimensions": {"width": W, "height": H}, "affineTransform": {"scaleX",
            "shearX", "translateX", "shearY", "scaleY", "translateY"}, "crsCode":
            "EPSG:..."}`` (or ``"crsWkt"``). Omitted parts default to the image's
            native grid; a grid needs ``dimensions`` or a ``region``.
        ``region``
            A GeoJSON geometry (or Feature, FeatureCollection) in longitude/latitude;
            a shapely geometry (longitude/latitude) or a GeoSeries/GeoDataFrame in
            its own CRS also works.
        ``bandIds``
            Band names to return, in order (default: all bands).
        ``visualizationOptions``
            ``{"ranges": [{"min", "max"}, ...], "paletteColors": [...], "gamma": g,
            "opacity": o}``: render 8-bit RGB (bands ``vis-red``, ``vis-green``,
            ``vis-blue`` in raw formats). See :mod:`sampling.visualize`.
    mask
        Append one ``uint8`` band per output band, named ``<band>_mask``: 1 where the
        band is valid, 0 where masked (raw formats only; PNG shows masks as
        transparency).
    strict
        Enforce Earth Engine's limits (48 MiB, 32768 pixels a side, 1024 bands) with
        its messages. Off by default: a request is limited by memory only.

    Returns
    -------
    bytes or numpy.ndarray
        The file's bytes, or for ``NUMPY_NDARRAY`` a structured array of shape
        ``(height, width)`` with one field per band in the band's own dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> from sampling import Image
    >>> img = Image.from_array(np.arange(12, dtype="uint16").reshape(3, 4), Affine(10, 0, 0, 0, -10, 30),
    ...                        "EPSG:32618", bands=["B1"])  # pixel (row, col) holds 4 * row + col
    >>> out = get_pixels({"assetId": img, "fileFormat": "NUMPY_NDARRAY",
    ...                   "grid": {"dimensions": {"width": 2, "height": 1},
    ...                            "affineTransform": {"scaleX": 20, "scaleY": -20, "translateX": 0, "translateY": 30},
    ...                            "crsCode": "EPSG:32618"}})
    >>> out["B1"].tolist()  # 20 m pixels whose centres fall in source pixels (1, 1) and (1, 3)
    [[5, 7]]
    """
    params = _check_params(params, _GET_PARAMS, "get_pixels")
    if "assetId" not in params:
        raise ParameterError("get_pixels needs an 'assetId': a registered asset id or a raster path/URL.")
    image = lookup_asset(params["assetId"])
    return _pixels(image, params, params.get("region"), mask=mask, strict=strict)


def compute_pixels(params: Mapping[str, Any], *, mask: bool = False, strict: bool = False) -> bytes | np.ndarray:
    """Pixels of an image on a grid, as Earth Engine's ``ee.data.computePixels``.

    The same as :func:`get_pixels` with ``expression`` (an :class:`~sampling.Image`,
    or a path or list of paths) in place of ``assetId``, and no ``region``: the
    grid says where the pixels are.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> from sampling import Image
    >>> img = Image.from_array(np.arange(6, dtype="uint8").reshape(2, 3), Affine(1, 0, 0, 0, -1, 2), 32618)
    >>> compute_pixels({"expression": img, "fileFormat": "NUMPY"})["b1"].tolist()
    [[0, 1, 2], [3, 4, 5]]
    """
    if isinstance(params, Mapping) and "region" in params:
        raise ParameterError(
            "compute_pixels has no 'region' (as in Earth Engine): give the grid's dimensions and affineTransform, "
            "or use get_pixels, which crops to a region."
        )
    params = _check_params(params, _COMPUTE_PARAMS, "compute_pixels")
    if "expression" not in params:
        raise ParameterError("compute_pixels needs an 'expression': the Image to compute pixels of.")
    return _pixels(as_image(params["expression"]), params, None, mask=mask, strict=strict)


def _check_params(params: Any, allowed: Sequence[str], what: str) -> Mapping[str, Any]:
    if not isinstance(params, Mapping):
        raise ParameterError(f"{what} takes a dictionary of parameters ({', '.join(allowed)}), got {params!r}.")
    unknown = [k for k in params if k not in allowed]
    if unknown:
        raise ParameterError(f"{what} got unknown parameter(s) {unknown}; its parameters are {list(allowed)}.")
    return params


def _select(image: Image, band_ids: Any) -> Image:
    if band_ids is None:
        return image
    names = [band_ids] if isinstance(band_ids, str) else list(band_ids)
    if not names:
        raise BandError(f"bandIds is empty: give band names from {image.band_names}, or leave it out for all bands.")
    return image.select(names)


def _pixels(image: Image, params: Mapping[str, Any], region: Any, *, mask: bool, strict: bool) -> bytes | np.ndarray:
    fmt = file_format(params.get("fileFormat"))
    image = _select(image, params.get("bandIds"))
    names = image.band_names
    dtypes = [b.dtype for b in image.bands]
    picture = fmt in _PICTURES
    visualised = picture or params.get("visualizationOptions") is not None
    options = VisualizationOptions.parse(params.get("visualizationOptions"))
    if picture and mask:
        raise FormatError(f"mask=True adds mask bands to raw formats ({', '.join(RAW_FORMATS)}); "
                          f"{fmt} shows masked pixels as transparent (PNG) instead.")
    if picture and params.get("visualizationOptions") is None:
        check_displayable(dtypes, names, fmt)
    if visualised:
        options.check(names)
    out_dtypes = [np.dtype("uint8")] * 3 if visualised else dtypes
    grid = output_grid(image, params.get("grid"), region)
    if strict:
        check_limits(grid.shape, out_dtypes)  # type: ignore[arg-type]
    height, width = grid.shape  # type: ignore[misc]
    # the source values, their validity, and the encoded output are held at once
    per_pixel = sum(d.itemsize for d in dtypes) + len(dtypes) + sum(d.itemsize for d in out_dtypes)
    check_fits_in_memory(
        float(height) * float(width) * per_pixel,
        what=f"a {width} x {height} pixel request of {len(names)} bands",
        advice="Ask for a smaller grid (dimensions or region), fewer bands (bandIds), or cut it into "
        "tiles with several requests.",
    )
    windows = read_windows(image, grid, [0], [0], (height, width))
    values = [v[0] for v in windows.values]
    valid = windows.valid[0]

    if visualised:
        rgb, alpha = visualize(values, valid, options, band_names=names)
        if picture:
            return _encode_picture(fmt, rgb, alpha)
        names, values = list(VIS_BANDS), list(rgb)
        valid = np.broadcast_to(valid.all(axis=0), (3, height, width))
    if mask:
        values, names = add_mask_bands(values, names, valid)
    return _encode_raw(fmt, values, names, grid)


def _encode_picture(fmt: str, rgb: np.ndarray, alpha: np.ndarray) -> bytes:
    transparent = bool((alpha < 255).any())
    if fmt == "JPEG" or (fmt == "AUTO_JPEG_PNG" and not transparent):
        return encode_jpeg(rgb)
    return encode_png(rgb, alpha if transparent else None)


def _encode_raw(fmt: str, values: list[np.ndarray], names: list[str], grid: PixelGrid) -> bytes | np.ndarray:
    if fmt == "NUMPY_NDARRAY":
        return structured_array(values, names)
    if fmt == "NPY":
        return encode_npy(values, names)
    encoders = {
        "GEO_TIFF": encode_geotiff,
        "ZIPPED_GEO_TIFF": encode_zipped_geotiff,
        "ZIPPED_GEO_TIFF_PER_BAND": encode_zipped_geotiff_per_band,
    }
    return encoders[fmt](values, names, grid)


def check_limits(shape: tuple[int, int], dtypes: Sequence[np.dtype]) -> None:
    """Earth Engine's request limits, with its messages.

    The size counts, per pixel and band, the band's bytes plus one mask byte, as
    Earth Engine does.

    Examples
    --------
    >>> check_limits((4096, 4096), [np.dtype("uint16")])
    >>> check_limits((4096, 4096), [np.dtype("uint16")] * 2)
    Traceback (most recent call last):
    ...
    sampling.errors.TooManyValuesError: Total request size (100663296 bytes) must be less than or equal to ...
    """
    height, width = shape
    hint = " (Earth Engine's limit, enforced because strict=True; leave strict out to lift it.)"
    if width > MAX_GRID_SIDE or height > MAX_GRID_SIDE:
        raise TooManyValuesError(
            f"Pixel grid dimensions ({width}x{height}) must be less than or equal to {MAX_GRID_SIDE}.{hint}"
        )
    if len(dtypes) > MAX_BANDS:
        raise TooManyValuesError(f"Number of bands ({len(dtypes)}) must be less than or equal to {MAX_BANDS}.{hint}")
    size = width * height * sum(np.dtype(d).itemsize + 1 for d in dtypes)
    if size > MAX_REQUEST_BYTES:
        raise TooManyValuesError(
            f"Total request size ({size} bytes) must be less than or equal to {MAX_REQUEST_BYTES} bytes.{hint}"
        )


# -- the output grid ----------------------------------------------------------------------------


def output_grid(image: Image, grid: Any = None, region: Any = None) -> PixelGrid:
    """The bounded pixel grid a request asks for.

    Parameters
    ----------
    image
        The image; its first band's grid is the native grid.
    grid
        Earth Engine's ``grid`` dictionary, a :class:`PixelGrid`, or ``None``.
    region
        A region (see :func:`get_pixels`), or ``None``.

    Rules: no grid and no region gives the native grid. A grid's missing CRS is
    the image's; a missing ``affineTransform`` is the image's lattice (in another
    CRS: square pixels of the image's nominal scale from the CRS origin, as Earth
    Engine builds a grid for a bare CRS). With a region, the output is the
    region's bounding box in the output CRS snapped outward to whole pixels,
    resampled to ``dimensions`` when those are given too; without a region the
    grid needs ``dimensions``.

    Examples
    --------
    >>> import numpy as np
    >>> img = Image.from_array(np.zeros((100, 100), "uint8"), Affine(10, 0, 0, 0, -10, 1000), "EPSG:32618")
    >>> output_grid(img, None, {"type": "Point", "coordinates": [0, 0]}).shape  # far away, one pixel
    (1, 1)
    >>> output_grid(img, {"dimensions": {"width": 3, "height": 2}}).transform[:6]
    (10.0, 0.0, 0.0, 0.0, -10.0, 1000.0)
    """
    native = image.grid
    if grid is None and region is None:
        return native
    lattice, dimensions = _parse_grid(grid, native)
    if region is None:
        if dimensions is None:
            raise GridError(
                "the grid has no 'dimensions' and there is no region, so the output has no size: give "
                "grid['dimensions'] = {'width': W, 'height': H}, or a region to crop to."
            )
        return PixelGrid(lattice.crs, lattice.transform, dimensions)
    box = lattice.crop(_region_bounds(region, lattice))
    if dimensions is None:
        return box
    height, width = dimensions
    return PixelGrid(box.crs, box.transform @ Affine.scale(box.width / width, box.height / height), dimensions)


def _parse_grid(grid: Any, native: PixelGrid) -> tuple[PixelGrid, tuple[int, int] | None]:
    """The grid's lattice (unbounded) and its ``(height, width)``, if given."""
    if grid is None:
        return native.unbounded(), None
    if isinstance(grid, PixelGrid):
        return grid.unbounded(), grid.shape
    if not isinstance(grid, Mapping):
        raise GridError(f"grid must be a dictionary with keys {list(_GRID_KEYS)} or a PixelGrid, got {grid!r}.")
    unknown = [k for k in grid if k not in _GRID_KEYS]
    if unknown:
        raise GridError(f"unknown grid key(s) {unknown}; a grid has {list(_GRID_KEYS)}.")
    if "crsCode" in grid and "crsWkt" in grid:
        raise GridError("the grid gives both crsCode and crsWkt: give one of them.")
    crs_value = grid.get("crsCode", grid.get("crsWkt"))
    crs = None if crs_value is None else as_crs(crs_value, what="the grid's CRS")
    if "affineTransform" in grid:
        lattice = PixelGrid(crs if crs is not None else native.crs, _parse_affine(grid["affineTransform"]))
    elif crs is None or crs == native.crs:
        lattice = native.unbounded()
    else:
        lattice = working_grid(native, projection=crs)
    dimensions = _parse_dimensions(grid["dimensions"]) if "dimensions" in grid else None
    return lattice, dimensions


def _parse_affine(value: Any) -> Any:
    """Earth Engine's ``affineTransform`` as six coefficients (:class:`PixelGrid` checks them)."""
    if not isinstance(value, Mapping):
        return value  # an Affine or six numbers
    unknown = [k for k in value if k not in _AFFINE_KEYS]
    if unknown:
        raise GridError(f"unknown affineTransform key(s) {unknown}; an affineTransform has {list(_AFFINE_KEYS)}.")
    # Earth Engine's AffineTransform: an omitted coefficient is 0
    return [value.get(k, 0.0) for k in _AFFINE_KEYS]


def _parse_dimensions(value: Any) -> tuple[int, int]:
    if isinstance(value, Mapping) and set(value) <= {"width", "height"} and len(value) == 2:
        width, height = value["width"], value["height"]
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        width, height = value
    else:
        raise GridError(f"grid dimensions must be {{'width': W, 'height': H}}, got {value!r}.")
    sides = []
    for side in (height, width):
        if isinstance(side, bool) or not isinstance(side, (int, np.integer, float, str)):
            raise GridError(f"grid dimensions must be positive whole numbers, got {value!r}.")
        try:
            number = float(side)
        except ValueError:
            raise GridError(f"grid dimensions must be positive whole numbers, got {value!r}.") from None
        if not math.isfinite(number) or number < 1 or not number.is_integer():
            raise GridError(f"grid dimensions must be positive whole numbers, got {value!r}.")
        sides.append(int(number))
    return sides[0], sides[1]


def _region_bounds(region: Any, lattice: PixelGrid) -> tuple[float, float, float, float]:
    """The region's bounding box in the lattice's CRS (edges densified before reprojecting)."""
    default_crs: Any = "EPSG:4326"  # RFC 7946: GeoJSON is longitude/latitude
    if isinstance(region, Mapping) and isinstance(region.get("crs"), Mapping):
        # a legacy GeoJSON "crs" member names another CRS
        default_crs = region["crs"].get("properties", {}).get("name", default_crs)
    frame = validate_regions(as_regions(region, default_crs=default_crs, what="region"), what="region")
    geoms = to_working_crs(frame, lattice, what="region")
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    return float(xmin), float(ymin), float(xmax), float(ymax)
