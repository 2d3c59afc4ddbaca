"""The engine: band values at working-grid pixels, each source block read once.

Given images and pixels of a working grid, the engine

1. maps each working pixel to its source pixel, once per distinct source grid
   (nearest neighbour: the source pixel containing the working pixel's centre,
   after transforming that centre into the source CRS; the identity when the grids
   are the same lattice);
2. groups the source pixels by source block, in block order (row-major over the
   blocks, so reads move through the file), once per distinct source grid and
   block shape: a :class:`BlockPlan`;
3. reads each touched block of each source once per call, all of a source's
   requested bands in one read, on a pool of threads (GDAL decompresses without
   holding the GIL; each thread has its own dataset handle), and gathers values
   and validity at the pixels with NumPy fancy indexing.

Pixels outside a band's footprint are invalid (masked) in that band.

Entry points
------------
:func:`read_pixels`
    One image.
:func:`read_pixels_many`
    Many images at the same working pixels (the images of a collection): the
    working -> source mapping and the block plan are computed once per distinct
    source grid and shared by every image on that grid, and the blocks of all the
    images are read by one pool, so a small image per date still keeps every core
    busy.
:class:`PixelPlans`
    The cache behind both, for callers that read the same working pixels in several
    calls (pass ``plans=`` to either function).

``threads`` (default :data:`DEFAULT_THREADS`, the CPUs this process may use) sets
how many blocks are read at once; ``threads=1`` reads in the calling thread.
Nothing here changes values: thread count and plans only change speed.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import rasterio
from pyproj import Transformer

from .grid import PixelGrid
from .image import Image, RasterSource
from .remote import gdal_env
from .tiles import reader_for

__all__ = [
    "PixelValues",
    "BlockPlan",
    "PixelPlans",
    "read_pixels",
    "read_pixels_many",
    "source_pixels",
    "DEFAULT_THREADS",
]


def _available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


#: How many blocks are read at once by default: the CPUs this process may run on.
DEFAULT_THREADS = _available_cpus()


@dataclass(frozen=True)
class PixelValues:
    """Values of some bands at some pixels.

    ``values[name]`` is a 1-D array in the band's dtype; ``valid`` is a boolean
    ``(n_pixels, n_bands)`` array in band order. Where ``valid`` is False the value means
    nothing: 0 outside the band's footprint, the stored value (its nodata, NaN...) where
    it is masked inside. Callers turn such values into nulls or zeros as their output
    needs.
    """

    band_names: list[str]
    values: dict[str, np.ndarray]
    valid: np.ndarray

    def __len__(self) -> int:
        return self.valid.shape[0]


def source_pixels(
    grid: PixelGrid, rows: np.ndarray, cols: np.ndarray, source_grid: PixelGrid
) -> tuple[np.ndarray, np.ndarray]:
    """Indices on ``source_grid`` of the source pixels under working pixels ``(rows, cols)``.

    Nearest neighbour: the source pixel containing the working pixel's centre. The
    indices may fall outside the source's shape.
    """
    if grid.same_lattice(source_grid):
        return rows, cols
    x, y = grid.centre(rows, cols)
    if not (grid.crs is source_grid.crs or grid.crs == source_grid.crs):
        transformer = Transformer.from_crs(grid.crs, source_grid.crs, always_xy=True)
        x, y = transformer.transform(x, y, errcheck=False)
        x = np.asarray(x, dtype="float64")
        y = np.asarray(y, dtype="float64")
    finite = np.isfinite(x) & np.isfinite(y)
    if not finite.all():  # centres with no position in the source CRS fall outside
        x = np.where(finite, x, np.nan)
        y = np.where(finite, y, np.nan)
        u, v = source_grid.pixel_coords(x, y)
        out = np.iinfo("int64").min
        rows_out = np.where(finite, np.floor(np.nan_to_num(v)), out).astype("int64")
        cols_out = np.where(finite, np.floor(np.nan_to_num(u)), out).astype("int64")
        return rows_out, cols_out
    return source_grid.index(x, y)


# -- plans: which pixels fall in which block ------------------------------------------------------


@dataclass(frozen=True)
class BlockPlan:
    """Working pixels grouped by the source block that holds them.

    Block ``k`` covers ``windows[k]`` = ``(row_off, col_off, height, width)`` of the
    source; its pixels are ``targets[starts[k]:starts[k + 1]]`` (positions in the
    working pixel arrays), at ``rows``/``cols`` of the same slice *within* the block.
    Pixels outside the source are in no block.
    """

    windows: list[tuple[int, int, int, int]]
    starts: np.ndarray
    targets: np.ndarray
    rows: np.ndarray
    cols: np.ndarray

    def __len__(self) -> int:
        return len(self.windows)

    @classmethod
    def build(
        cls, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], block_shape: tuple[int, int]
    ) -> BlockPlan:
        """Group source pixels ``(rows, cols)`` of a raster of ``shape`` by block."""
        height, width = shape
        bh, bw = (max(1, int(v)) for v in block_shape)
        inside = np.flatnonzero((rows >= 0) & (rows < height) & (cols >= 0) & (cols < width))
        r = rows[inside]
        c = cols[inside]
        blocks_across = -(-width // bw)
        block = (r // bh) * blocks_across + (c // bw)
        order = np.argsort(block, kind="stable")
        block = block[order]
        starts = np.flatnonzero(np.r_[True, block[1:] != block[:-1]]) if len(block) else np.empty(0, "int64")
        ids = block[starts]
        row0 = (ids // blocks_across) * bh
        col0 = (ids % blocks_across) * bw
        windows = [
            (int(a), int(b), int(min(bh, height - a)), int(min(bw, width - b))) for a, b in zip(row0, col0, strict=True)
        ]
        block_row0 = np.repeat(row0, np.diff(np.r_[starts, len(block)]))
        block_col0 = np.repeat(col0, np.diff(np.r_[starts, len(block)]))
        return cls(
            windows=windows,
            starts=np.r_[starts, len(block)].astype("int64"),
            targets=inside[order],
            rows=r[order] - block_row0,
            cols=c[order] - block_col0,
        )


class PixelPlans:
    """The working -> source pixel mapping and block plans for one set of working pixels.

    Computed lazily, once per distinct source grid (and block shape), and reused by
    every image and band on that grid: this is how a collection of images on the
    same grid maps and groups its pixels once.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> img = Image.from_array(np.arange(12, dtype="uint8").reshape(3, 4), Affine(1, 0, 0, 0, -1, 3), 32618)
    >>> plans = PixelPlans(img.grid, np.array([0, 2]), np.array([1, 3]))
    >>> a = read_pixels(img, img.grid, plans.rows, plans.cols, plans=plans)
    >>> b = read_pixels(img, img.grid, plans.rows, plans.cols, plans=plans)  # no new mapping
    >>> len(plans), a.values["b1"].tolist() == b.values["b1"].tolist()
    (1, True)
    """

    def __init__(self, grid: PixelGrid, rows: np.ndarray, cols: np.ndarray) -> None:
        self.grid = grid
        self.rows = np.asarray(rows, dtype="int64")
        self.cols = np.asarray(cols, dtype="int64")
        self._mapped: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._plans: dict[tuple, BlockPlan] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._plans)

    def source_pixels(self, source_grid: PixelGrid) -> tuple[np.ndarray, np.ndarray]:
        """The source pixels on ``source_grid`` (computed once per distinct grid)."""
        key = _grid_key(source_grid)
        with self._lock:
            if key not in self._mapped:
                self._mapped[key] = source_pixels(self.grid, self.rows, self.cols, source_grid)
            return self._mapped[key]

    def plan(self, source: RasterSource) -> BlockPlan:
        """The block plan of ``source``'s grid and block shape (computed once per distinct pair)."""
        key = (_grid_key(source.grid), tuple(source.grid.shape or ()), tuple(source.block_shape))
        if key not in self._plans:
            rows, cols = self.source_pixels(source.grid)
            plan = BlockPlan.build(rows, cols, source.grid.shape, source.block_shape)  # type: ignore[arg-type]
            with self._lock:
                self._plans.setdefault(key, plan)
        return self._plans[key]


