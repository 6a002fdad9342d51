"""No script from a comment can ever run: bodies, names and addresses against known attacks.

Safety is judged by parsing the output as a browser would (html.parser), not by looking for
substrings: only allowed tags, no event handlers, no style, and links only to http(s)/mailto
with rel="nofollow ugc noopener".
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from typing import Any

import pytest

from kibitz.markdown import RAW_HTML_MODES, TAGS, RawHtml, render
from tests.factories import post_comment, read_thread

PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<img src=x onerror=alert(1)>",
    '<img src="x" onerror="alert(\'x\')"/>',
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<iframe src=javascript:alert(1)></iframe>",
    "<iframe srcdoc='<script>alert(1)</script>'></iframe>",
    "<object data=javascript:alert(1)></object>",
    "<embed src=javascript:alert(1)>",
    "<body onload=alert(1)>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<p style="x:expression(alert(1))">x</p>',
    '<a href="javascript:alert(1)">click</a>',
    '<a href="JaVaScRiPt:alert(1)">click</a>',
    '<a href="&#106;avascript:alert(1)">click</a>',
    '<a href="jav&#x09;ascript:alert(1)">click</a>',
    "<details open ontoggle=alert(1)>",
    "<input autofocus onfocus=alert(1)>",
    "<form action=javascript:alert(1)><button>go</button></form>",
    '<base href="javascript:alert(1)//">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "<link rel=stylesheet href=javascript:alert(1)>",
    "<style>@import 'javascript:alert(1)';</style>",
    "<!--<img src=x onerror=alert(1)>-->",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<template><script>alert(1)</script></template>",
    "<video><source onerror=alert(1)></video>",
    "<audio src=x onerror=alert(1)>",
    "<marquee onstart=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JAVASCRIPT:alert(1))",
    "[click]( javascript:alert(1) )",
    "[click](javascript&colon;alert(1))",
    "[click](&#x6A;avascript:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](file:///etc/passwd)",
    "[a](<javascript:alert(1)>)",
    "<javascript:alert(1)>",
    "<data:text/html,<script>alert(1)</script>>",
    "![x](javascript:alert(1))",
    '![x" onerror="alert(1)](http://x.example/a.png)',
    '![x](http://x.example/a.png"onerror="alert(1))',
    "[x][ref]\n\n[ref]: javascript:alert(1)",
    '[x][ref]\n\n[ref]: http://ok.example "title\\" onmouseover=\\"alert(1)"',
    '[a](http://x.example "title" onclick="alert(1))',
    "[<img src=x onerror=alert(1)>](http://ok.example)",
    '[x](http://ok.example/"onmouseover="alert(1))',
    "`<script>alert(1)</script>`",
    "```html\n<script>alert(1)</script>\n```",
    "> <script>alert(1)</script>",
    "* <img src=x onerror=alert(1)>",
    "**<svg/onload=alert(1)>**",
    '"><script>alert(1)</script>',
    "'><img src=x onerror=alert(1)>",
    "</textarea><script>alert(1)</script>",
    "</p></div></article><script>alert(1)</script>",
    '<a href="http://ok.example" onclick="alert(1)">x</a>',
    '<a href="http://ok.example" target=_self rel=opener>x</a>',
    "https://ok.example/<script>alert(1)</script>",
    'www.example.org/?q="><script>alert(1)</script>',
    "\u202e<script>alert(1)</script>",
    "<scr\x00ipt>alert(1)</scr\x00ipt>",
    "<img src=`x` onerror=alert(1)>",
    "<xss onafterscriptexecute=alert(1)><script>1</script>",
    "<isindex action=javascript:alert(1) type=image>",
    '<a href="#" style="position:fixed;top:0;left:0;width:100%;height:100%">cover</a>',
]

ALLOWED_SCHEMES = ("http:", "https:", "mailto:")


class Inspector(HTMLParser):
    """Reports what could run script or restyle the page. ``page=True`` judges a whole
    page of ours, where layout tags, classes and our own links are expected."""

    def __init__(self, *, allowed: frozenset[str] = frozenset(TAGS), page: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.allowed = allowed
        self.page = page
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        dangerous = ("script", "iframe", "object", "embed", "style", "base", "meta", "svg", "math")
        if (tag not in self.allowed and not self.page) or tag in dangerous:
            self.problems.append(f"tag <{tag}>")
        names = {name for name, _ in attrs}
        banned = ("style", "srcdoc", "formaction") if self.page else (
            "style", "srcdoc", "formaction", "class", "id")  # fmt: skip
        for name, value in attrs:
            if name.startswith("on") or name in banned:
                self.problems.append(f"attribute {name}")
            if name in ("href", "src", "action"):
                url = re.sub(r"[\x00-\x20]", "", html.unescape(value or "")).lower()
                if ":" in url.split("/")[0] and not url.startswith(ALLOWED_SCHEMES):
                    self.problems.append(f"{name}={value!r}")
        if tag == "a" and not self.page:
            rel = (dict(attrs).get("rel") or "").split()
            if "href" in names and not {"nofollow", "ugc", "noopener"} <= set(rel):
                self.problems.append(f"link without rel: {attrs}")


def problems(markup: str, **options: Any) -> list[str]:
    inspector = Inspector(**options)
    inspector.feed(markup)
    inspector.close()
    return inspector.problems


def test_there_are_at_least_fifty_payloads() -> None:
    assert len(set(PAYLOADS)) >= 50


def test_the_inspector_catches_what_it_must() -> None:
    """The checker itself can fail: unsafe markup is reported."""
    assert problems("<script>alert(1)</script>")
    assert problems('<a href="javascript:alert(1)" rel="nofollow ugc noopener">x</a>')
    assert problems('<a href=" jav&#x09;ascript:alert(1)">x</a>')
    assert problems('<p onclick="x">x</p>')
    assert problems('<a href="https://ok.example">no rel</a>')
    assert not problems('<p><a href="https://ok.example" rel="nofollow ugc noopener">ok</a></p>')


@pytest.mark.parametrize("raw_html", RAW_HTML_MODES)
@pytest.mark.parametrize("payload", PAYLOADS)
def test_rendered_body_is_safe(payload: str, raw_html: RawHtml) -> None:
    assert problems(render(payload, raw_html=raw_html)) == []
    with_images = render(payload, images=True, raw_html=raw_html)
    assert problems(with_images, allowed=frozenset(TAGS | {"img"})) == []


@pytest.mark.parametrize("raw_html", RAW_HTML_MODES)
async def test_payloads_posted_through_the_api_are_stored_safe(
    make_client: Any, raw_html: RawHtml
) -> None:
    client = await make_client(
        rate_limits="comment.voter=1000/60,comment.ip=1000/60", markdown_raw_html=raw_html
    )
    stored = 0
    for payload in PAYLOADS:
        body = payload.replace("\x00", "")
        answer = await post_comment(
            client, body, thread="/xss", author_name=payload[:100].strip() or "x", expect=None
        )
        if "error" in answer:  # only when dropping raw HTML leaves nothing to show
            assert raw_html == "drop" and answer["error"]["code"] == "nothing_to_show", answer
        else:
            stored += 1
    page = await read_thread(client, "/xss", limit=200)
    assert len(page["comments"]) == stored > len(PAYLOADS) // 2
    for c in page["comments"]:
        assert problems(c["body_html"]) == [], c["body_html"]
    # names come back as plain text, exactly as typed
    names = {c["author"]["name"] for c in page["comments"]}
    assert "<script>alert(1)</script>" in names


async def test_names_and_bodies_are_escaped_on_the_page_and_in_feeds(make_client: Any) -> None:
    client = await make_client(rate_limits="comment.voter=1000/60,comment.ip=1000/60")
    evil = [p for p in PAYLOADS if "<" in p][:20]
    for payload in evil:
        await post_comment(client, f"Quoting: {payload}", thread="/xss", author_name=payload[:100])
    page = (await client.get("/discussion", params={"thread": "/xss", "sort": "oldest"})).text
    assert problems(page[page.index("<body") :], page=True) == []
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 2  # shown, as text
    for feed in ("/feeds/recent.atom", "/feeds/thread.atom?thread=/xss"):
        root = ET.fromstring((await client.get(feed)).content)  # well-formed XML
        for content in root.iter("{http://www.w3.org/2005/Atom}content"):
            assert problems(content.text or "") == []


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "http://exa mple.org",
        "https://",
        "http://x.example:port/",
        "ftp://files.example.org",
    ],
)
async def test_unsafe_websites_are_refused(client: Any, url: str) -> None:
    refused = await post_comment(client, author_url=url, expect=422)
    assert refused["error"]["field"] == "author_url"


def test_ordinary_markdown_renders_as_a_reader_expects() -> None:
    assert render("*a* **b** ~~c~~ `d`") == (
        "<p><em>a</em> <strong>b</strong> <s>c</s> <code>d</code></p>"
    )
    assert render("> quoted\n\n- one\n- two") == (
        "<blockquote>\n<p>quoted</p>\n</blockquote>\n<ul>\n<li>one</li>\n<li>two</li>\n</ul>"
    )
    link = "https://journal-neo.org/2019/04/28/sri-lanka-us-saudi-terror-targets-chinas-allies/"
    assert render(f"see {link}") == (
        f'<p>see <a href="{link}" target="_blank" rel="nofollow ugc noopener">{link}</a></p>'
    )
    assert render("[x](https://ok.example)", new_tab=False) == (
        '<p><a href="https://ok.example" rel="nofollow ugc noopener">x</a></p>'
    )


def test_raw_html_is_dropped_keeping_its_text_and_images_are_their_alt_text() -> None:
    assert render("I <3 <b>bold</b> & <i>true</i>") == "<p>I &lt;3 bold &amp; true</p>"
    assert render("<script>alert(1)</script>\n\nstill here") == "<p>still here</p>"
    assert render("before <script>alert(1)</script> after") == "<p>before alert(1) after</p>"
    assert render("<style>p {color: red}</style>") == ""
    assert render("<!-- a note to myself -->Hello") == "<p>Hello</p>"
    assert render("<p>Typed as <em>HTML</em></p>") == "<p>Typed as HTML</p>"
    assert render("<div>\nline one\nline two\n</div>") == "<p>line one\nline two</p>"
    assert render("one\n\n<svg onload=alert(1)></svg>\n\ntwo") == "<p>one</p>\n<p>two</p>"
    # what looks like HTML but is not: left alone
    assert render("a < b and `<b>`, <https://ok.example>") == (
        '<p>a &lt; b and <code>&lt;b&gt;</code>, <a href="https://ok.example" target="_blank" '
        'rel="nofollow ugc noopener">https://ok.example</a></p>'
    )
    assert render("![a chart](https://ok.example/c.png)") == "<p>a chart</p>"
    assert render("![a chart](https://ok.example/c.png)", images=True) == (
        '<p><img src="https://ok.example/c.png" alt="a chart"></p>'
    )


def test_raw_html_can_be_shown_as_text_instead() -> None:
    assert render("I <3 <b>bold</b>", raw_html="text") == "<p>I &lt;3 &lt;b&gt;bold&lt;/b&gt;</p>"
    assert render("<script>alert(1)</script>", raw_html="text") == (
        "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
    )


async def test_the_sites_setting_applies_to_posts_and_previews(make_client: Any) -> None:
    for mode, shown in [
        ("drop", "<p>hi there</p>"),
        ("text", "<p>&lt;b&gt;hi&lt;/b&gt; there</p>"),
    ]:
        client = await make_client(markdown_raw_html=mode)
        assert (await post_comment(client, "<b>hi</b> there"))["body_html"] == shown
        preview = await client.post("/api/v1/preview", json={"body": "<b>hi</b> there"})
        assert preview.json() == {"body_html": shown}


async def test_a_comment_that_is_only_raw_html_is_refused_not_stored_empty(client: Any) -> None:
    for body in ("<script>alert(1)</script>", "<div><img src=x onerror=alert(1)></div>"):
        refused = await post_comment(client, body, thread="/only-html", expect=422)
        assert refused["error"]["code"] == "nothing_to_show"
        assert refused["error"]["field"] == "body"
    kept = await post_comment(client, "<b>bold</b> words", thread="/only-html")
    assert kept["body_html"] == "<p>bold words</p>"
    page = await read_thread(client, "/only-html")
    assert [c["id"] for c in page["comments"]] == [kept["id"]]
