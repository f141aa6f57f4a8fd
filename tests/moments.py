"""Moments the date-dependent tests run at, besides today.

Each is an instant and the city timezone the test site runs in at that instant: the days
clocks change in America/Chicago (a local time that never happens, one that happens twice),
month and year ends where the city's date and UTC's date differ, a leap day, and the minute
before local midnight on an ordinary day.

``pytest --moments few`` (what ``make test`` runs) takes :data:`FEW`; ``--moments all``
(``make test-dates``) takes every one; ``--moments today`` only today.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

__all__ = ["ALL", "FEW", "MOMENTS", "Moment"]


@dataclass(frozen=True)
class Moment:
    name: str
    at: pd.Timestamp  # UTC
    timezone: str  # the city's timezone while the clock reads ``at``

    @property
    def local(self) -> pd.Timestamp:
        return self.at.tz_convert(self.timezone)


# The session's "today": the real time when the tests started, frozen for the whole run.
_TODAY = pd.Timestamp.now(tz="UTC").floor("s")

_LIST = [
    ("today", _TODAY, "Asia/Shanghai"),
    # America/Chicago springs forward on 2027-03-14: 02:00 CST becomes 03:00 CDT.
    ("chicago-spring-forward-0130", "2027-03-14T01:30:00-06:00", "America/Chicago"),
    # 02:30 never happens that night; the instant 02:30 CST would be is 03:30 CDT.
    ("chicago-spring-forward-0230", "2027-03-14T03:30:00-05:00", "America/Chicago"),
    # ... and falls back on 2027-11-07: 01:00-02:00 happens twice.
    ("chicago-fall-back-0130-first", "2027-11-07T01:30:00-05:00", "America/Chicago"),
    ("chicago-fall-back-0130-second", "2027-11-07T01:30:00-06:00", "America/Chicago"),
    ("chicago-fall-back-0230", "2027-11-07T02:30:00-06:00", "America/Chicago"),
    # Month end in Shanghai: UTC is still in April 15:30 before the local month ends.
    ("shanghai-month-end", "2027-04-30T23:30:00+08:00", "Asia/Shanghai"),
    ("shanghai-new-year-eve-2359", "2026-12-31T23:59:00+08:00", "Asia/Shanghai"),
    # Local new year while UTC is still on 31 December.
    ("shanghai-new-year-0000", "2027-01-01T00:00:00+08:00", "Asia/Shanghai"),
    # 23:59 on 31 December in Chicago is already 1 January (05:59) in UTC.
    ("chicago-new-year-eve-2359", "2026-12-31T23:59:00-06:00", "America/Chicago"),
    # Just after local midnight on 29 February: UTC still reads the 28th.
    ("leap-day-2028", "2028-02-29T00:10:00+08:00", "Asia/Shanghai"),
    # The minute before local midnight on an ordinary day (UTC is on the next day).
    ("chicago-before-midnight", "2027-06-15T23:59:00-05:00", "America/Chicago"),
]

MOMENTS: dict[str, Moment] = {
    name: Moment(name, pd.Timestamp(at).tz_convert("UTC"), tz) for name, at, tz in _LIST
}
ALL = tuple(MOMENTS)
FEW = ("today", "chicago-fall-back-0130-second", "shanghai-new-year-0000",
       "chicago-before-midnight")  # fmt: skip
