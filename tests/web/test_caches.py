"""The site's one cache: byte and entry bounds, time to live, clearing on writes, threads."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from web import storage
from web.services import caches
from web.services.caches import Cache, size_of

# Every test that uses a database runs on SQLite and on PostgreSQL (tests/web/conftest.py).
pytestmark = pytest.mark.databases()


def _array(n_bytes: int) -> np.ndarray:
    return np.zeros(n_bytes // 8, dtype=np.int64)


def test_sizes_count_buffers_text_and_parts_once() -> None:
    assert size_of(_array(8000)) == 8000
    assert size_of(b"x" * 1000) >= 1000
    assert size_of("y" * 1000) >= 1000
    numbers = pd.DataFrame({"a": np.arange(1000, dtype=np.int64)})
    texts = numbers.assign(b=[f"text number {i}" for i in range(1000)])
    assert 8000 <= size_of(numbers) < 9000
    assert size_of(texts) > size_of(numbers) + 10_000

    @dataclass
    class Pair:
        left: np.ndarray
        right: np.ndarray

    shared = _array(80_000)
    assert 80_000 <= size_of(Pair(shared, shared)) < 81_000  # one buffer, counted once
    assert 160_000 <= size_of(Pair(shared, _array(80_000))) < 161_000
    assert size_of({"k": [shared, (shared,)]}) < 81_000


def test_byte_bound_drops_the_least_recently_used_and_refuses_larger_values() -> None:
    cache = Cache("test bytes", max_entries=100, max_bytes=10_000)
    for key in "abc":
        assert cache.put(key, _array(4000))
    assert cache.get("a") is None  # 12,000 bytes did not fit: the oldest went
    assert cache.get("b") is not None and cache.get("c") is not None
    assert cache.bytes <= 10_000
    cache.get("b")  # now c is the least recently used
    cache.put("d", _array(4000))
    assert cache.get("c") is None and cache.get("b") is not None

    big = _array(20_000)
    assert not cache.put("big", big)
    assert cache.get("big") is None
    assert cache.get_or_load("big", lambda: big) is big  # returned, not kept
    assert cache.get("big") is None
    assert cache.bytes == sum(size_of(cache.get(k)) for k in ("b", "d")) == 8000


def test_entry_bound_keeps_the_most_recently_used() -> None:
    cache = Cache("test entries", max_entries=2)
    cache.put(1, "one")
    cache.put(2, "two")
    assert cache.get(1) == "one"
    cache.put(3, "three")
    assert cache.get(2) is None
    assert (cache.get(1), cache.get(3), len(cache)) == ("one", "three", 2)


def test_time_to_live_is_read_at_every_look_up() -> None:
    cache = Cache("test ttl", ttl_s=3600.0)
    loads = []

    def load():
        loads.append(1)
        return len(loads)

    assert cache.get_or_load("k", load) == 1
    assert cache.get_or_load("k", load) == 1
    cache.ttl_s = 0.0  # every entry is now too old
    assert cache.get("k") is None
    assert cache.get_or_load("k", load) == 2
    cache.ttl_s = 0.05
    assert cache.get_or_load("k", load) == 2
    time.sleep(0.1)
    assert cache.get_or_load("k", load) == 3


def test_writes_to_watched_tables_clear_that_database(engine) -> None:
    database = storage.database_key(engine)
    cache = Cache("test writes", ttl_s=3600.0, tables=("users",))
    other = Cache("test other tables", ttl_s=3600.0, tables=("plans",))
    cache.put((database, "a"), 1)
    cache.put(("sqlite:///another.db", "a"), 2)
    other.put((database, "a"), 3)
    storage.create_user(engine, "cache-test", "not-a-real-hash", "commander")
    assert cache.get((database, "a")) is None
    assert cache.get(("sqlite:///another.db", "a")) == 2  # another database keeps its entries
    assert other.get((database, "a")) == 3

    def read_during_a_write():
        storage.create_user(engine, "cache-test-2", "not-a-real-hash", "commander")
        return "read while writing"

    # A value whose load overlapped a write is returned but not kept.
    assert cache.get_or_load((database, "b"), read_during_a_write) == "read while writing"
    assert cache.get((database, "b")) is None
    assert cache.get_or_load((database, "b"), lambda: "fresh") == "fresh"
    assert cache.get((database, "b")) == "fresh"


def test_derived_caches_clear_together_and_drop_other_versions() -> None:
    derived = Cache("test derived", derived=True)
    kept = Cache("test not derived")
    for version in ((1, 1), (2, 2)):
        derived.put(("db", version, "scores"), version)
    derived.put(("other db", (1, 1), "scores"), "other")
    kept.put(("db", (1, 1)), "data")
    caches.forget_other_versions("db", (2, 2))
    assert derived.get(("db", (1, 1), "scores")) is None
    assert derived.get(("db", (2, 2), "scores")) == (2, 2)
    assert derived.get(("other db", (1, 1), "scores")) == "other"
    caches.clear_derived()
    assert len(derived) == 0 and kept.get(("db", (1, 1))) == "data"


def test_concurrent_callers_share_one_load() -> None:
    cache = Cache("test one load")
    started, release = threading.Event(), threading.Event()
    calls = []

    def slow_load():
        calls.append(1)
        started.set()
        release.wait(5)
        return object()

    results = []

    def ask():
        results.append(cache.get_or_load("key", slow_load))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    started.wait(5)
    time.sleep(0.05)  # let the others reach the wait
    release.set()
    for thread in threads:
        thread.join(5)
    assert len(calls) == 1
    assert len(results) == 8 and all(r is results[0] for r in results)


def test_a_failed_load_raises_and_the_next_caller_tries_again() -> None:
    cache = Cache("test failures")

    def broken():
        raise ValueError("no data")

    with pytest.raises(ValueError, match="no data"):
        cache.get_or_load("k", broken)
    assert cache.get_or_load("k", lambda: "ok") == "ok"

    def needs_itself():
        return cache.get_or_load("loop", needs_itself)

    with pytest.raises(RuntimeError, match="needs itself"):
        cache.get_or_load("loop", needs_itself)


def test_bounds_hold_under_many_threads() -> None:
    cache = Cache("test threads", max_entries=50, max_bytes=200_000, ttl_s=3600.0)
    errors = []

    def work(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for _ in range(400):
                key = int(rng.integers(0, 200))
                size = int(rng.integers(1, 10)) * 1000
                value = cache.get_or_load(key, lambda size=size: _array(size))
                assert isinstance(value, np.ndarray)
                if rng.random() < 0.1:
                    cache.discard(lambda k: k % 7 == 0)
                if rng.random() < 0.2:
                    cache.put(key, _array(size))
        except Exception as err:  # reported by the main thread
            errors.append(err)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert len(cache) <= 50
    assert cache.bytes <= 200_000
    kept = [cache.get(k) for k in range(200)]
    assert cache.bytes == sum(v.nbytes for v in kept if v is not None)
