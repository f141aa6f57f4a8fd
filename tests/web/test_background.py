"""web.services.background.Periodic: a step that fails is logged and the next one runs."""

from __future__ import annotations

import time

import pytest

from web.services.background import Periodic


def test_a_failing_step_does_not_stop_the_task(caplog) -> None:
    calls: list[int] = []

    def step() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first step fails")

    task = Periodic("test-task", 0.01, step).start()
    deadline = time.monotonic() + 5
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    task.stop()
    assert len(calls) >= 3
    assert "test-task failed" in caplog.text and "first step fails" in caplog.text
    stopped_at = len(calls)
    time.sleep(0.05)
    assert len(calls) == stopped_at  # stopped: no more steps


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval"):
        Periodic("bad", 0, lambda: None)
