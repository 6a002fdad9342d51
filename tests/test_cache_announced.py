"""The response cache of a process that learns of changes from others over Redis: used only
while announcements are known to arrive, and never serving what was cached before an
outage."""

from __future__ import annotations

from kibitz.cache import AnnouncedGenerations, Entry, ResponseCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _cache(trusted: list[bool], clock: Clock) -> tuple[ResponseCache, AnnouncedGenerations]:
    generations = AnnouncedGenerations(lambda: trusted[0])
    return ResponseCache(generations=generations, max_age=60, clock=clock), generations


def test_the_cache_is_bypassed_while_announcements_may_be_missed() -> None:
    trusted, clock = [True], Clock()
    cache, _ = _cache(trusted, clock)
    g = cache.generation("/t")
    assert cache.put("/t", "page", Entry.of(b"v1"), g)
    assert cache.get("/t", "page") is not None
    trusted[0] = False  # Redis unheard from for too long
    assert cache.get("/t", "page") is None
    assert not cache.put("/t", "page", Entry.of(b"v2"), cache.generation("/t"))
    assert cache.stats.bypasses == 1


def test_after_a_reconnect_nothing_cached_before_is_served_or_stored() -> None:
    trusted, clock = [True], Clock()
    cache, generations = _cache(trusted, clock)
    g = cache.generation("/t")
    assert cache.put("/t", "page", Entry.of(b"v1"), g)
    slow_reader = cache.generation("/t")  # a read that started before the outage
    generations.new_epoch()
    cache.forget()
    assert cache.get("/t", "page") is None
    assert not cache.put("/t", "page", Entry.of(b"old"), slow_reader)


def test_an_announced_change_drops_the_entry_and_tells_listeners() -> None:
    trusted, clock = [True], Clock()
    cache, _ = _cache(trusted, clock)
    told: list[str] = []
    cache.listeners.append(told.append)
    announced: list[str] = []
    cache.announce = announced.append
    assert cache.put("/t", "page", Entry.of(b"v1"), cache.generation("/t"))
    cache.changed("/t")  # from another process: not announced again
    assert cache.get("/t", "page") is None and told == ["/t"] and announced == []
    cache.invalidate("/t")  # here: announced to the others
    assert told == ["/t", "/t"] and announced == ["/t"]


def test_entries_expire_after_max_age() -> None:
    trusted, clock = [True], Clock()
    cache, _ = _cache(trusted, clock)
    assert cache.put("/t", "page", Entry.of(b"v1"), cache.generation("/t"))
    clock.now += 59
    assert cache.get("/t", "page") is not None
    clock.now += 2
    assert cache.get("/t", "page") is None