def _grid_key(grid: PixelGrid) -> tuple:
    return (grid.crs.to_wkt(), tuple(grid.transform)[:6])


# -- reading --------------------------------------------------------------------------------------


_SourceBands = tuple[RasterSource, list[int], list[str], list[int]]


def _prepare(image: Image, n: int, bands: Sequence[str] | None) -> tuple[PixelValues, list[_SourceBands]]:
    """The output of ``image``, to be filled, and its bands grouped by source.

    Each group is ``(source, band indexes in the source, band names, band positions)``:
    one read per block serves all of a source's bands.
    """
    selected = [image.band(b) for b in bands] if bands is not None else list(image.bands)
    out = PixelValues(
        [b.name for b in selected],
        {b.name: np.zeros(n, dtype=b.dtype) for b in selected},
        np.zeros((n, len(selected)), dtype=bool),
    )
    groups: dict[int, _SourceBands] = {}
    for k, band in enumerate(selected):
        group = groups.setdefault(id(band.source), (band.source, [], [], []))
        group[1].append(band.index)
        group[2].append(band.name)
        group[3].append(k)
    return out, list(groups.values())


def _block_jobs(out: PixelValues, source: RasterSource, indexes: list[int], names: list[str], positions: list[int],
                plan: BlockPlan) -> list[Callable[[], None]]:
    """One job per block of ``plan``: read the block's pixels, store them in ``out``."""

    def job(k: int) -> Callable[[], None]:
        a, b = plan.starts[k], plan.starts[k + 1]

        def run() -> None:
            window, rows, cols = plan.windows[k], plan.rows[a:b], plan.cols[a:b]
            reader = reader_for(source)
            got = reader.read_at(indexes, window, rows, cols) if reader is not None else None
            values, valid = got if got is not None else source.read_at(indexes, window, rows, cols)
            targets = plan.targets[a:b]
            for j, name in enumerate(names):
                out.values[name][targets] = values[j]
                out.valid[targets, positions[j]] = valid[j]

        return run

    return [job(k) for k in range(len(plan))]


