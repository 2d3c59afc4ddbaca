"""Earth Engine's spellings: camelCase names and arguments over ``sampling``'s functions.

Earth Engine code ports by changing how images are opened::

    # Earth Engine                                   # sampling
    image = ee.Image("COPERNICUS/S2_SR/...")         image = sampling.Image.open("scene.tif")
    table = image.sampleRegions(                     table = image.sampleRegions(
        collection=fields, properties=["class"],         collection=fields, properties=["class"],
        scale=10, tileScale=4)                           scale=10, tileScale=4)

Every function here only renames its arguments and calls the snake_case function,
so it returns exactly what that function returns (a GeoDataFrame, not a
FeatureCollection). The same functions are available as methods of
:class:`~sampling.Image`. See ``docs/earth_engine.md`` for the full mapping.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import geopandas as gpd

from .errors import OptionError
from .grid import working_grid
from .image import Image, PathLike, as_image

__all__ = [
    "sampleRegions",
    "reduceRegions",
    "sample",
    "stratifiedSample",
    "getRegion",
    "getPixels",
    "computePixels",
    "REDUCERS",
]

#: Earth Engine reducer names and the ``reduce_regions`` statistics they give.
REDUCERS: dict[str, tuple[str, ...]] = {
    "count": ("count",),
    "sum": ("sum",),
    "mean": ("mean",),
    "min": ("min",),
    "max": ("max",),
    "minMax": ("min", "max"),
    "stdDev": ("std",),
    "median": ("median",),
}


def sampleRegions(
    image: Image | PathLike | Sequence[PathLike],
    collection: Any,
    properties: Sequence[str] | None = None,
    scale: float | None = None,
    projection: Any = None,
    tileScale: float = 1,
    geometries: bool = False,
    **options: Any,
) -> gpd.GeoDataFrame:
    """Earth Engine's ``Image.sampleRegions``: :func:`sampling.sample_regions`.

    ``collection`` is a GeoDataFrame of regions; further keyword options of
    :func:`~sampling.sample_regions` (``drop_masked``, ``feature_ids``,
    ``progress``) pass through.

    Examples
    --------
    >>> import numpy as np, geopandas as gpd
    >>> from affine import Affine
    >>> from shapely import box
    >>> img = Image.from_array(np.arange(16, dtype="uint16").reshape(4, 4),
    ...                        Affine(10, 0, 0, 0, -10, 40), "EPSG:32618", bands=["B1"])
    >>> fields = gpd.GeoDataFrame({"crop": ["wheat"]}, geometry=[box(0, 20, 20, 40)], crs=32618)
    >>> sampleRegions(img, collection=fields, properties=["crop"], scale=10, tileScale=2)["B1"].tolist()
    [0, 1, 4, 5]
    """
    from .sample_regions import sample_regions

    return sample_regions(image, collection, properties=properties, scale=scale, projection=projection,
                          tile_scale=tileScale, geometries=geometries, **options)


def _projection(image: Any, scale: float | None, crs: Any, crsTransform: Any) -> tuple[Any, float | None]:
    """Earth Engine's ``scale``/``crs``/``crsTransform`` triple as our ``projection``/``scale`` pair."""
    if crsTransform is None:
        return crs, scale
    image = as_image(image)
    grid = working_grid(image.grid, scale=scale, projection=crs if crs is not None else image.grid.crs,
                        crs_transform=crsTransform)
    return grid, None


def reduceRegions(
    image: Image | PathLike | Sequence[PathLike],
    collection: Any,
    reducer: str | Sequence[str] = "mean",
    scale: float | None = None,
    crs: Any = None,
    crsTransform: Sequence[float] | None = None,
    tileScale: float = 1,
    *,
    percentiles: Sequence[float] = (),
    **options: Any,
) -> gpd.GeoDataFrame:
    """Earth Engine's ``Image.reduceRegions``: :func:`sampling.reduce_regions`.

    ``reducer`` is an Earth Engine reducer name (``"mean"``, ``"sum"``, ``"count"``,
    ``"min"``, ``"max"``, ``"minMax"``, ``"stdDev"``, ``"median"``) or a list of
    them (Earth Engine's combined reducers); ``percentiles=[10, 90]`` stands for
    ``ee.Reducer.percentile([10, 90])``. Columns are named as in
    :func:`~sampling.reduce_regions`: ``<band>_<statistic>``.

    Examples
    --------
    >>> import numpy as np, geopandas as gpd
    >>> from affine import Affine
    >>> from shapely import box
    >>> img = Image.from_array(np.arange(16, dtype="uint16").reshape(4, 4),
    ...                        Affine(10, 0, 0, 0, -10, 40), "EPSG:32618", bands=["B1"])
    >>> fields = gpd.GeoDataFrame({"crop": ["wheat"]}, geometry=[box(0, 20, 20, 40)], crs=32618)
    >>> stats = reduceRegions(img, fields, ["mean", "minMax"], scale=10)
    >>> stats["B1_mean"][0], stats["B1_min"][0], stats["B1_max"][0]
    (np.float64(2.5), np.uint16(0), np.uint16(5))
    """
    from .reduce import reduce_regions

    names = [reducer] if isinstance(reducer, str) else list(reducer)
    unknown = [r for r in names if r not in REDUCERS]
    if unknown:
        raise OptionError(
            f"unknown reducers {unknown}; use Earth Engine's names {list(REDUCERS)} "
            "(and percentiles=[...] for ee.Reducer.percentile)."
        )
    stats = list(dict.fromkeys(s for r in names for s in REDUCERS[r]))
    projection, scale = _projection(image, scale, crs, crsTransform)
    return reduce_regions(image, collection, reducers=stats, percentiles=percentiles, scale=scale,
                          projection=projection, tile_scale=tileScale, **options)


