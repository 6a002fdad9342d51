"""Kibitz's own content checks, registered through the same hook as third-party plugins.

Each looks only at the comment itself (no database): links, block lists, the honeypot, the
time taken to fill the form, the offensive-language score. The checks that need the database
(bans, pre-moderation and trust, repeats) live in ``kibitz.services.policies``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urlsplit

from kibitz.plugins import Candidate, Finding, hookimpl
from kibitz.settings import Settings

_HREF = re.compile(r"<a\s[^>]*href=\"([^\"]*)\"", re.IGNORECASE)


def links_of(html: str) -> list[str]:
    """The addresses a rendered comment links to (Markdown links and bare URLs alike)."""
    return [h.replace("&amp;", "&") for h in _HREF.findall(html)]


def domain_blocked(host: str, blocked: list[str]) -> str | None:
    host = host.lower().rstrip(".")
    for domain in blocked:
        d = domain.lower().strip().lstrip(".").removeprefix("www.")
        if d and (host == d or host.endswith("." + d)):
            return d
    return None


@lru_cache(maxsize=256)
def _words_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    alternatives = [re.escape(" ".join(w.split())).replace(r"\ ", r"\s+") for w in words if w]
    if not alternatives:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


class Links:
    @hookimpl
    def kibitz_check_comment(self, settings: Settings, comment: Candidate) -> Finding | None:
        n, most = len(links_of(comment.body_html)), settings.moderation_max_links
        if n > most:
            return Finding("links", "hold", f"{n} links (more than {most})")
        return None


class BlockedWords:
    @hookimpl
    def kibitz_check_comment(self, settings: Settings, comment: Candidate) -> Finding | None:
        pattern = _words_pattern(tuple(settings.moderation_block_words))
        if pattern is None:
            return None
        text = f"{comment.author_name}\n{comment.author_url or ''}\n{comment.body}"
        found = pattern.search(text)
        if found:
            return Finding("blocked_word", "hold", f"blocked word: {found.group(0)!r}")
        return None


class BlockedDomains:
    @hookimpl
    def kibitz_check_comment(self, settings: Settings, comment: Candidate) -> Finding | None:
        if not settings.moderation_block_domains:
            return None
        urls = [*links_of(comment.body_html), comment.author_url or ""]
        for url in urls:
            host = urlsplit(url).hostname or ""
            domain = domain_blocked(host, settings.moderation_block_domains) if host else None
            if domain:
                return Finding("blocked_domain", "hold", f"links to {domain}")
        return None


class Honeypot:
    """A field people never see (hidden from sight and from screen readers) that bots fill."""

    @hookimpl
    def kibitz_check_comment(self, comment: Candidate) -> Finding | None:
        if comment.honeypot and comment.honeypot.strip():
            return Finding("honeypot", "spam", "filled the hidden field")
        return None


class FillTime:
    """People take seconds to write a comment; simple bots post the moment they load a form.

    A comment without the form's token is held rather than taken for spam: a bot that leaves
    the token out must not skip the check, and a widget cached from before tokens, or a
    reader's own script, still reaches a moderator."""

    @hookimpl
    def kibitz_check_comment(self, settings: Settings, comment: Candidate) -> Finding | None:
        if not comment.form_token_valid:
            return Finding("form_token", "spam", "the form token was forged or damaged")
        age, least = comment.form_age, settings.moderation_min_fill_seconds
        if age is None:
            if least > 0 and not comment.edit:
                return Finding("no_form_token", "hold", "sent without the form's token")
            return None
        if age < least:
            return Finding("too_fast", "spam", f"sent {age:.1f} s after the form was shown")
        return None


class Offensive:
    @hookimpl
    def kibitz_check_comment(self, settings: Settings, comment: Candidate) -> Finding | None:
        score = comment.offensive
        if score is not None and score * 100 > settings.moderation_offensive_threshold:
            return Finding("offensive", "hold", f"offensive-language score {score * 100:.0f}%")
        return None


BUILTIN = [Links(), BlockedWords(), BlockedDomains(), Honeypot(), FillTime(), Offensive()]
