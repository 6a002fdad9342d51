"""Serialised responses kept in memory, dropped the moment their thread changes.

Every entry belongs to a scope (a thread key) and remembers the scope's generation when it
was read. A write bumps the generation after it commits, so every later ``get`` misses. A
reader notes the generation before it reads the database and stores its result under that
generation, so a slow read can never put a stale page back into the cache.

Generations live in a small memory-mapped file shared by every kibitz process on the
machine (``SharedGenerations``): a comment posted through one worker invalidates the pages
cached by all of them, without any database round trip on the read path.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import mmap
import os
import struct
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class Generations(Protocol):
    def get(self, scope: str) -> int: ...

    def bump(self, scope: str) -> None: ...


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

    @classmethod
    def of(cls, body: bytes) -> Entry:
        return cls(body, '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"')


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    invalidations: int = 0
    evictions: int = 0


@dataclass
class ResponseCache:
    max_bytes: int = 64 * 1024 * 1024
    generations: Generations = field(default_factory=LocalGenerations)
    stats: CacheStats = field(default_factory=CacheStats)

    def __post_init__(self) -> None:
        self._entries: OrderedDict[tuple[str, Hashable], Entry] = OrderedDict()
        self._by_scope: dict[str, set[Hashable]] = {}
        self._bytes = 0

    def generation(self, scope: str) -> int:
        return self.generations.get(scope)

    def get(self, scope: str, variant: Hashable) -> Entry | None:
        entry = self._entries.get((scope, variant))
        if entry is None or entry.generation != self.generations.get(scope):
            self.stats.misses += 1
            return None
        self._entries.move_to_end((scope, variant))
        self.stats.hits += 1
        return entry

    def put(self, scope: str, variant: Hashable, entry: Entry, generation: int) -> bool:
        """Keep ``entry``, read when the scope was at ``generation``, unless it changed since."""
        if self.generations.get(scope) != generation or len(entry.body) > self.max_bytes:
            return False
        entry = Entry(entry.body, entry.etag, generation)
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
        self.generations.bump(scope)
        for variant in self._by_scope.pop(scope, ()):
            entry = self._entries.pop((scope, variant), None)
            if entry is not None:
                self._bytes -= len(entry.body)
        self.stats.invalidations += 1

    def clear(self) -> None:
        for scope in list(self._by_scope):
            self.invalidate(scope)

    @property
    def size_bytes(self) -> int:
        return self._bytes
