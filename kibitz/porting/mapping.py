"""Which kibitz thread an imported page's comments go to: its key and address.

By default the key is the path of the page's old address (``https://old.example/2021/06/x/``
becomes ``/2021/06/x/``), which is what the widget uses when a page gives no key. A publisher
who moved can rewrite address prefixes (``--map https://old.example/blog/ https://new.example/``)
or give an exact table (``--map-file``, CSV of old address or identifier, new key or address).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Literal
from urllib.parse import urlsplit

from kibitz.porting.records import SourceThread
from kibitz.services import threads as thread_service
from kibitz.services.errors import Invalid

KeyFrom = Literal["path", "url", "identifier"]


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def _path(url: str) -> str:
    parts = urlsplit(url)
    path = parts.path or "/"
    return path + ("?" + parts.query if parts.query else "")


@dataclass(frozen=True)
class KeyMapping:
    key_from: KeyFrom = "path"
    rewrites: tuple[tuple[str, str], ...] = ()
    exact: Mapping[str, str] = field(default_factory=dict)

    def _rewrite(self, value: str) -> str:
        for old, new in self.rewrites:
            if value.startswith(old):
                return new + value[len(old) :]
        return value

    def target(self, thread: SourceThread) -> tuple[str, str] | None:
        """(key, url) for the thread, or None when it has nothing usable as a key."""
        url, ident = thread.url.strip(), thread.identifier.strip()
        new_url = self._rewrite(url)
        key = ""
        for candidate in (url, ident):
            if candidate and candidate in self.exact:
                mapped = self.exact[candidate].strip()
                if _is_url(mapped):
                    new_url = mapped
                    key = mapped if self.key_from == "url" else _path(mapped)
                else:
                    key = mapped
                break
        if not key:
            ident = self._rewrite(ident)
            if self.key_from == "identifier" and ident:
                key = ident
            elif self.key_from == "url" and _is_url(new_url):
                key = new_url
            elif _is_url(new_url):
                key = _path(new_url)
            else:
                key = ident or new_url
        try:
            key = thread_service.check_key(key)
        except Invalid:
            return None
        try:
            new_url = thread_service.check_url(new_url, "url") if _is_url(new_url) else ""
        except Invalid:
            new_url = ""
        return key, new_url


def read_map_file(file: IO[str]) -> dict[str, str]:
    """Two columns per row: an old address or identifier, and the new key or address.
    Blank lines and lines starting with # are ignored."""
    out: dict[str, str] = {}
    text = file.read()
    for n, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise ValueError(f"line {n}: expected two columns, old,new")
        out[row[0].strip()] = row[1].strip()
    return out


def read_rewrites(text: str) -> tuple[tuple[str, str], ...]:
    """Address prefixes to rewrite, one ``OLD NEW`` pair a line (the dashboard's field for
    what ``--map OLD NEW`` gives on the command line). Blank lines and # comments are
    ignored."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) != 2:
            raise ValueError(f"line {n}: expected an old and a new prefix, separated by a space")
        out.append((parts[0], parts[1]))
    return tuple(out)
