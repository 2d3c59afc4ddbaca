"""How much memory is left, and a clear error before a result outgrows it.

An operation that builds its whole result in memory first estimates the result's
size; if it exceeds the memory this process can still use (the system's available
memory, capped by a container's cgroup limit), it raises
:class:`~sampling.errors.OutputTooLargeError` at once, saying how to stream the
result instead, rather than swapping for an hour and being killed.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import OutputTooLargeError

__all__ = ["available_memory", "check_fits_in_memory"]


def available_memory() -> int | None:
    """Bytes of memory this process can still use, or None when the platform does not say.

    Linux's ``MemAvailable``, capped by the cgroup (container) limit minus its usage.

    Examples
    --------
    >>> available_memory() is None or available_memory() > 0
    True
    """
    candidates: list[int] = []
    meminfo = _read(Path("/proc/meminfo"))
    for line in (meminfo or "").splitlines():
        if line.startswith("MemAvailable:"):
            candidates.append(int(line.split()[1]) * 1024)
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),  # v1
    ):
        limit, usage = _read(Path(limit_file)), _read(Path(usage_file))
        if limit and usage and limit.strip().isdigit() and usage.strip().isdigit():
            if int(limit) < 1 << 60:  # "no limit" is a huge number in cgroup v1
                candidates.append(max(int(limit) - int(usage), 0))
            break
    if not candidates:
        try:
            candidates.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, ValueError, OSError):
            return None
    return min(candidates)


def check_fits_in_memory(nbytes: float, *, what: str, advice: str) -> None:
    """Raise :class:`~sampling.errors.OutputTooLargeError` if ``nbytes`` exceed the available memory.

    Examples
    --------
    >>> check_fits_in_memory(1024, what="a tiny table", advice="")
    >>> check_fits_in_memory(1e30, what="a huge table", advice="Stream it.")
    Traceback (most recent call last):
    ...
    sampling.errors.OutputTooLargeError: a huge table needs about 9.09e+17 TiB, more than the ... available. Stream it.
    """
    available = available_memory()
    if available is not None and nbytes > available:
        raise OutputTooLargeError(
            f"{what} needs about {_human(nbytes)}, more than the {_human(available)} of memory available. {advice}"
        )


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _human(nbytes: float) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    size = float(nbytes)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.3g} {unit}"
        size /= 1024
    return f"{size:.3g} TiB"
