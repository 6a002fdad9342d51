"""A third-party check, loaded by module path as a site would (``moderation_plugins``)."""

from __future__ import annotations

from kibitz.plugins import Candidate, Finding, hookimpl
from kibitz.settings import Settings


@hookimpl
def kibitz_check_comment(settings: Settings, comment: Candidate) -> list[Finding] | None:
    letters = [ch for ch in comment.body if ch.isalpha()]
    if len(letters) >= 10 and all(ch.isupper() for ch in letters):
        return [Finding("shouting", "hold", "all capitals")]
    if "cheap watches" in comment.body.lower():
        return [Finding("watches", "spam", "sells watches")]
    return None
