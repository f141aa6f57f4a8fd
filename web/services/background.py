"""Work a server process does by itself in the background (``hotspot serve``): one daemon
thread per task, called at a fixed interval of the real clock until stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["Periodic"]

log = logging.getLogger(__name__)


class Periodic:
    """A daemon thread that calls ``step()`` every ``interval_s`` seconds until
    :meth:`stop`; a step that fails is logged and the next one runs as planned."""

    def __init__(self, name: str, interval_s: float, step: Callable[[], None]) -> None:
        if not interval_s > 0:
            raise ValueError(f"{name}: the interval must be > 0 s, got {interval_s!r}")
        self._name = name
        self._interval_s = float(interval_s)
        self._step = step
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> Periodic:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stopped.wait(self._interval_s):
            try:
                self._step()
            except Exception:  # noqa: BLE001 - the task keeps running; the log says why
                log.exception("%s failed", self._name)
