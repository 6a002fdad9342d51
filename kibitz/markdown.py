"""Comment bodies: CommonMark rendered once, at write time, then sanitised with nh3.

Raw HTML in a comment is never interpreted. By default it is dropped: its tags go, the text
between them stays (``<b>hi</b>`` reads "hi"), and what is not text at all (scripts,
styles, HTML comments) goes whole; ``raw_html="text"`` shows it as typed instead, as text.
Images become their alt text unless the site allows them. Whatever markdown-it produces
then passes an allow-list sanitiser, so a bug in the renderer still cannot let a script
through.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from html import escape
from typing import Any, Literal

import nh3
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from kibitz.linkify import FastLinkify

TAGS = {
    "p", "br", "hr", "blockquote", "pre", "code", "em", "strong", "del", "s",
    "a", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
}  # fmt: skip
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "nofollow ugc noopener"
_EMPTY_PARAGRAPH = re.compile(r"<p>\s*</p>\n?")
RawHtml = Literal["drop", "text"]
RAW_HTML_MODES: tuple[RawHtml, ...] = ("drop", "text")
# nh3.Cleaner holds a built sanitiser: nh3.clean builds one from its arguments on every call
_TEXT_ONLY = nh3.Cleaner(tags=set(), strip_comments=True)


def _image_as_text(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    return escape(self.renderInlineAsText(token.children or [], options, env))


def _drop(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return ""  # an inline tag (or HTML comment): the text around it is a token of its own


def _block_as_text(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """A block of raw HTML: its text as a paragraph, without the tags; nh3 drops what is
    not text (script and style with their content, comments) and escapes the rest."""
    text = _TEXT_ONLY.clean(tokens[idx].content).strip()
    return f"<p>{text}</p>\n" if text else ""


@functools.lru_cache(maxsize=8)
def _renderer(images: bool, raw_html: RawHtml) -> MarkdownIt:
    options = {"html": raw_html == "drop", "linkify": True, "typographer": False}
    md = MarkdownIt("commonmark", options)
    md.enable(["linkify", "strikethrough"])
    md.linkify = FastLinkify()
    md.validateLink = _safe_link  # type: ignore[method-assign]
    if not images:
        md.add_render_rule("image", _image_as_text)
    md.add_render_rule("html_inline", _drop)
    md.add_render_rule("html_block", _block_as_text)
    return md


def _safe_link(url: str) -> bool:
    scheme = url.split(":", 1)[0].strip().lower() if ":" in url else ""
    return scheme in ("", *URL_SCHEMES)


@functools.lru_cache(maxsize=4)
def _cleaner(images: bool, new_tab: bool) -> nh3.Cleaner:
    tags = TAGS | ({"img"} if images else set())
    attributes: dict[str, set[str]] = {"a": {"href", "title"}}
    if images:
        attributes["img"] = {"src", "alt", "title"}
    extra: dict[str, Any] = {}
    if new_tab:
        extra["set_tag_attribute_values"] = {"a": {"target": "_blank"}}
    return nh3.Cleaner(
        tags=tags,
        attributes=attributes,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
        strip_comments=True,
        **extra,
    )


def sanitise(html: str, *, images: bool = False, new_tab: bool = True) -> str:
    return _cleaner(images, new_tab).clean(html)


def render(
    text: str, *, images: bool = False, new_tab: bool = True, raw_html: RawHtml = "drop"
) -> str:
    """Markdown to the HTML that is stored and served."""
    html = _renderer(images, raw_html).render(text)
    if raw_html == "drop":  # a paragraph of tags alone leaves nothing to show
        html = _EMPTY_PARAGRAPH.sub("", html)
    return sanitise(html, images=images, new_tab=new_tab).strip()