def read_pixels(
    image: Image,
    grid: PixelGrid,
    rows: np.ndarray,
    cols: np.ndarray,
    *,
    bands: Sequence[str] | None = None,
    threads: int | None = None,
    plans: PixelPlans | None = None,
) -> PixelValues:
    """Read the values of ``image``'s bands at pixels ``(rows, cols)`` of ``grid``.

    Parameters
    ----------
    image
        The image to read.
    grid
        The working grid the pixel indices refer to (bounded or not).
    rows, cols
        Integer pixel indices on ``grid``.
    bands
        Band names to read; all bands by default.
    threads
        How many blocks to read at once (default :data:`DEFAULT_THREADS`).
    plans
        A :class:`PixelPlans` for these same ``grid``, ``rows`` and ``cols``, to reuse
        its mappings across calls.

    Returns
    -------
    PixelValues

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> img = Image.from_array(np.arange(12, dtype="uint8").reshape(3, 4), Affine(1, 0, 0, 0, -1, 3), 32618)
    >>> read_pixels(img, img.grid, np.array([0, 2]), np.array([1, 3])).values["b1"].tolist()
    [1, 11]
    """
    return read_pixels_many([image], grid, rows, cols, bands=bands, threads=threads, plans=plans)[0]


def read_pixels_many(
    images: Sequence[Image],
    grid: PixelGrid,
    rows: np.ndarray,
    cols: np.ndarray,
    *,
    bands: Sequence[str] | None = None,
    threads: int | None = None,
    plans: PixelPlans | None = None,
) -> list[PixelValues]:
    """Read many images at the same working pixels: one :class:`PixelValues` per image.

    Equal to ``[read_pixels(image, grid, rows, cols) for image in images]``, but the
    working -> source mapping and the grouping by block are computed once per
    distinct source grid, and all the blocks of all the images are read by one pool
    of threads.

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> dates = [Image.from_array(np.full((2, 2), k, "uint8"), Affine(1, 0, 0, 0, -1, 2), 32618) for k in (1, 2)]
    >>> [p.values["b1"].tolist() for p in read_pixels_many(dates, dates[0].grid, np.array([0]), np.array([1]))]
    [[1], [2]]
    """
    if plans is None:
        plans = PixelPlans(grid, rows, cols)
    n = len(plans.rows)
    outputs = []
    jobs: list[Callable[[], None]] = []
    for image in images:
        out, groups = _prepare(image, n, bands)
        outputs.append(out)
        if n == 0:
            continue
        for source, indexes, names, positions in groups:
            jobs.extend(_block_jobs(out, source, indexes, names, positions, plans.plan(source)))
    _run(jobs, DEFAULT_THREADS if threads is None else threads)
    return outputs


# -- the pool ------------------------------------------------------------------------------------

_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()


def _forget_pool() -> None:
    """In a forked child the pool's threads do not exist: start a new pool when needed."""
    global _POOL, _POOL_SIZE
    _POOL, _POOL_SIZE = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _pool(size: int) -> ThreadPoolExecutor:
    """A process-wide pool of at least ``size`` threads, kept so threads keep their datasets open."""
    global _POOL, _POOL_SIZE
    with _POOL_LOCK:
        if _POOL is None or _POOL_SIZE < size:
            if _POOL is not None:
                _POOL.shutdown(wait=False)
            _POOL = ThreadPoolExecutor(max_workers=size, thread_name_prefix="sampling-read")
            _POOL_SIZE = size
        return _POOL


def _run(jobs: list[Callable[[], None]], threads: int) -> None:
    """Run ``jobs`` inside the library's GDAL environment, on up to ``threads`` threads.

    Workers take jobs from a shared queue, so a slow block does not hold back the
    others; the first error stops the work and is raised here.
    """
    threads = max(1, min(int(threads), len(jobs)))
    with gdal_env():
        if threads == 1:
            for job in jobs:
                job()
            return
        options = rasterio.env.getenv() if rasterio.env.hasenv() else {}
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for job in jobs:
        todo.put(job)
    failed = threading.Event()

    def worker() -> None:
        with gdal_env(**options):  # GDAL settings are per thread; AWS keys need gdal_env
            while not failed.is_set():
                try:
                    job = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    job()
                except BaseException:
                    failed.set()
                    raise

    futures = [_pool(threads).submit(worker) for _ in range(threads)]
    for future in futures:
        future.result()
