"""The embeddable widget at the site root: ``/embed.js``, ``/embed.css`` and ``/count.js``.

Host pages load these by a fixed address (``<script src=".../embed.js">``), so the files are
cached for an hour, may be used stale for a day while the browser revalidates, and revalidate
cheaply with their ETag. The files served are the minified build in static/min/ (made from the
readable sources in static/ by `make widget`, tools/build_widget.py); each is compressed once
(gzip -9) when it is first asked for, and again only when the file changes.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import Request, Response, get

from kibitz.web.conditional import none_match

STATIC = Path(__file__).resolve().parent.parent / "static"
BUILT = STATIC / "min"
FILES = {
    "embed.js": "text/javascript; charset=utf-8",
    "embed.css": "text/css; charset=utf-8",
    "count.js": "text/javascript; charset=utf-8",
}
CACHE_CONTROL = "public, max-age=3600, stale-while-revalidate=86400"


@dataclass(frozen=True)
class Asset:
    mtime_ns: int
    body: bytes
    gzipped: bytes
    etag: str

    def etag_for(self, gz: bool) -> str:
        # a strong ETag names one representation: the gzipped body gets its own
        return f'"{self.etag}-gz"' if gz else f'"{self.etag}"'


_assets: dict[str, Asset] = {}


def load(name: str) -> Asset:
    """The built file, compressed and hashed; made again only when it changed on disk."""
    path = BUILT / name
    mtime = path.stat().st_mtime_ns
    cached = _assets.get(name)
    if cached is not None and cached.mtime_ns == mtime:
        return cached
    body = path.read_bytes()
    asset = Asset(
        mtime_ns=mtime,
        body=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0),
        etag=hashlib.sha256(body).hexdigest()[:20],
    )
    _assets[name] = asset
    return asset


def accepts_gzip(accept_encoding: str) -> bool:
    for part in accept_encoding.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            q = params.strip().lower().removeprefix("q=").strip()
            try:
                return not q or float(q) > 0
            except ValueError:
                return True
    return False


@get(
    ["/embed.js", "/embed.css", "/count.js"],
    include_in_schema=False,
    exclude_from_csrf=True,
)
async def widget_file(request: Request[Any, Any, Any]) -> Response[bytes]:
    """One of the widget's files, gzipped when the client takes it, 304 when it has it."""
    name = request.url.path.rsplit("/", 1)[-1]
    asset = load(name)
    gz = accepts_gzip(request.headers.get("accept-encoding", ""))
    etag = asset.etag_for(gz)
    headers = {
        "Cache-Control": CACHE_CONTROL,
        "ETag": etag,
        "Vary": "Accept-Encoding",
        # host pages that isolate themselves (COEP) may still load the widget
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if none_match(request.headers.get("if-none-match", ""), etag):
        return Response(b"", status_code=304, headers=headers)
    if gz:
        headers["Content-Encoding"] = "gzip"
    body = asset.gzipped if gz else asset.body
    return Response(body, media_type=FILES[name], headers=headers)
