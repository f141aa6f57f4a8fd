"""A stand-in solver for tests/web/test_plan_jobs.py that never finishes by itself (it must be
a module the plan job's child process can import)."""

from __future__ import annotations

import time


def never_finishes(send, problem, options) -> None:
    time.sleep(3600)
