"""The shortcuts taken to render quickly change nothing: byte for byte, the same HTML.

Rendering is the bulk of an import's work, so it takes shortcuts: linkify-it's checks answered
sooner (kibitz/linkify.py), nh3 sanitisers built once, escapes and white space left alone in
text that needs neither (kibitz/porting/htmltext.py), text without combining marks normalised
without looking at each character (kibitz/anchoring.py). A comment must come out exactly as
it did before them, or an imported comment would differ from the same Markdown posted new.
Each shortcut is compared here with the plain way on a varied corpus: the XSS payloads, the
sample export files of every format, generated Disqus bodies, tricky Markdown, and
random mixtures of the characters that matter, with every rendering setting.
"""

from __future__ import annotations

import functools
import itertools
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nh3
import pytest
from linkify_it import LinkifyIt
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from bench.disqus_export import body as generated_body
from kibitz import anchoring, markdown
from kibitz.linkify import FastLinkify
from kibitz.porting import htmltext
from kibitz.porting.plan import markdown_of
from kibitz.porting.records import SourceComment
from kibitz.porting.sources import commento, disqus, isso, remark42, wordpress
from tests.test_markdown_xss import PAYLOADS

DATA = Path(__file__).parent / "data"
SETTINGS = list(itertools.product((False, True), (False, True), markdown.RAW_HTML_MODES))

TRICKY = [
    "plain words only",
    "*a* **b** ~~c~~ `d` _e_ __f__ ***g*** ~h~",
    "> quoted\n\n- one\n- two\n\n1. first\n2) second\n\n* * *\n\n# h1\n\nSetext\n===\n\nSub\n---",
    "    indented code\n\n```python\nfenced <b>\n```\n\n~~~\ntilde\n~~~",
    "see https://example.org/a_(b)?c=d&e=f#g, and http://x.example. too",
    "www.example.com and example.com and sub.example.co.uk/path and 192.168.0.1 and localhost:8000",
    "mail me: someone@example.org or mailto:someone@example.org or <someone@example.org>",
    "<https://ok.example> <http://a.b/c?d> <ftp://files.example.org> <javascript:alert(1)>",
    "user&#64;example&#46;com and www&#46;example&#46;org and http&#58;//x.org",
    "http\\://escaped.example and \\<b> and \\*not em\\*",
    '[text](https://example.org "title") [ref][1] ![img](https://ex.org/i.png "t")\n\n[1]: /u',
    "![alt *em*](https://ex.org/i.png) and ![](data:image/png;base64,xx)",
    "a < b > c & d &amp; &copy; &#169; &#xA9; &notanentity; &#0; &#x110000;",
    "<b>bold</b> <i>it</i> <a href='https://x.org'>link</a> <!-- note --> <br/> <img src=x>",
    "<div>\nblock\n</div>\n\n<script>alert(1)</script>\n\n<style>p{}</style>\n\n<p>para</p>",
    "line one  \nline two\\\nline three\nline four",
    "日本語のテキスト https://例え.テスト/パス and фронт мост données naïve",
    "e\u0301 \u212b \u0958 \u1100\u1161 \xa0nbsp\u3000ideographic \u2028 sep \x1c fs",
    "emoji 👍🏽 and 🇫🇷 and \u200d zwj and \ufe0f vs",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "HTTP://EXAMPLE.ORG/UPPER and WWW.EXAMPLE.ORG and Https://Mixed.Example",
    "a.b.c.d and x.com. and .com and ..org and e.g. i.e. etc.",
    "@mention and @ alone and a@b and a@b.c and 1.2.3.4@x.org",
    "footnote-ish[^1] and ~~strike~~through and **bold**text and *x*y",
    "",
    "   \n\n  \t ",
    "<p>   </p>",
    "text\x00with nul\r\nand crlf\rand cr",
]

PIECES = [
    "a", "word", " ", "  ", "\n", "\n\n", "\t", "*", "**", "_", "__", "~", "~~", "`", "```",
    "[", "]", "(", ")", "<", ">", "&", "&amp;", "&#64;", "&#46;", "&#58;", "&#x3a;", "#", "-",
    "+", "1.", "|", "\\", "!", "@", ":", "/", "//", ".", "http://", "https://x.org", "www.",
    "example.com", "mail@ex.org", "localhost", "LOCALHOST", "localho\u017ft", "\u212a", ".com",
    ".рф", "<b>",
    "</b>", "<p>", "</p>", "<a href='http://x.org'>", "</a>", "<img src=x alt=y>", "<script>",
    "</script>", "<!--", "-->", "é", "e\u0301", "\u212b", "\u0958", "\u1100\u1161", "\xa0",
    "\u3000", "\x1c", "\u2028", "日本", "фронт", "<br>", "<pre>", "</pre>", "<code>",
    "</code>", "<blockquote>", "</blockquote>", "<ul><li>", "</li></ul>", "<h2>", "</h2>",
    "&lt;", "&copy;",
]  # fmt: skip


def _fuzz(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(PIECES) for _ in range(rng.randint(1, 30))) for _ in range(n)]


def _sample_comments() -> list[SourceComment]:
    out: list[SourceComment] = []
    readers: list[tuple[Any, str]] = [
        (disqus.parse, "disqus.xml"),
        (wordpress.parse, "wordpress.xml"),
        (isso.parse_json, "isso.json"),
        (remark42.parse, "remark42.jsonl"),
        (commento.parse, "commento.json"),
    ]
    for parse, name in readers:
        with (DATA / name).open("rb") as f:
            out += [r for r in parse(f) if isinstance(r, SourceComment)]
    return out


