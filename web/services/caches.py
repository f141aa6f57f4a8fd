"""The site's one in-memory cache: least recently used entries, bounded by count and bytes.

Every value the site keeps between requests (its incident data, scores, map layers,
backtests, encoded API answers, accounts, street graphs) is kept in a :class:`Cache`:

- **bounded** by ``max_entries`` and, optionally, ``max_bytes`` (estimated by
  :func:`size_of`); the least recently used entries go first, and a value larger than
  ``max_bytes`` on its own is returned but not kept;
- **thread-safe**: one lock per cache, never held while a value is loaded; callers asking
  for a key that is being loaded wait for that load instead of repeating it;
- **short-lived** when given ``ttl_s``: an entry is used at most that many seconds after
  its load began;
- **cleared by writes** when given ``tables``: a write to one of them through any engine of
  this process (:func:`web.storage.on_writes`) drops the entries of that database at once,
  and a load that overlapped the write is not kept. Keys of such caches start with the
  database key (:func:`web.storage.database_key`).

``derived=True`` marks caches of values computed from the site's incident data, keyed
``(database, data version, ...)``: :func:`clear_derived` empties them (benchmarks score
afresh that way) and :func:`forget_other_versions` drops what an import made stale.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
import types
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from web import storage

__all__ = ["Cache", "clear_derived", "forget_other_versions", "size_of"]

_MISSING = object()
_caches: weakref.WeakSet[Cache] = weakref.WeakSet()


@dataclasses.dataclass
class _Entry:
    value: object
    size: int
    stored_at: float  # time.monotonic() when its load began


class _Load:
    """A load in progress: other callers of the same key wait for it."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.thread = threading.get_ident()
        self.value: object = _MISSING


class Cache:
    """A bounded, thread-safe least-recently-used map (see the module notes).

    ``ttl_s`` is read at every look-up, so it may be changed on a live cache.
    """

    def __init__(
        self,
        name: str,
        *,
        max_entries: int = 256,
        max_bytes: int | None = None,
        ttl_s: float | None = None,
        tables: Iterable[str] = (),
        derived: bool = False,
    ) -> None:
        if max_entries < 1 or (max_bytes is not None and max_bytes < 1):
            raise ValueError(f"cache {name}: bounds must be positive")
        self.name = name
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self.derived = derived
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._bytes = 0
        # Bumped by writes (per database) and by clear(): a load that began before is not kept.
        self._generations: dict[Hashable, int] = {}
        self._epoch = 0
        self._loads: dict[Hashable, _Load] = {}
        tables = tuple(tables)
        if tables:
            storage.on_writes(tables, self.forget)
        _caches.add(self)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        """Estimated bytes of the kept values (0 for a cache without ``max_bytes``)."""
        return self._bytes

    def get(self, key: Hashable, default: object = None) -> Any:
        """The kept value of ``key`` (and mark it recently used), else ``default``."""
        with self._lock:
            value = self._lookup(key, time.monotonic())
        return default if value is _MISSING else value

    def put(self, key: Hashable, value: object) -> bool:
        """Keep ``value`` under ``key``; False when it is larger than ``max_bytes``."""
        size = size_of(value) if self.max_bytes is not None else 0
        with self._lock:
            return self._store(key, value, size, time.monotonic())

    def get_or_load(self, key: Hashable, load: Callable[[], Any]) -> Any:
        """The kept value of ``key``, else ``load()`` (kept unless a write or ``clear``
        overlapped it). Concurrent callers of one key share one load."""
        while True:
            began = time.monotonic()
            with self._lock:
                value = self._lookup(key, began)
                if value is not _MISSING:
                    return value
                pending = self._loads.get(key)
                if pending is None:
                    pending = self._loads[key] = _Load()
                    generation = (self._epoch, self._generations.get(_database_of(key), 0))
                    break
            if pending.thread == threading.get_ident():
                raise RuntimeError(f"cache {self.name}: loading {key!r} needs itself")
            pending.done.wait()
            if pending.value is not _MISSING:
                return pending.value
            # That load failed: try it here (and raise its error here if it fails again).
        try:
            value = load()
            size = size_of(value) if self.max_bytes is not None else 0
        except BaseException:
            with self._lock:
                del self._loads[key]
            pending.done.set()
            raise
        with self._lock:
            del self._loads[key]
            current = (self._epoch, self._generations.get(_database_of(key), 0))
            if current == generation:
                self._store(key, value, size, began)
        pending.value = value
        pending.done.set()
        return value

    def discard(self, predicate: Callable[[Hashable], bool]) -> int:
        """Drop the entries whose key satisfies ``predicate``; returns how many."""
        with self._lock:
            stale = [key for key in self._entries if predicate(key)]
            for key in stale:
                self._drop(key)
        return len(stale)

    def forget(self, database: str) -> None:
        """Drop the entries of one database (called on writes to the watched tables)."""
        with self._lock:
            self._generations[database] = self._generations.get(database, 0) + 1
            for key in [k for k in self._entries if _database_of(k) == database]:
                self._drop(key)

    def clear(self) -> None:
        """Drop every entry; loads under way are not kept."""
        with self._lock:
            self._epoch += 1
            self._entries.clear()
            self._bytes = 0

    # --- under the lock -------------------------------------------------------------------

    def _lookup(self, key: Hashable, now: float) -> object:
        entry = self._entries.get(key)
        if entry is None:
            return _MISSING
        ttl_s = self.ttl_s
        if ttl_s is not None and not now - entry.stored_at < ttl_s:
            self._drop(key)
            return _MISSING
        self._entries.move_to_end(key)
        return entry.value

    def _store(self, key: Hashable, value: object, size: int, stored_at: float) -> bool:
        if key in self._entries:
            self._drop(key)
        if self.max_bytes is not None and size > self.max_bytes:
            return False
        self._entries[key] = _Entry(value, size, stored_at)
        self._bytes += size
        while len(self._entries) > self.max_entries or (
            self.max_bytes is not None and self._bytes > self.max_bytes
        ):
            self._drop(next(iter(self._entries)))
        return True

    def _drop(self, key: Hashable) -> None:
        self._bytes -= self._entries.pop(key).size


