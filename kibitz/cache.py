"""Serialised responses kept in memory, dropped the moment their thread changes.

Every entry belongs to a scope (a thread key) and remembers the scope's generation when it
was read. A write bumps the generation after it commits, so every later ``get`` misses. A
reader notes the generation before it reads the database and stores its result under that
generation, so a slow read can never put a stale page back into the cache.

Generations live in a small memory-mapped file shared by every kibitz process on the
machine (``SharedGenerations``): a comment posted through one worker invalidates the pages
cached by all of them, without any database round trip on the read path.

With Redis (several machines), each process keeps its own generations
(``AnnouncedGenerations``) and every change is announced to the others over Redis pub/sub
(kibitz/bus.py). The read path still makes no network round trip. A process uses its cache
only while it knows announcements reach it: it last heard from Redis less than
``redis_stale_seconds`` ago; otherwise every read goes to the database. After a reconnect
it starts a new epoch, so nothing cached before the outage is served again.

Whatever the mode, an entry older than ``max_age`` seconds is read again: that bounds how
long a change whose announcement was lost (a process killed between its commit and its
announcement) can stay unseen.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import mmap
import os
import struct
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class Generations(Protocol):
    def get(self, scope: str) -> int | None:
        """The scope's generation; None while the cache must not be used."""

    def bump(self, scope: str) -> None: ...


class AnnouncedGenerations:
    """Generations of one process, kept current by the changes other processes announce.

    ``trusted`` says whether announcements are known to arrive now (kibitz/bus.py).
    """

    def __init__(self, trusted: Callable[[], bool]) -> None:
        self._trusted = trusted
        self._gens: dict[str, int] = {}
        self._epoch = 0

    def get(self, scope: str) -> int | None:
        if not self._trusted():
            return None
        return (self._epoch << 32) + self._gens.get(scope, 0)

    def bump(self, scope: str) -> None:
        self._gens[scope] = (self._gens.get(scope, 0) + 1) & 0xFFFFFFFF

    def new_epoch(self) -> None:
        """Announcements may have been missed: no generation read before now matches again."""
        self._epoch += 1
        self._gens.clear()


class LocalGenerations:
    """Generations for a single process."""

    def __init__(self) -> None:
        self._gens: dict[str, int] = {}

    def get(self, scope: str) -> int:
        return self._gens.get(scope, 0)

    def bump(self, scope: str) -> None:
        self._gens[scope] = self._gens.get(scope, 0) + 1


class SharedGenerations:
    """Generations in a file mapped into every process: one 64-bit counter per slot, scopes
    hashed onto slots (a collision only costs a spurious miss). Bumps take a file lock."""

    SLOTS = 1 << 16

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        size = self.SLOTS * 8
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < size:
                os.ftruncate(fd, size)
            self._map = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self._lock_fd = os.open(self.path, os.O_RDWR)

    def _slot(self, scope: str) -> int:
        return _slot_offset(scope, self.SLOTS)

    def get(self, scope: str) -> int:
        value: int = struct.unpack_from("<Q", self._map, self._slot(scope))[0]
        return value

    def bump(self, scope: str) -> None:
        offset = self._slot(scope)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            (value,) = struct.unpack_from("<Q", self._map, offset)
            struct.pack_into("<Q", self._map, offset, (value + 1) % (1 << 64))
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self._map.close()
        os.close(self._lock_fd)


@functools.lru_cache(maxsize=1 << 16)
def _slot_offset(scope: str, slots: int) -> int:
    # every cached read looks its thread's slot up: hash each thread key once
    digest = hashlib.blake2b(scope.encode("utf-8"), digest_size=8).digest()
    return (int.from_bytes(digest, "little") % slots) * 8


@dataclass(frozen=True, slots=True)
class Entry:
    body: bytes
    etag: str
    generation: int = 0
    stored_at: float = 0.0

    @classmethod
    def of(cls, body: bytes) -> Entry:
        return cls(body, '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"')


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    invalidations: int = 0
    evictions: int = 0
    # reads that could not use the cache (with Redis: announcements not known to arrive)
    bypasses: int = 0


@dataclass
class ResponseCache:
    max_bytes: int = 64 * 1024 * 1024
    generations: Generations = field(default_factory=LocalGenerations)
    stats: CacheStats = field(default_factory=CacheStats)
    max_age: float = 60.0
    # tells other processes that a scope changed (kibitz/bus.py); nothing for one process
    announce: Callable[[str], None] = field(default=lambda scope: None, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        self._entries: OrderedDict[tuple[str, Hashable], Entry] = OrderedDict()
        self._by_scope: dict[str, set[Hashable]] = {}
        self._bytes = 0
        # called with the scope after every change, here or announced (the live hub)
        self.listeners: list[Callable[[str], None]] = []

    def generation(self, scope: str) -> int | None:
        return self.generations.get(scope)

    def get(self, scope: str, variant: Hashable) -> Entry | None:
        generation = self.generations.get(scope)
        if generation is None:
            self.stats.bypasses += 1
            self.stats.misses += 1
            return None
        entry = self._entries.get((scope, variant))
        if (
            entry is None
            or entry.generation != generation
            or self.clock() - entry.stored_at > self.max_age
        ):
            self.stats.misses += 1
            return None
        self._entries.move_to_end((scope, variant))
        self.stats.hits += 1
        return entry

    def put(self, scope: str, variant: Hashable, entry: Entry, generation: int | None) -> bool:
        """Keep ``entry``, read when the scope was at ``generation``, unless it changed since."""
        if (
            generation is None
            or self.generations.get(scope) != generation
            or len(entry.body) > self.max_bytes
        ):
            return False
        entry = Entry(entry.body, entry.etag, generation, self.clock())
        key = (scope, variant)
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= len(old.body)
        self._entries[key] = entry
        self._bytes += len(entry.body)
        self._by_scope.setdefault(scope, set()).add(variant)
        while self._bytes > self.max_bytes:
            (old_scope, old_variant), dropped = self._entries.popitem(last=False)
            self._bytes -= len(dropped.body)
            variants = self._by_scope.get(old_scope)
            if variants is not None:
                variants.discard(old_variant)
                if not variants:
                    del self._by_scope[old_scope]
            self.stats.evictions += 1
        return True

    def invalidate(self, scope: str) -> None:
        """The scope changed here (after the commit): drop it, and tell everyone."""
        self.changed(scope)
        self.announce(scope)

    def changed(self, scope: str) -> None:
        """The scope changed, here or in another process that announced it."""
        self.generations.bump(scope)
        self._drop(scope)
        self.stats.invalidations += 1
        for listener in self.listeners:
            listener(scope)

    def _drop(self, scope: str) -> None:
        for variant in self._by_scope.pop(scope, ()):
            entry = self._entries.pop((scope, variant), None)
            if entry is not None:
                self._bytes -= len(entry.body)

    def forget(self) -> None:
        """Drop every entry of this process (announcements may have been missed)."""
        for scope in list(self._by_scope):
            self._drop(scope)

    def clear(self) -> None:
        for scope in list(self._by_scope):
            self.invalidate(scope)

    @property
    def size_bytes(self) -> int:
        return self._bytes
