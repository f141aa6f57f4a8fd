"""The word the benchmarks print after a figure and its target.

The benchmark scripts run as ``python bench/<name>.py``, which puts bench/ on ``sys.path``:
they import this as ``from verdicts import verdict``.
"""

from __future__ import annotations


def verdict(ok: bool) -> str:
    """``"met"`` when the target is met, else ``"NOT MET"``."""
    return "met" if ok else "NOT MET"
