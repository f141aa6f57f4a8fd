"""The product's one clock: every "now" and "today" of the site, the API, the CLI and the demo.

It reads real time unless a process is set to run as of another moment:

- ``HOTSPOT_NOW`` (for a demo "as of" a date; refused in production) starts the clock at that
  moment when the site or a command starts, and lets it run on from there;
- tests freeze it at a moment with :func:`frozen` (or :func:`set_now` ``run=False``).

geo/ and planner/ never read a clock: they take ``now`` as an argument, and callers in web/
pass what this module gives. Elapsed time (solver deadlines, cache ages) is measured with
``time.monotonic`` and is not "now".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from functools import lru_cache
from zoneinfo import ZoneInfo

import pandas as pd

__all__ = [
    "frozen",
    "is_set",
    "local_now",
    "now",
    "now_s",
    "parse_moment",
    "reset",
    "set_now",
    "today",
]

_lock = threading.Lock()
# (moment in UTC seconds, real time when it was set, whether it runs on); None = real time.
_setting: tuple[float, float, bool] | None = None


def now_s() -> float:
    """Seconds since the epoch (UTC), fractional."""
    setting = _setting
    if setting is None:
        return time.time()
    moment, set_at, runs = setting
    return moment + (time.time() - set_at) if runs else moment


def now() -> pd.Timestamp:
    """The current moment as a UTC timestamp."""
    return pd.Timestamp(now_s(), unit="s", tz="UTC")


def local_now(timezone: str) -> pd.Timestamp:
    """The current moment in the city's timezone."""
    return now().tz_convert(_zone(timezone))


def today(timezone: str) -> date:
    """The city's date now (which differs from UTC's date for part of every day)."""
    return local_now(timezone).date()


def is_set() -> bool:
    """Whether the clock runs as of a set moment rather than real time."""
    return _setting is not None


def set_now(moment: pd.Timestamp | str, *, run: bool = True, timezone: str = "UTC") -> None:
    """Run the clock as of ``moment`` (see :func:`parse_moment`); ``run=False`` freezes it."""
    stamp = parse_moment(moment, timezone) if isinstance(moment, str) else moment
    if stamp.tzinfo is None:
        raise ValueError(f"set_now needs a moment with a timezone, got {moment!r}")
    global _setting
    with _lock:
        _setting = (stamp.value / 1e9, time.time(), run)


def reset() -> None:
    """Back to real time."""
    global _setting
    with _lock:
        _setting = None


@contextmanager
def frozen(moment: pd.Timestamp | str, timezone: str = "UTC") -> Iterator[pd.Timestamp]:
    """Freeze the clock at ``moment`` inside the block, then restore what was set before."""
    global _setting
    before = _setting
    set_now(moment, run=False, timezone=timezone)
    try:
        yield now()
    finally:
        with _lock:
            _setting = before


def parse_moment(text: str, timezone: str) -> pd.Timestamp:
    """A moment from ISO 8601 text: with an offset as given, without one in the city's time.

    ``2026-03-08T09:00`` in Asia/Shanghai is 01:00 UTC. A local time that happens twice when
    clocks go back is the first one; one that never happens (clocks go forward) is refused,
    since nobody can mean it.
    """
    try:
        stamp = pd.Timestamp(str(text).strip())
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"expected an ISO 8601 time such as 2026-03-08T09:00, got {text!r}"
        ) from err
    if stamp is pd.NaT:
        raise ValueError(f"expected an ISO 8601 time such as 2026-03-08T09:00, got {text!r}")
    if stamp.tzinfo is not None:
        return stamp.tz_convert("UTC")
    try:
        local = stamp.tz_localize(_zone(timezone), ambiguous=True, nonexistent="raise")
    except Exception as err:  # pytz-style NonExistentTimeError from pandas
        raise ValueError(f"{text} does not exist in {timezone} (clocks go forward)") from err
    return local.tz_convert("UTC")


@lru_cache(maxsize=16)
def _zone(timezone: str) -> ZoneInfo:
    return ZoneInfo(timezone)
