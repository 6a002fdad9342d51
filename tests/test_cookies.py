"""The reader's cookies: their Set-Cookie header is the one Litestar would write."""

from __future__ import annotations

import pytest
from litestar.datastructures import Cookie

from kibitz.web.reader import PartitionedCookie, ReaderCookie

SHAPES = [
    {"key": "kibitz_voter", "value": "abc_DEF-12.sig_-x", "max_age": 31536000, "path": "/",
     "httponly": True, "secure": True, "samesite": "none"},
    {"key": "kibitz_edit_12", "value": "tok.sig", "max_age": 900,
     "path": "/api/v1/comments/12", "httponly": True, "secure": False, "samesite": "lax"},
    {"key": "k", "value": "needs quoting; yes", "path": "/", "samesite": "lax"},
    {"key": "k", "value": "v", "expires": 1700000000, "path": "/x", "samesite": "strict"},
    {"key": "k", "value": "v", "domain": "example.org", "max_age": 0, "samesite": "lax"},
    {"key": "k", "value": "", "path": "/", "samesite": "lax"},
]  # fmt: skip


@pytest.mark.parametrize("shape", SHAPES)
def test_header_is_litestars(shape: dict[str, object]) -> None:
    expected = Cookie(**shape)  # type: ignore[arg-type]
    ours = ReaderCookie(**shape)  # type: ignore[arg-type]
    assert ours.to_encoded_header() == expected.to_encoded_header()
    assert ours.to_header() == expected.to_header()
    partitioned = PartitionedCookie(**shape)  # type: ignore[arg-type]
    assert partitioned.to_header() == expected.to_header() + "; Partitioned"
