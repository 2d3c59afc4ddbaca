"""The pixel grid: one value type for every geometric question about pixels.

A :class:`PixelGrid` is a coordinate reference system, an affine transform and,
optionally, a shape. Pixel ``(row, col)`` covers ``[col, col + 1) x [row, row + 1)``
in pixel space; its centre is ``(col + 0.5, row + 0.5)``; the transform's
translation is the upper-left *corner* of pixel ``(0, 0)``. This is Earth Engine's,
GDAL's and rasterio's convention.

A grid without a shape is an unbounded lattice, as an Earth Engine projection is:
it says where pixels are, not how many there are. :meth:`PixelGrid.crop` turns it
into a bounded grid over an area.

Nothing else in the package reads the coefficients of a transform to locate
pixels; it asks the grid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from affine import Affine
from pyproj import CRS

from .errors import CRSError, GridError

__all__ = ["PixelGrid", "as_crs", "crs_label", "metres_per_unit", "scale_to_units", "working_grid"]

#: Earth Engine converts metres to degrees with this radius for EPSG:4326.
WGS84_SEMI_MAJOR_AXIS = 6378137.0


def as_crs(value: Any, *, what: str = "crs") -> CRS:
    """Convert anything pyproj or rasterio understands into a :class:`pyproj.CRS`.

    Parameters
    ----------
    value
        An EPSG code string (``"EPSG:4326"``), an integer EPSG code, WKT, a PROJ
        string, a :class:`pyproj.CRS` or a :class:`rasterio.crs.CRS`.
    what
        How the value is named in an error message.

    Examples
    --------
    >>> as_crs("EPSG:32618").to_epsg()
    32618
    """
    if value is None:
        raise CRSError(f"{what} is missing: give a CRS such as 'EPSG:4326'.")
    if isinstance(value, CRS):
        return value
    if hasattr(value, "to_wkt") and not isinstance(value, str):
        value = value.to_wkt()
    try:
        return CRS.from_user_input(value)
    except Exception as exc:  # pyproj raises CRSError, TypeError, ...
        raise CRSError(f"{what} {value!r} is not a CRS pyproj understands: {exc}") from None


def crs_label(crs: CRS) -> str:
    """A short, recognisable name for a CRS in messages.

    Examples
    --------
    >>> crs_label(CRS.from_epsg(32618))
    'EPSG:32618 (WGS 84 / UTM zone 18N)'
    """
    code = crs.to_authority(min_confidence=90)
    if code:
        label = f"{':'.join(code)} ({crs.name})"
    elif crs.name and crs.name != "unknown":
        label = repr(crs.name)
    else:
        label = repr(crs.to_string())
    if crs.type_name.startswith("Engineering"):
        label += ", a local CRS not tied to the Earth"
    return label


def metres_per_unit(crs: CRS) -> float:
    """How many metres one unit of ``crs`` is along its first axis.

    For a geographic CRS this is the length of one degree of arc on the
    ellipsoid's semi-major axis, as Earth Engine measures it.

    Examples
    --------
    >>> metres_per_unit(CRS.from_epsg(4326))
    111319.49079327357
    """
    if crs.is_geographic:
        return math.radians(1.0) * crs.ellipsoid.semi_major_metre
    axis = crs.axis_info[0] if crs.axis_info else None
    factor = axis.unit_conversion_factor if axis is not None else 1.0
    return float(factor or 1.0)


def scale_to_units(scale: float, crs: CRS) -> float:
    """Convert a scale in metres into the units of ``crs``.

    For geographic CRSs this is ``math.degrees(scale / a)`` with ``a`` the
    semi-major axis, which reproduces Earth Engine's doubles bit for bit.

    Examples
    --------
    >>> scale_to_units(30, CRS.from_epsg(4326))
    0.00026949458523585647
    >>> scale_to_units(30, CRS.from_epsg(32618))
    30.0
    """
    scale = _check_scale(scale)
    if crs.is_geographic:
        return math.degrees(scale / crs.ellipsoid.semi_major_metre)
    return scale / metres_per_unit(crs)


def _check_scale(scale: Any) -> float:
    try:
        value = float(scale)
    except (TypeError, ValueError):
        raise GridError(f"scale must be a number of metres, got {scale!r}.") from None
    if not math.isfinite(value) or value <= 0:
        raise GridError(f"scale must be a positive number of metres, got {scale!r}.")
    return value


def _check_transform(transform: Any) -> Affine:
    if isinstance(transform, Affine):
        t = transform
    else:
        try:
            values = [float(v) for v in transform]
        except (TypeError, ValueError):
            raise GridError(
                f"transform {transform!r} is not an affine transform: give "
                "Affine(a, b, c, d, e, f) or [scaleX, shearX, translateX, shearY, scaleY, translateY]."
            ) from None
        if len(values) not in (6, 9):
            raise GridError(
                f"transform needs 6 numbers [scaleX, shearX, translateX, shearY, scaleY, "
                f"translateY], got {len(values)}."
            )
        t = Affine(*values[:6])
    coefficients = t[:6]
    if not all(math.isfinite(v) for v in coefficients):
        raise GridError(f"transform {tuple(coefficients)} has a non-finite coefficient.")
    if t.determinant == 0:
        raise GridError(f"transform {tuple(coefficients)} is degenerate (zero determinant).")
    return t


@dataclass(frozen=True)
class PixelGrid:
    """An immutable pixel grid: CRS, affine transform and optional shape.

    Parameters
    ----------
    crs
        The coordinate reference system (anything :func:`as_crs` accepts).
    transform
        Maps pixel space ``(col, row)`` to CRS coordinates ``(x, y)``.
    shape
        ``(height, width)`` in pixels, or ``None`` for an unbounded lattice.

    Examples
    --------
    >>> from affine import Affine
    >>> grid = PixelGrid("EPSG:32618", Affine(10, 0, 500000, 0, -10, 4000000), (100, 200))
    >>> grid.centre([0], [0])
    (array([500005.]), array([3999995.]))
    >>> grid.index([500015.0], [3999985.0])
    (array([1]), array([1]))
    """

    crs: CRS
    transform: Affine
    shape: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "crs", as_crs(self.crs))
        object.__setattr__(self, "transform", _check_transform(self.transform))
        if self.shape is not None:
            try:
                height, width = (int(v) for v in self.shape)
            except (TypeError, ValueError):
                raise GridError(f"shape must be (height, width), got {self.shape!r}.") from None
            if height < 0 or width < 0:
                raise GridError(f"shape must not be negative, got {self.shape!r}.")
            object.__setattr__(self, "shape", (height, width))

    # -- construction -------------------------------------------------------------

    @classmethod
    def from_projection(
        cls,
        crs: Any,
        *,
        scale: float | None = None,
        crs_transform: Sequence[float] | Affine | None = None,
    ) -> PixelGrid:
        """An unbounded grid from a CRS and a scale or a transform, as Earth Engine builds one.

        A bare CRS with a ``scale`` (metres) has its origin at the CRS origin ``(0, 0)``
        and square, north-up pixels. ``crs_transform`` is used verbatim; it cannot be
        combined with ``scale``.

        Examples
        --------
        >>> PixelGrid.from_projection("EPSG:4326", scale=10).transform.a
        8.983152841195215e-05
        """
        crs = as_crs(crs)
        if crs_transform is not None and scale is not None:
            raise GridError(
                "crs_transform and scale cannot be combined: crs_transform already fixes the "
                "pixel size. Give one of them."
            )
        if crs_transform is not None:
            return cls(crs, _check_transform(crs_transform))
        if scale is None:
            raise GridError("a bare CRS needs a scale (metres) or a crs_transform to make a grid.")
        size = scale_to_units(scale, crs)
        return cls(crs, Affine(size, 0.0, 0.0, 0.0, -size, 0.0))

    # -- properties ---------------------------------------------------------------

    @property
    def height(self) -> int:
        return self._require_shape()[0]

    @property
    def width(self) -> int:
        return self._require_shape()[1]

    @property
    def is_rectilinear(self) -> bool:
        """True when the transform has no rotation or shear."""
        return self.transform.b == 0 and self.transform.d == 0

    @property
    def nominal_scale(self) -> float:
        """The pixel size in metres: the square root of the pixel area, in metres.

        Examples
        --------
        >>> PixelGrid("EPSG:32618", Affine(30, 0, 0, 0, -30, 0)).nominal_scale
        30.0
        """
        t = self.transform
        return math.sqrt(abs(t.a * t.e - t.b * t.d)) * metres_per_unit(self.crs)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(xmin, ymin, xmax, ymax)`` of the grid's footprint in its CRS."""
        height, width = self._require_shape()
        xs, ys = self.transform @ (np.array([0, width, width, 0]), np.array([0, 0, height, height]))
        return float(np.min(xs)), float(np.min(ys)), float(np.max(xs)), float(np.max(ys))

    def _require_shape(self) -> tuple[int, int]:
        if self.shape is None:
            raise GridError("this grid is an unbounded lattice; crop it to an area first.")
        return self.shape

    # -- Earth Engine's scale and projection rules ---------------------------------

    def rescale(self, scale: float) -> PixelGrid:
        """The same lattice origin with pixels of ``scale`` metres.

        Earth Engine's rule: the translation is kept and the linear part is multiplied
        by ``scale / nominal_scale``. The result is unbounded.

        Examples
        --------
        >>> g = PixelGrid("EPSG:32618", Affine(30, 0, 100, 0, -30, 200)).rescale(10)
        >>> tuple(g.transform)[:6]
        (10.0, 0.0, 100.0, 0.0, -10.0, 200.0)
        """
        factor = _check_scale(scale) / self.nominal_scale
        if factor == 1.0:
            return PixelGrid(self.crs, self.transform)
        t = self.transform
        return PixelGrid(self.crs, Affine(t.a * factor, t.b * factor, t.c, t.d * factor, t.e * factor, t.f))

    def unbounded(self) -> PixelGrid:
        """The same lattice without a shape."""
        return PixelGrid(self.crs, self.transform)

    # -- pixel <-> coordinates -----------------------------------------------------

    def pixel_coords(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Fractional pixel coordinates ``(u, v)`` = ``(col, row)`` space of points.

        On a rectilinear grid this divides by the pixel size rather than multiplying by
        the inverse transform, so that ``floor`` is exact at pixel edges.
        """
        x = np.asarray(x, dtype="float64")
        y = np.asarray(y, dtype="float64")
        t = self.transform
        if self.is_rectilinear:
            return (x - t.c) / t.a, (y - t.f) / t.e
        u, v = ~t @ (x, y)
        return np.asarray(u, dtype="float64"), np.asarray(v, dtype="float64")

    def index(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, cols)`` of the pixels containing points ``(x, y)``.

        A point on an edge belongs to the pixel to its right and below (``floor``).
        Non-finite coordinates raise.
        """
        u, v = self.pixel_coords(x, y)
        if not (np.all(np.isfinite(u)) and np.all(np.isfinite(v))):
            raise GridError("cannot index a point with non-finite coordinates.")
        return np.floor(v).astype("int64"), np.floor(u).astype("int64")

    def centre(self, rows: Any, cols: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of the centres of pixels ``(rows, cols)``, in float64."""
        u = np.asarray(cols, dtype="float64") + 0.5
        v = np.asarray(rows, dtype="float64") + 0.5
        t = self.transform
        if self.is_rectilinear:
            return u * t.a + t.c, v * t.e + t.f
        x, y = t @ (u, v)
        return np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")

    def contains(self, rows: Any, cols: Any) -> np.ndarray:
        """Whether pixels ``(rows, cols)`` lie inside the grid's shape."""
        height, width = self._require_shape()
        rows = np.asarray(rows)
        cols = np.asarray(cols)
        return (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)

    # -- windows and crops ---------------------------------------------------------

    def window(self, bounds: Sequence[float], *, clip: bool = True) -> tuple[int, int, int, int]:
        """The pixel window ``(row_off, col_off, height, width)`` covering ``bounds``.

        ``bounds`` is ``(xmin, ymin, xmax, ymax)`` in the grid's CRS. The window is
        snapped outward to whole pixels; with ``clip`` it is clipped to the shape
        (and may then be empty).
        """
        xmin, ymin, xmax, ymax = (float(b) for b in bounds)
        u, v = self.pixel_coords([xmin, xmax, xmax, xmin], [ymin, ymin, ymax, ymax])
        if not (np.all(np.isfinite(u)) and np.all(np.isfinite(v))):
            raise GridError(f"bounds {tuple(bounds)} lie at infinity in the pixel space of {self!r}.")
        col0, col1 = int(math.floor(np.min(u))), int(math.ceil(np.max(u)))
        row0, row1 = int(math.floor(np.min(v))), int(math.ceil(np.max(v)))
        if col1 == col0:
            col1 += 1
        if row1 == row0:
            row1 += 1
        if clip and self.shape is not None:
            height, width = self.shape
            row0, col0 = max(row0, 0), max(col0, 0)
            row1, col1 = min(row1, height), min(col1, width)
        return row0, col0, max(row1 - row0, 0), max(col1 - col0, 0)

    def crop(self, bounds: Sequence[float]) -> PixelGrid:
        """The bounded grid of whole pixels covering ``bounds`` (not clipped)."""
        row0, col0, height, width = self.window(bounds, clip=False)
        return self.subgrid(row0, col0, height, width)

    def subgrid(self, row_off: int, col_off: int, height: int, width: int) -> PixelGrid:
        """The grid of the window starting at pixel ``(row_off, col_off)``."""
        return PixelGrid(self.crs, self.transform @ Affine.translation(col_off, row_off), (height, width))

    def same_lattice(self, other: PixelGrid) -> bool:
        """True when both grids have the same CRS and transform (shapes aside)."""
        return self.transform == other.transform and (self.crs is other.crs or self.crs == other.crs)

    def __repr__(self) -> str:
        epsg = self.crs.to_epsg()
        crs = f"EPSG:{epsg}" if epsg else self.crs.name
        return f"PixelGrid(crs={crs!r}, transform={tuple(self.transform)[:6]}, shape={self.shape})"


def working_grid(
    default: PixelGrid,
    *,
    scale: float | None = None,
    projection: Any = None,
    crs_transform: Sequence[float] | Affine | None = None,
) -> PixelGrid:
    """The unbounded grid an operation works on, by Earth Engine's rules.

    Parameters
    ----------
    default
        The grid used when nothing else is said (the image's first band for
        ``sample_regions``).
    scale
        Pixel size in metres. With a grid (``default`` or a :class:`PixelGrid`
        ``projection``) it rescales that grid keeping its origin; with a bare CRS it
        makes square pixels with the origin at the CRS origin.
    projection
        A :class:`PixelGrid` (its lattice is used) or anything :func:`as_crs` accepts
        (a bare CRS). A bare CRS without ``scale`` or ``crs_transform`` gets the
        default grid's nominal scale (Earth Engine would use one CRS unit).
    crs_transform
        An affine transform used verbatim; cannot be combined with ``scale``.

    Examples
    --------
    >>> native = PixelGrid("EPSG:32618", Affine(30, 0, 15, 0, -30, 45))
    >>> working_grid(native, scale=10).transform[:6]
    (10.0, 0.0, 15.0, 0.0, -10.0, 45.0)
    >>> working_grid(native, projection="EPSG:4326", scale=30).transform.a
    0.00026949458523585647
    """
    if crs_transform is not None and scale is not None:
        raise GridError(
            "crs_transform and scale cannot be combined: crs_transform already fixes the pixel "
            "size. Give one of them."
        )
    if projection is None:
        base = default.unbounded()
    elif isinstance(projection, PixelGrid):
        base = projection.unbounded()
    else:
        crs = as_crs(projection, what="projection")
        if crs_transform is None:
            return PixelGrid.from_projection(crs, scale=scale if scale is not None else default.nominal_scale)
        base = PixelGrid(crs, crs_transform)
        crs_transform = None
    if crs_transform is not None:
        return PixelGrid(base.crs, crs_transform)
    if scale is not None:
        return base.rescale(scale)
    return base
