"""A registry of asset ids, so that Earth Engine code keeps its asset ids.

Earth Engine names images by asset id (``"COPERNICUS/S2_SR/20200518T..."``,
``"projects/my-project/assets/dem"``). :func:`register_asset` maps such an id to a
local :class:`~sampling.image.Image` (or to the files to open as one), and
:func:`sampling.get_pixels` resolves ``assetId`` through :func:`lookup_asset`: a
registered id first, otherwise a path or URL of a raster.

The registry is process-wide and thread-safe. Registering an id again replaces
its image, as assigning to a dictionary key does.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

from .errors import RasterReadError
from .image import Image, PathLike, as_image

__all__ = ["register_asset", "unregister_asset", "lookup_asset", "registered_assets"]

_ASSETS: dict[str, Image] = {}
_LOCK = threading.Lock()


def register_asset(asset_id: str, image: Image | PathLike | Sequence[PathLike]) -> Image:
    """Register ``image`` under ``asset_id`` and return it as an :class:`Image`.

    Parameters
    ----------
    asset_id
        Any non-empty string, typically an Earth Engine asset id.
    image
        An :class:`Image`, or a path/URL (or a list of them, one per band) opened
        now with :meth:`Image.open`, so that a wrong path fails here rather than
        at the first request.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> img = Image.from_array(np.zeros((2, 2), "uint8"), Affine(10, 0, 0, 0, -10, 20), 32618)
    >>> register_asset("users/me/zeros", img).band_names
    ['b1']
    >>> lookup_asset("users/me/zeros") is img
    True
    >>> unregister_asset("users/me/zeros")
    """
    if not isinstance(asset_id, str) or not asset_id:
        raise ValueError(f"an asset id must be a non-empty string, got {asset_id!r}.")
    resolved = as_image(image)
    with _LOCK:
        _ASSETS[asset_id] = resolved
    return resolved


def unregister_asset(asset_id: str) -> None:
    """Forget ``asset_id``; an unknown id raises ``KeyError``."""
    with _LOCK:
        if asset_id not in _ASSETS:
            raise KeyError(f"asset {asset_id!r} is not registered; registered: {sorted(_ASSETS)}.")
        del _ASSETS[asset_id]


def registered_assets() -> list[str]:
    """The registered asset ids, sorted."""
    with _LOCK:
        return sorted(_ASSETS)


def lookup_asset(asset_id: str | os.PathLike | Image) -> Image:
    """The image an ``assetId`` names: a registered id, else a raster path or URL.

    An :class:`Image` is returned as is.

    Raises
    ------
    RasterReadError
        When the id is neither registered nor a raster that can be opened; the
        message says how to register it.
    """
    if isinstance(asset_id, Image):
        return asset_id
    if isinstance(asset_id, os.PathLike):
        return Image.open(asset_id)
    if not isinstance(asset_id, str) or not asset_id:
        raise RasterReadError(f"assetId must be a registered asset id or a raster path/URL, got {asset_id!r}.")
    with _LOCK:
        image = _ASSETS.get(asset_id)
    if image is not None:
        return image
    try:
        return Image.open(asset_id)
    except RasterReadError as exc:
        raise RasterReadError(
            f"assetId {asset_id!r} is not a registered asset and cannot be opened as a raster ({exc}). "
            f"Register it with sampling.register_asset({asset_id!r}, 'path/to/raster.tif') or give a path."
        ) from None