def sample(
    image: Image | PathLike | Sequence[PathLike],
    region: Any = None,
    scale: float | None = None,
    projection: Any = None,
    factor: float | None = None,
    numPixels: int | None = None,
    seed: int = 0,
    dropNulls: bool = True,
    tileScale: float = 1,
    geometries: bool = False,
    **options: Any,
) -> gpd.GeoDataFrame:
    """Earth Engine's ``Image.sample``: :func:`sampling.ml.sample`.

    ``numPixels`` rows (masked draws replaced), or a ``factor`` of the region's
    pixels; ``region=None`` samples the whole image. ``dropNulls=False`` keeps rows
    whose bands are partly masked.
    """
    from .ml import sample as sample_pixels

    return sample_pixels(image, region, num_pixels=numPixels, frac=factor, seed=seed, scale=scale,
                         projection=projection, drop_masked=dropNulls, tile_scale=tileScale,
                         geometries=geometries, **options)


def stratifiedSample(
    image: Image | PathLike | Sequence[PathLike],
    numPoints: int,
    classBand: str | None = None,
    region: Any = None,
    scale: float | None = None,
    projection: Any = None,
    seed: int = 0,
    tileScale: float = 1,
    geometries: bool = False,
    **options: Any,
) -> gpd.GeoDataFrame:
    """Earth Engine's ``Image.stratifiedSample``: :func:`sampling.ml.stratified_sample`.

    ``numPoints`` pixels of each value of ``classBand`` (the first band when None,
    as in Earth Engine). Earth Engine's ``classValues``/``classPoints`` pair is
    ``stratified_sample(..., n_per_class={value: points})``.
    """
    from .ml import stratified_sample

    band = classBand if classBand is not None else as_image(image).band_names[0]
    return stratified_sample(image, region, class_band=band, n_per_class=numPoints, seed=seed, scale=scale,
                             projection=projection, tile_scale=tileScale, geometries=geometries, **options)


def getRegion(
    collection: Any,
    geometry: Any,
    scale: float | None = None,
    crs: Any = "EPSG:4326",
    crsTransform: Sequence[float] | None = None,
    *,
    maxValues: int | None = 1_048_576,
    **options: Any,
) -> Any:
    """Earth Engine's ``ImageCollection.getRegion``: :func:`sampling.get_region`.

    ``maxValues=None`` lifts Earth Engine's 1,048,576-value limit; further options of
    :func:`~sampling.get_region` (``properties``, ``progress``) pass through.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> from shapely import Point
    >>> from sampling import ImageCollection
    >>> s = 8.983152841195215e-05  # 10 m in degrees
    >>> images = [Image.from_array(np.full((4, 4), k, "uint8"), Affine(s, 0, 0, 0, -s, 4 * s), 4326,
    ...                            bands=["red"], id=f"day{k}", time=f"2020-01-0{k}") for k in (1, 2)]
    >>> getRegion(ImageCollection(images), Point(s / 2, s / 2), 10)[["id", "time", "red"]]
            id           time  red
    0  day1  1577836800000    1
    1  day2  1577923200000    2
    """
    from .get_region import get_region

    return get_region(collection, geometry, scale=scale, crs=crs, crs_transform=crsTransform, max_values=maxValues,
                      **options)


def getPixels(params: Any, **options: Any) -> Any:
    """Earth Engine's ``ee.data.getPixels``: :func:`sampling.get_pixels`.

    ``params`` is Earth Engine's dictionary as it is (``assetId``, ``fileFormat``,
    ``grid``, ``region``, ``bandIds``, ``visualizationOptions``); ``mask`` and
    ``strict`` pass through.
    """
    from .pixels import get_pixels

    return get_pixels(params, **options)


def computePixels(params: Any, **options: Any) -> Any:
    """Earth Engine's ``ee.data.computePixels``: :func:`sampling.compute_pixels`.

    ``params["expression"]`` is an :class:`~sampling.Image` (any computed image:
    selected, renamed, or built from an array).
    """
    from .pixels import compute_pixels

    return compute_pixels(params, **options)