@functools.cache
def corpus() -> list[str]:
    """Markdown: as typed, and as imports make it from other systems' HTML."""
    samples = _sample_comments()
    rng = random.Random(10)
    generated = [htmltext.html_to_markdown(generated_body(rng)) for _ in range(100)]
    return [
        *TRICKY,
        *PAYLOADS,
        *(markdown_of(c) for c in samples),
        *(c.body for c in samples),  # their HTML, as if typed into a comment
        *generated,
        *_fuzz(300, seed=11),
    ]


# -- the plain way: markdown-it with linkify-it as it is, nh3.clean given its arguments


def _plain_block_as_text(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    text = nh3.clean(tokens[idx].content, tags=set(), strip_comments=True).strip()
    return f"<p>{text}</p>\n" if text else ""


@functools.cache
def _plain_renderer(images: bool, raw_html: markdown.RawHtml) -> MarkdownIt:
    md = markdown._renderer.__wrapped__(images, raw_html)  # a new one, not the shared one
    md.linkify = LinkifyIt()
    md.add_render_rule("html_block", _plain_block_as_text)
    return md


def plain_render(text: str, images: bool, new_tab: bool, raw_html: markdown.RawHtml) -> str:
    html = _plain_renderer(images, raw_html).render(text)
    if raw_html == "drop":
        html = re.sub(r"<p>\s*</p>\n?", "", html)
    attributes = {"a": {"href", "title"}} | ({"img": {"src", "alt", "title"}} if images else {})
    return nh3.clean(
        html,
        tags=markdown.TAGS | ({"img"} if images else set()),
        attributes=attributes,
        url_schemes=markdown.URL_SCHEMES,
        link_rel=markdown.LINK_REL,
        strip_comments=True,
        set_tag_attribute_values={"a": {"target": "_blank"}} if new_tab else None,
    ).strip()


def test_the_served_renderer_takes_the_shortcuts() -> None:
    """Otherwise the comparisons below compare the plain way with itself."""
    for images, raw_html in itertools.product((False, True), markdown.RAW_HTML_MODES):
        assert isinstance(markdown._renderer(images, raw_html).linkify, FastLinkify)
        assert not isinstance(_plain_renderer(images, raw_html).linkify, FastLinkify)


@pytest.mark.parametrize(("images", "new_tab", "raw_html"), SETTINGS)
def test_rendering_is_the_same_as_the_plain_way(
    images: bool, new_tab: bool, raw_html: markdown.RawHtml
) -> None:
    different = []
    for text in corpus():
        fast = markdown.render(text, images=images, new_tab=new_tab, raw_html=raw_html)
        if fast != plain_render(text, images, new_tab, raw_html):
            different.append(text)
    assert different == []


def _texts_linkify_sees() -> list[str]:
    """What markdown-it asks linkify-it about: each paragraph's source, each text token."""
    md = markdown._renderer(False, "drop")
    out = []
    for text in corpus():
        for token in md.parse(text):
            if token.type == "inline":
                out.append(token.content)
                out += [child.content for child in token.children or [] if child.content]
    return out + _fuzz(300, seed=12)


def test_linkify_answers_as_linkify_it_does() -> None:
    fast, plain = FastLinkify(), LinkifyIt()
    texts = _texts_linkify_sees()
    assert sum(map(plain.pretest, texts)) > 100  # both answers are well represented
    assert [fast.pretest(t) for t in texts] == [plain.pretest(t) for t in texts]
    assert [fast.test(t) for t in texts] == [bool(plain.test(t)) for t in texts]


def test_linkify_with_a_scheme_without_colon_or_slash_asks_linkify_it() -> None:
    """An added scheme name without ':' or '/' defeats the shortcut: it is not taken."""
    fast, plain = FastLinkify().add("git", "http:"), LinkifyIt().add("git", "http:")
    assert fast._fast is None
    for text in ("see git", "gitx.org", "a git.example.org", "nothing"):
        assert fast.pretest(text) == plain.pretest(text)
        assert fast.test(text) == bool(plain.test(text))


def _strings() -> list[str]:
    return [*corpus(), *_fuzz(300, seed=13), *(c.body for c in _sample_comments())]


def test_html_to_markdown_shortcuts_are_exact() -> None:
    """Text without a character to escape, and white space that is single spaces already,
    are left as they are: exactly what the escapes and the substitution give."""

    def escaped(text: str) -> str:
        text = htmltext._INLINE_SPECIAL.sub(r"\\\1", text)
        text = htmltext._ENTITY_LIKE.sub(r"\\&", text)
        return htmltext._EDGE_UNDERSCORE.sub(r"\\_", text)

    for text in _strings():
        assert htmltext._escape_inline(text) == escaped(text), text
        unchanged = htmltext._SPACES.sub(" ", text) == text
        assert (htmltext._ODD_SPACE.search(text) is None) == unchanged, text


def test_normalised_text_is_the_same_as_cluster_by_cluster() -> None:
    for text in [*_strings(), *(markdown.render(t) for t in corpus())]:
        fast, plain = anchoring._Text(), anchoring._Text()
        fast.add(text)
        plain.add_clusters(text)
        assert (fast.text(), fast.space) == (plain.text(), plain.space), text
