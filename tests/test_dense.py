"""read_windows: the dense path gives exactly what the engine gives, pixel by pixel."""

from __future__ import annotations

import numpy as np
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st

from sampling import Image, PixelGrid, dense
from sampling.dense import lattice_offset, read_windows
from sampling.engine import read_pixels

SOURCE = Affine(10, 0, 1000, 0, -10, 5000)


def engine_windows(image, grid, rows0, cols0, shape):
    height, width = shape
    dr, dc = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    rows = (np.asarray(rows0)[:, None, None] + dr).reshape(-1)
    cols = (np.asarray(cols0)[:, None, None] + dc).reshape(-1)
    got = read_pixels(image, grid, rows, cols)
    n = len(rows0)
    values = [np.where(got.valid[:, k], got.values[name], 0).reshape(n, height, width)
              for k, name in enumerate(got.band_names)]
    return values, got.valid.reshape(n, height, width, -1).transpose(0, 3, 1, 2)


@settings(max_examples=80, deadline=None)
@given(
    height=st.integers(1, 23),
    width=st.integers(1, 23),
    unit=st.sampled_from([1, 3, 8, 256]),
    factor=st.sampled_from([0, 4]),
    shift=st.sampled_from([(0.0, 0.0), (0.0, 0.0), (0.3, -0.7), (10.0, 0.0)]),
    scale=st.sampled_from([1.0, 1.0, 0.7, 2.5]),
    shear=st.sampled_from([0.0, 0.0, 0.2]),
    windows=st.lists(st.tuples(st.integers(-8, 25), st.integers(-8, 25)), min_size=1, max_size=6),
    size=st.tuples(st.integers(1, 9), st.integers(1, 9)),
)
def test_read_windows_equals_the_engine(height, width, unit, factor, shift, scale, shear, windows, size):
    data = (np.arange(2 * height * width, dtype="int32").reshape(2, height, width) + 1)
    data[0, ::3, ::2] = -1  # nodata in band 1
    image = Image.from_array(data, SOURCE, "EPSG:32618", nodata=-1, block_shape=(4, 5))
    t = SOURCE
    grid = PixelGrid("EPSG:32618", Affine(t.a * scale, shear * 10, t.c + shift[0] * 10 - 30,
                                          0, t.e * scale, t.f + shift[1] * 10 + 20))
    rows0 = [w[0] for w in windows]
    cols0 = [w[1] for w in windows]
    old = dense.READ_UNIT, dense.WINDOW_FACTOR
    # small read units exercise windows spanning several units; a unit of 1 pixel and a factor
    # of 0 send grids off the lattice through the engine rather than one window read
    dense.READ_UNIT, dense.WINDOW_FACTOR = unit, factor
    try:
        got = read_windows(image, grid, rows0, cols0, size)
    finally:
        dense.READ_UNIT, dense.WINDOW_FACTOR = old
    values, valid = engine_windows(image, grid, rows0, cols0, size)
    for k in range(2):
        np.testing.assert_array_equal(got.values[k], values[k])
    np.testing.assert_array_equal(got.valid, valid)


def test_lattice_offset():
    source = PixelGrid("EPSG:32618", SOURCE, (50, 60))
    assert lattice_offset(source.subgrid(-4, 9, 3, 3), source) == (-4, 9)
    assert lattice_offset(PixelGrid("EPSG:32618", SOURCE * Affine.translation(0.5, 0)), source) is None
    assert lattice_offset(PixelGrid("EPSG:32618", SOURCE * Affine.scale(2)), source) is None
    assert lattice_offset(PixelGrid("EPSG:32619", SOURCE), source) is None
