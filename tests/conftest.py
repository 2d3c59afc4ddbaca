"""Shared fixtures: the real data beside the repository and a raster factory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from affine import Affine

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()
EXAMPLE_DATA = REPO / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``, or a clean skip when it is not beside the repository."""
    if not (SHARED_DATA / "rgbn.tif").exists():
        pytest.skip(f"real test data not found at {SHARED_DATA} (place shared/ beside the repository)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def landsat_paths(shared_data: Path) -> list[str]:
    return [str(shared_data / "landsat8" / f"LC08_224078_20200518_B{b}.tif") for b in (2, 3, 4)]


def coded(height: int, width: int, dtype: str = "int32", bands: int = 1) -> np.ndarray:
    """An array whose value encodes its own position: ``band*1e6 + row*1000 + col``."""
    b, r, c = np.mgrid[0:bands, 0:height, 0:width]
    return (b * 1_000_000 + r * 1000 + c).astype(dtype)


@pytest.fixture
def make_raster(tmp_path: Path) -> Callable[..., Path]:
    """Write a GeoTIFF from an array: ``make_raster(array, transform=..., crs=..., nodata=...)``."""
    counter = iter(range(10_000))

    def make(
        array: np.ndarray,
        *,
        transform: Affine | Sequence[float] = Affine(10, 0, 500000, 0, -10, 4000000),
        crs: Any = "EPSG:32618",
        nodata: float | None = None,
        name: str | None = None,
        descriptions: Sequence[str] | None = None,
        block: int | None = None,
        **profile: Any,
    ) -> Path:
        data = np.asarray(array)
        if data.ndim == 2:
            data = data[np.newaxis]
        path = tmp_path / (name or f"raster_{next(counter)}.tif")
        options = dict(
            driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
            dtype=data.dtype, crs=crs, transform=Affine(*transform[:6]), nodata=nodata,
        )
        if block:
            options.update(tiled=True, blockxsize=block, blockysize=block)
        options.update(profile)
        with rasterio.open(path, "w", **options) as dst:
            dst.write(data)
            if descriptions:
                dst.descriptions = tuple(descriptions)
        return path

    return make
