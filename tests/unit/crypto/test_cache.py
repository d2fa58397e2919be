"""TtlLruCache: TTL with an injected clock, LRU eviction, the bound, and threads."""

from __future__ import annotations

import threading

import pytest

from skms.crypto.cache import TtlLruCache


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_entry_lives_until_ttl_and_not_at_ttl(clock: FakeClock) -> None:
    # Given an entry put at t0 with a 10 s TTL
    cache: TtlLruCache[str] = TtlLruCache(max_entries=4, ttl_seconds=10, clock=clock)
    cache.put("k", "v")
    # When time moves just short of the TTL; Then it is there
    clock.now += 9.999
    assert cache.get("k") == "v"
    # When time reaches the TTL; Then it is gone, and dropped from the cache
    clock.now += 0.001
    assert cache.get("k") is None
    assert len(cache) == 0


def test_get_does_not_extend_ttl(clock: FakeClock) -> None:
    cache: TtlLruCache[str] = TtlLruCache(max_entries=4, ttl_seconds=10, clock=clock)
    cache.put("k", "v")
    for _ in range(9):
        clock.now += 1
        assert cache.get("k") == "v"
    clock.now += 1
    assert cache.get("k") is None


def test_put_again_replaces_value_and_restarts_ttl(clock: FakeClock) -> None:
    cache: TtlLruCache[str] = TtlLruCache(max_entries=4, ttl_seconds=10, clock=clock)
    cache.put("k", "old")
    clock.now += 8
    cache.put("k", "new")
    clock.now += 8
    assert cache.get("k") == "new"
    assert len(cache) == 1


def test_least_recently_used_is_evicted_first(clock: FakeClock) -> None:
    # Given a full cache of a, b, c where a was read after c was put
    cache: TtlLruCache[int] = TtlLruCache(max_entries=3, ttl_seconds=60, clock=clock)
    for i, key in enumerate("abc"):
        cache.put(key, i)
    assert cache.get("a") == 0
    # When d is put; Then b (least recently used) is evicted
    cache.put("d", 3)
    assert cache.get("b") is None
    assert [cache.get(k) for k in "acd"] == [0, 2, 3]
    # When e is put after a, c, d were read in that order; Then a goes
    cache.put("e", 4)
    assert cache.get("a") is None
    assert [cache.get(k) for k in "cde"] == [2, 3, 4]


def test_put_of_an_existing_key_refreshes_its_recency(clock: FakeClock) -> None:
    cache: TtlLruCache[int] = TtlLruCache(max_entries=2, ttl_seconds=60, clock=clock)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 10)
    cache.put("c", 3)
    assert cache.get("b") is None
    assert cache.get("a") == 10


def test_bound_is_respected(clock: FakeClock) -> None:
    cache: TtlLruCache[int] = TtlLruCache(max_entries=10, ttl_seconds=60, clock=clock)
    for i in range(100):
        cache.put(i, i)
        assert len(cache) <= 10
    assert len(cache) == 10
    assert [cache.get(i) for i in range(90, 100)] == list(range(90, 100))
    assert all(cache.get(i) is None for i in range(90))


def test_single_entry_cache(clock: FakeClock) -> None:
    cache: TtlLruCache[str] = TtlLruCache(max_entries=1, ttl_seconds=1, clock=clock)
    cache.put("a", "1")
    cache.put("b", "2")
    assert (cache.get("a"), cache.get("b"), len(cache)) == (None, "2", 1)


def test_discard_and_clear(clock: FakeClock) -> None:
    cache: TtlLruCache[str] = TtlLruCache(max_entries=4, ttl_seconds=60, clock=clock)
    cache.put("a", "1")
    cache.put("b", "2")
    cache.discard("a")
    cache.discard("missing")
    assert (cache.get("a"), cache.get("b")) == (None, "2")
    cache.clear()
    assert len(cache) == 0
    assert cache.get("b") is None


def test_tuple_keys(clock: FakeClock) -> None:
    cache: TtlLruCache[bytes] = TtlLruCache(max_entries=4, ttl_seconds=60, clock=clock)
    cache.put(("project", "key", 1), b"v1")
    cache.put(("project", "key", 2), b"v2")
    assert cache.get(("project", "key", 1)) == b"v1"
    assert cache.get(("project", "key", 3)) is None


@pytest.mark.parametrize(("max_entries", "ttl"), [(0, 10), (-1, 10), (1, 0), (1, -5)])
def test_invalid_parameters(max_entries: int, ttl: float) -> None:
    with pytest.raises(ValueError):
        TtlLruCache(max_entries=max_entries, ttl_seconds=ttl)


def test_repr_does_not_show_values(clock: FakeClock) -> None:
    cache: TtlLruCache[bytes] = TtlLruCache(max_entries=4, ttl_seconds=60, clock=clock)
    cache.put("k", b"secret-material")
    assert "secret" not in repr(cache)
    assert "1 entries" in repr(cache)


def test_default_clock_is_real_time() -> None:
    cache: TtlLruCache[str] = TtlLruCache(max_entries=2, ttl_seconds=60)
    cache.put("k", "v")
    assert cache.get("k") == "v"


def test_many_threads_keep_the_bound_and_never_mix_values() -> None:
    # Given a small cache shared by many threads
    bound = 32
    cache: TtlLruCache[tuple[int, int]] = TtlLruCache(max_entries=bound, ttl_seconds=60)
    errors: list[BaseException] = []
    barrier = threading.Barrier(16)

    def worker(n: int) -> None:
        try:
            barrier.wait()
            for i in range(2000):
                key = (n * 7 + i) % 100
                cache.put(key, (key, key * 3))
                got = cache.get((key + n) % 100)
                if got is not None and got != ((key + n) % 100, ((key + n) % 100) * 3):
                    raise AssertionError(f"wrong value {got} for key {(key + n) % 100}")
                if i % 100 == 0:
                    cache.discard(key)
                    assert len(cache) <= bound
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    # When they all put, get and discard at once
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    # Then nothing failed and the bound held
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert 0 < len(cache) <= bound
