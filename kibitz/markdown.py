"""Comment bodies: CommonMark rendered once, at write time, then sanitised with nh3.

Raw HTML in a comment is shown as text, never interpreted. Images become their alt text
unless the site allows them. Whatever markdown-it produces then passes an allow-list
sanitiser, so a bug in the renderer still cannot let a script through.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from html import escape
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

TAGS = {
    "p", "br", "hr", "blockquote", "pre", "code", "em", "strong", "del", "s",
    "a", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
}  # fmt: skip
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "nofollow ugc noopener"


def _image_as_text(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    return escape(self.renderInlineAsText(token.children or [], options, env))


@functools.lru_cache(maxsize=4)
def _renderer(images: bool) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": True, "typographer": False})
    md.enable(["linkify", "strikethrough"])
    md.validateLink = _safe_link  # type: ignore[method-assign]
    if not images:
        md.add_render_rule("image", _image_as_text)
    return md


def _safe_link(url: str) -> bool:
    scheme = url.split(":", 1)[0].strip().lower() if ":" in url else ""
    return scheme in ("", *URL_SCHEMES)


def sanitise(html: str, *, images: bool = False, new_tab: bool = True) -> str:
    tags = TAGS | ({"img"} if images else set())
    attributes: dict[str, set[str]] = {"a": {"href", "title"}}
    if images:
        attributes["img"] = {"src", "alt", "title"}
    extra: dict[str, Any] = {}
    if new_tab:
        extra["set_tag_attribute_values"] = {"a": {"target": "_blank"}}
    return nh3.clean(
        html,
        tags=tags,
        attributes=attributes,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
        strip_comments=True,
        **extra,
    )


def render(text: str, *, images: bool = False, new_tab: bool = True) -> str:
    """Markdown to the HTML that is stored and served."""
    html = _renderer(images).render(text)
    return sanitise(html, images=images, new_tab=new_tab).strip()
