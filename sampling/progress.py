"""Progress bars for operations that may run for a while.

Every long operation takes ``progress: bool = False``. With ``progress=True`` a
`tqdm <https://tqdm.github.io>`_ bar counts the units of work (regions, images,
patches) on standard error; ``tqdm.auto`` picks a widget in Jupyter when one is
available. tqdm is optional (``pip install 'sampling[progress]'``): without it, a
bar that was asked for is replaced by one warning and the work goes on.

The command line passes ``progress=None`` ("auto"): a bar only when standard error
is a terminal and the ``CI`` environment variable is unset, so logs of batch jobs
and continuous integration stay clean unless ``--progress`` forces it.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

__all__ = ["Progress", "progress_bar", "wants_progress", "BATCH_PIXELS_WITH_BAR"]

#: While a bar is shown, operations read at most this many pixels per batch so the
#: bar moves; batches never change a result.
BATCH_PIXELS_WITH_BAR = 1_000_000

_warned = False


def wants_progress(progress: bool | None) -> bool:
    """Resolve a ``progress`` option: True or False as given; None means "auto".

    Auto shows a bar only when standard error is an interactive terminal and the
    ``CI`` environment variable is not set.

    Examples
    --------
    >>> wants_progress(True), wants_progress(False)
    (True, False)
    """
    if progress is None:
        isatty = getattr(sys.stderr, "isatty", None)
        return bool(isatty and isatty()) and not os.environ.get("CI")
    return bool(progress)


class Progress:
    """A progress bar, or nothing: the same calls work whether or not a bar is shown.

    Use it as a context manager; :meth:`update` adds done units, :meth:`advance_to`
    sets the done count (it never goes backwards).

    Examples
    --------
    >>> with progress_bar(3, progress=False, desc="regions") as bar:
    ...     bar.update(2)
    ...     bar.advance_to(3)
    >>> bar.done
    3
    """

    def __init__(self, bar: Any = None) -> None:
        self._bar = bar
        self.done = 0

    @property
    def shown(self) -> bool:
        """True when a bar is actually displayed."""
        return self._bar is not None

    def update(self, n: int = 1) -> None:
        self.advance_to(self.done + int(n))

    def advance_to(self, done: int) -> None:
        done = int(done)
        if done <= self.done:
            return
        if self._bar is not None:
            self._bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress_bar(total: int | None, *, progress: bool | None, desc: str, unit: str = "it") -> Progress:
    """A :class:`Progress` over ``total`` units, shown if ``progress`` asks for it.

    Parameters
    ----------
    total
        The number of units of work, or None when unknown.
    progress
        True shows a bar, False shows none, None decides by :func:`wants_progress`.
    desc, unit
        The bar's label and unit name.
    """
    if not wants_progress(progress):
        return Progress()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        global _warned
        if progress and not _warned:
            _warned = True
            warnings.warn(
                "progress=True needs tqdm, which is not installed; install it with "
                "`pip install tqdm` (or `pip install 'sampling[progress]'`). Continuing without a bar.",
                stacklevel=3,
            )
        return Progress()
    return Progress(tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=False))
