"""numba's cache across the files of the compiled search: stamps that keep it honest.

numba caches each compiled function under the text of its own file (``cache=True``, in
``planner/__pycache__``), yet a function's compiled code holds every kernel function it calls,
whatever their file: after an edit to ``fastcore.py`` alone, the cached functions of
``fastmoves.py`` and ``fastsearch.py`` would still run the old code. So a kernel file that
calls into others records their stamps (:func:`source_stamp`) in its ``CALLS_INTO``, those of
the files they call into included. An edit to a callee means updating the record, which
changes the caller's text, so numba compiles the caller afresh. While a record is stale,
:func:`cache_ok` turns the caller's cache off (and warns), and
``tests/planner/test_fastsearch.py`` fails with the stamps to write.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping
from pathlib import Path

__all__ = ["cache_ok", "source_stamp"]

_PLANNER = Path(__file__).parent


def source_stamp(name: str) -> str:
    """First 16 hex digits of the sha256 of ``planner/<name>``, newlines read as LF."""
    text = (_PLANNER / name).read_bytes().replace(b"\r\n", b"\n")
    return hashlib.sha256(text).hexdigest()[:16]


def cache_ok(module: str, calls_into: Mapping[str, str]) -> bool:
    """Whether ``module`` may cache its compiled code: its record of the files it calls holds.

    A stale record warns and returns False: the module's kernel functions then compile
    afresh in each process (some 30 s) instead of loading code built on the old callees.
    """
    stale = sorted(name for name, stamp in calls_into.items() if source_stamp(name) != stamp)
    if stale:
        warnings.warn(
            f"{module}: CALLS_INTO holds out-of-date stamps of {', '.join(stale)}, so its "
            "compiled code is not cached; tests/planner/test_fastsearch.py names the new ones",
            stacklevel=2,
        )
    return not stale
