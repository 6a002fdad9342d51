"""Plugin points: checks a site adds to moderation without forking kibitz (pluggy hooks).

A plugin is a module or object with functions marked ``@hookimpl``. Kibitz loads the
installed packages that declare an entry point in the ``kibitz`` group, and the modules named
in the ``moderation_plugins`` setting. Kibitz's own checks (links, block lists, honeypot, fill
time, offensive language) are registered through the same hook. For example, an Akismet check::

    from kibitz.plugins import Finding, hookimpl

    @hookimpl
    def kibitz_check_comment(settings, comment):
        if akismet_says_spam(comment.body, comment.ip, comment.user_agent):
            return Finding("akismet", "spam", "Akismet says spam")

Hooks run on a worker thread, so a check may block (on the network, say) without stalling
the server; it should still answer within a second or two, since the reader is waiting.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from typing import Literal

import pluggy

from kibitz.settings import Settings

hookspec = pluggy.HookspecMarker("kibitz")
hookimpl = pluggy.HookimplMarker("kibitz")

Action = Literal["hold", "spam"]


@dataclass(frozen=True)
class Candidate:
    """A comment about to be stored, as the checks see it.

    ``ip`` is the raw client address, in memory only: kibitz never stores it (a plugin that
    sends it elsewhere, as Akismet asks, takes that decision for the site)."""

    thread: str
    body: str
    body_html: str
    author_name: str
    author_email: str | None
    author_url: str | None
    parent_id: int | None
    voter_id: str | None
    ip_hash: str | None
    ip: str | None
    user_agent: str | None
    honeypot: str | None
    # seconds since the form was shown (None: the client sent no form token)
    form_age: float | None
    form_token_valid: bool
    # the offensive-language model's probability (0..1)
    offensive: float | None
    # an author's edit of their comment: no form was shown for it, so it has no form token
    edit: bool = False


@dataclass(frozen=True)
class Finding:
    """Why a comment should wait for a moderator (``hold``) or go to the spam queue."""

    code: str
    action: Action
    note: str = ""


class Specs:
    @hookspec
    def kibitz_check_comment(
        self, settings: Settings, comment: Candidate
    ) -> Finding | list[Finding] | None:
        """Look at a comment before it is stored. Return a Finding (or several) to hold it
        for moderation or mark it as spam, or None to let it through."""


@functools.lru_cache(maxsize=8)
def _manager(extra: tuple[str, ...]) -> pluggy.PluginManager:
    from kibitz.services import checks

    pm = pluggy.PluginManager("kibitz")
    pm.add_hookspecs(Specs)
    for plugin in checks.BUILTIN:
        pm.register(plugin, name=f"kibitz.{type(plugin).__name__}")
    pm.load_setuptools_entrypoints("kibitz")
    for module in extra:
        if pm.get_plugin(module) is None:
            pm.register(importlib.import_module(module), name=module)
    return pm


def manager(settings: Settings) -> pluggy.PluginManager:
    return _manager(tuple(settings.moderation_plugins))


def builtin_only(settings: Settings) -> bool:
    """Whether only kibitz's own checks run: they look at the text alone and never wait (no
    network, no files), so they may run on the event loop rather than a worker thread."""
    return _builtin_only(tuple(settings.moderation_plugins))


@functools.lru_cache(maxsize=8)
def _builtin_only(extra: tuple[str, ...]) -> bool:
    from kibitz.services import checks

    own = {id(plugin) for plugin in checks.BUILTIN}
    return all(id(plugin) in own for plugin in _manager(extra).get_plugins())


def check(settings: Settings, comment: Candidate) -> list[Finding]:
    """Every finding of every check (blocking: run it on a worker thread)."""
    found: list[Finding] = []
    for result in manager(settings).hook.kibitz_check_comment(settings=settings, comment=comment):
        if isinstance(result, Finding):
            found.append(result)
        elif isinstance(result, list):
            found.extend(r for r in result if isinstance(r, Finding))
    return found
