"""Building output tables from arrays, once, at the end of an operation.

Band columns keep the band's own dtype. Where a value can be masked the column is
a pandas nullable array of that dtype (``UInt16``, ``Float32``...): a masked value
is ``<NA>``, never a sentinel number.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .errors import BandError

__all__ = ["band_column", "check_column_names"]


def band_column(values: np.ndarray, valid: np.ndarray | None) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """A band's column: the plain array when ``valid`` is None, else a nullable array.

    Examples
    --------
    >>> band_column(np.array([1, 2], "uint16"), np.array([True, False])).tolist()
    [1, <NA>]
    """
    if valid is None:
        return values
    mask = ~np.asarray(valid, dtype=bool)
    kind = values.dtype.kind
    if kind in "iu":
        return pd.arrays.IntegerArray(values, mask)
    if kind == "f":
        if values.dtype.itemsize < 4:  # pandas has no nullable float16
            values = values.astype("float32")
        return pd.arrays.FloatingArray(values, mask | np.isnan(values))
    if kind == "b":
        return pd.arrays.BooleanArray(values, mask)
    out = values.astype(object)
    out[mask] = None
    return out


def check_column_names(band_names: Sequence[str], other_columns: Sequence[str], *, what: str = "properties") -> None:
    """Refuse band names that collide with other output columns.

    Examples
    --------
    >>> check_column_names(["B2"], ["name"])
    """
    clash = sorted(set(band_names) & set(other_columns))
    if clash:
        raise BandError(
            f"band names {clash} collide with {what} of the same name. Rename the bands with "
            "`image.rename([...])` or leave those columns out with `properties=[...]`."
        )
