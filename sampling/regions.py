"""Input regions: accept, validate and reproject the geometries users pass in.

Every operation turns its ``regions``/``geometry`` argument into a GeoDataFrame
here, checks it once (CRS present, geometries present, non-empty and valid) with
errors that name the offending rows, and reprojects it to the working CRS with
edges densified first, so that a long straight edge bends as it should.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from .errors import CRSError, GeometryError, PropertyError
from .grid import PixelGrid, as_crs, crs_label, metres_per_unit

__all__ = ["as_regions", "validate_regions", "to_working_crs", "choose_properties"]


def as_regions(value: Any, *, default_crs: Any = None, what: str = "regions") -> gpd.GeoDataFrame:
    """Turn a GeoDataFrame, GeoSeries, shapely geometry or GeoJSON mapping into a GeoDataFrame.

    Bare shapely geometries and GeoJSON mappings carry no CRS; they get
    ``default_crs`` when one is given (Earth Engine takes them as EPSG:4326), and are
    an error otherwise.

    Examples
    --------
    >>> from shapely import Point
    >>> as_regions(Point(1, 2), default_crs="EPSG:4326").crs.to_epsg()
    4326
    """
    if isinstance(value, gpd.GeoDataFrame):
        frame = value
    elif isinstance(value, gpd.GeoSeries):
        frame = gpd.GeoDataFrame(geometry=value)
    elif isinstance(value, pd.DataFrame):
        raise GeometryError(f"{what} is a plain DataFrame: give a GeoDataFrame with a geometry column and a CRS.")
    elif isinstance(value, shapely.Geometry):
        frame = gpd.GeoDataFrame(geometry=[value], crs=_default(default_crs, what))
    elif isinstance(value, Mapping):
        frame = _from_geojson(value, default_crs, what)
    elif isinstance(value, (list, tuple)) and value and all(isinstance(v, shapely.Geometry) for v in value):
        frame = gpd.GeoDataFrame(geometry=list(value), crs=_default(default_crs, what))
    else:
        raise GeometryError(
            f"{what} must be a GeoDataFrame, a GeoSeries, a shapely geometry or a GeoJSON mapping, "
            f"got {type(value).__name__}."
        )
    if frame.crs is None:
        raise CRSError(
            f"{what} have no CRS, so their coordinates cannot be placed on the image. Set it with "
            "`regions.set_crs('EPSG:XXXX')` (the CRS the coordinates are in)."
        )
    return frame


def _default(default_crs: Any, what: str) -> CRS:
    if default_crs is None:
        raise CRSError(f"{what} is a bare geometry without a CRS: pass a GeoSeries or GeoDataFrame with one.")
    return as_crs(default_crs)


def _from_geojson(value: Mapping, default_crs: Any, what: str) -> gpd.GeoDataFrame:
    kind = value.get("type")
    try:
        if kind == "FeatureCollection":
            frame = gpd.GeoDataFrame.from_features(value)
            return frame.set_crs(_default(default_crs, what))
        if kind == "Feature":
            frame = gpd.GeoDataFrame.from_features([value])
            return frame.set_crs(_default(default_crs, what))
        geom = shapely.geometry.shape(value)
    except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.GEOSException) as exc:
        raise GeometryError(f"{what} is not valid GeoJSON: {exc}") from None
    return gpd.GeoDataFrame(geometry=[geom], crs=_default(default_crs, what))


def choose_properties(frame: gpd.GeoDataFrame, properties: Any = None) -> list:
    """The region columns to copy to each output row: all non-geometry columns by default.

    Examples
    --------
    >>> from shapely import Point
    >>> frame = gpd.GeoDataFrame({"a": [1], "b": [2]}, geometry=[Point(0, 0)], crs=4326)
    >>> choose_properties(frame), choose_properties(frame, "b")
    (['a', 'b'], ['b'])
    """
    columns = [c for c in frame.columns if c != frame.geometry.name]
    if properties is None:
        return columns
    chosen = [properties] if isinstance(properties, str) else list(properties)
    unknown = [p for p in chosen if p not in columns]
    if unknown:
        raise PropertyError(f"unknown properties {unknown}; the regions have {columns}.")
    return chosen


def _rows(frame: pd.DataFrame, mask: np.ndarray, limit: int = 10) -> str:
    labels = list(frame.index[mask])
    shown = ", ".join(repr(v) for v in labels[:limit])
    more = f" and {len(labels) - limit} more" if len(labels) > limit else ""
    return f"[{shown}{more}]"


def validate_regions(frame: gpd.GeoDataFrame, *, what: str = "regions") -> gpd.GeoDataFrame:
    """Check that every geometry is present, non-empty and valid; drop Z coordinates.

    Raises :class:`~sampling.errors.GeometryError` naming the offending rows (by index
    label) and saying how to fix them.
    """
    if len(frame) == 0:
        raise GeometryError(f"{what} is empty: there is nothing to sample.")
    geoms = frame.geometry.values
    data = np.asarray(geoms, dtype=object)
    missing = shapely.is_missing(data)
    if missing.any():
        raise GeometryError(
            f"{what} rows {_rows(frame, missing)} have no geometry (None). Drop them with "
            "`regions[regions.geometry.notna()]`."
        )
    empty = shapely.is_empty(data)
    if empty.any():
        raise GeometryError(
            f"{what} rows {_rows(frame, empty)} have empty geometries. Drop them with "
            "`regions[~regions.is_empty]`."
        )
    invalid = ~shapely.is_valid(data)
    if invalid.any():
        first = frame.index[invalid][0]
        reason = shapely.is_valid_reason(data[invalid][0])
        raise GeometryError(
            f"{what} rows {_rows(frame, invalid)} have invalid geometries (row {first!r}: {reason}). "
            "Repair them with `regions.make_valid()` or `regions.buffer(0)`."
        )
    if shapely.has_z(data).any():
        frame = frame.set_geometry(shapely.force_2d(data), crs=frame.crs)
    return frame


def to_working_crs(frame: gpd.GeoDataFrame, grid: PixelGrid, *, what: str = "regions") -> np.ndarray:
    """The frame's geometries in the grid's CRS, as a shapely array.

    When the CRS changes, edges are first densified to about one working pixel, so
    that the reprojected polygon follows the true (curved) edge.
    """
    source = as_crs(frame.crs, what=f"the CRS of {what}")
    geoms = np.asarray(frame.geometry.values, dtype=object)
    if source == grid.crs:
        return geoms
    step = grid.nominal_scale / metres_per_unit(source)
    lines_or_areas = ~np.isin(shapely.get_type_id(geoms), [0, 4])  # everything but (multi)points
    if lines_or_areas.any():
        geoms = geoms.copy()
        geoms[lines_or_areas] = shapely.segmentize(geoms[lines_or_areas], step)
    try:
        moved = gpd.GeoSeries(geoms, crs=source).to_crs(grid.crs)
    except Exception as exc:
        raise CRSError(
            f"cannot transform {what} from {crs_label(source)} to {crs_label(grid.crs)}: "
            f"{str(exc).rstrip('.')}. Check the {what}' CRS: `set_crs(..., allow_override=True)` corrects "
            "a wrong label, and a local or non-Earth CRS cannot be related to the image's."
        ) from None
    out = np.asarray(moved.values, dtype=object)
    coords = shapely.get_coordinates(out)
    if not np.isfinite(coords).all():
        bad = ~np.array([np.isfinite(shapely.get_coordinates(g)).all() for g in out])
        raise CRSError(
            f"{what} rows {_rows(frame, bad)} have coordinates outside the area where {crs_label(source)} "
            f"can be transformed to {crs_label(grid.crs)}. Check the regions' CRS, or clip them to the "
            "image's area first."
        )
    if grid.crs.is_geographic:
        wrapped = _wraps_around(out)
        if wrapped.any():
            raise GeometryError(
                f"{what} rows {_rows(frame, wrapped)} cross the antimeridian (180 degrees) or circle a pole "
                f"once transformed to {crs_label(grid.crs)}, where they would wrap around the globe and "
                "select the wrong pixels. Split them at 180 degrees first (for example with the "
                "`antimeridian` package), or work in a projected CRS with `projection=...`."
            )
    return out


def _wraps_around(geoms: np.ndarray) -> np.ndarray:
    """Whether consecutive vertices of each geometry's lines or rings jump by more than 180 degrees in x.

    After densifying, a real edge never jumps that far: such a jump is a geometry
    that crossed the antimeridian or circled a pole and was wrapped into [-180, 180].
    """
    parts, owner = shapely.get_parts(geoms, return_index=True)
    members, member_owner = shapely.get_parts(parts, return_index=True)  # members of collections
    owner = owner[member_owner]
    types = shapely.get_type_id(members)
    polygons = types == shapely.GeometryType.POLYGON
    lines = np.isin(types, [shapely.GeometryType.LINESTRING, shapely.GeometryType.LINEARRING])
    rings, ring_owner = shapely.get_rings(members[polygons], return_index=True)
    paths = np.concatenate([rings, members[lines]])
    path_owner = np.concatenate([owner[polygons][ring_owner], owner[lines]]).astype("int64")
    coords, path = shapely.get_coordinates(paths, return_index=True)
    jumps = (np.abs(np.diff(coords[:, 0])) > 180) & (path[1:] == path[:-1])
    wrapped = np.zeros(len(geoms), dtype=bool)
    wrapped[path_owner[path[1:][jumps]]] = True
    return wrapped
