"""Conditional requests: does the client already hold the representation it asks for?"""

from __future__ import annotations

import re

# an entity-tag: optionally weak (W/), then an opaque quoted string, which may hold commas
_TAG = re.compile(r'\s*(?:W/)?("[^"]*")\s*(?:,|$)')


def none_match(if_none_match: str, etag: str) -> bool:
    """True when an If-None-Match header names ``etag`` (a quoted entity-tag): ``*``, or a
    comma-separated list of tags compared weakly (W/"x" matches "x", RFC 9110 13.1.2). A
    header that is not a valid list matches nothing: the client gets the full answer."""
    header = if_none_match.strip()
    if not header:
        return False
    if header == "*":
        return True
    tags, at = [], 0
    while at < len(header):
        m = _TAG.match(header, at)
        if m is None:
            return False
        tags.append(m.group(1))
        at = m.end()
    return etag.removeprefix("W/") in tags