def _database_of(key: Hashable) -> Hashable:
    """The database a key belongs to: its first element (caches cleared by writes)."""
    return key[0] if isinstance(key, tuple) and key else key


def clear_derived() -> None:
    """Empty every cache of values computed from the site data (the data itself stays)."""
    for cache in list(_caches):
        if cache.derived:
            cache.clear()


def forget_other_versions(
    database: str, version: Hashable, scores_key: Hashable | None = None
) -> None:
    """Drop derived values of ``database`` computed from a data version other than
    ``version`` (after an import they are stale), except those keyed by ``scores_key``
    (scores and other slow values follow the score runs, not every feed batch)."""
    kept = (version, scores_key)

    def stale(key: Hashable) -> bool:
        return isinstance(key, tuple) and len(key) > 1 and key[0] == database and key[1] not in kept

    for cache in list(_caches):
        if cache.derived:
            cache.discard(stale)


# --- sizes ------------------------------------------------------------------------------------

_ATOMS = (type(None), bool, int, float, complex, str, bytes, bytearray)
_SHARED = (type, types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.ModuleType)


def size_of(value: object) -> int:
    """Estimated bytes held by ``value``: numpy arrays by their buffers, pandas objects by
    their columns and index (strings included), bytes and str by what they hold, and
    containers, dataclasses and plain objects by their parts, each object counted once.
    Classes, functions and modules count as nothing (they are shared, not held)."""
    seen: set[int] = set()
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, _ATOMS):
            total += sys.getsizeof(item)
        elif isinstance(item, np.ndarray):
            total += item.nbytes
            if item.dtype == object:
                stack.extend(item.ravel().tolist())
        elif isinstance(item, pd.DataFrame | pd.Series | pd.Index):
            usage = item.memory_usage(deep=True)
            total += int(usage.sum()) if isinstance(usage, pd.Series) else int(usage)
        elif isinstance(item, pd.Categorical):
            total += int(item.memory_usage(deep=True))
        elif isinstance(item, dict):
            total += sys.getsizeof(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += sys.getsizeof(item)
            stack.extend(item)
        elif isinstance(item, _SHARED):
            continue
        else:
            total += sys.getsizeof(item)
            if dataclasses.is_dataclass(item):
                stack.extend(getattr(item, f.name) for f in dataclasses.fields(item))
            if hasattr(item, "__dict__"):
                stack.append(vars(item))
    return total
