"""HTML bodies from other systems become Markdown that renders back to what they showed."""

from __future__ import annotations

import pytest

from kibitz import markdown
from kibitz.porting.htmltext import html_to_markdown, unwrap_redirect, wordpress_to_html


def shown(html: str) -> str:
    return markdown.render(html_to_markdown(html), new_tab=False)


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>Hello <b>world</b> and <i>you</i></p>",
         "<p>Hello <strong>world</strong> and <em>you</em></p>"),
        ("<p>a<br>b</p>", "<p>a<br>\nb</p>"),
        ("<p>one</p><p>two</p>", "<p>one</p>\n<p>two</p>"),
        ("<blockquote><p>quoted</p><p>two</p></blockquote><p>after</p>",
         "<blockquote>\n<p>quoted</p>\n<p>two</p>\n</blockquote>\n<p>after</p>"),
        ("<ul><li>one</li><li>two</li></ul>", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>"),
        ("<ol><li>first</li><li>second</li></ol>",
         "<ol>\n<li>first</li>\n<li>second</li>\n</ol>"),
        ("<pre><code>x = 1\n  y = `2`</code></pre>",
         "<pre><code>x = 1\n  y = `2`\n</code></pre>"),
        ("<p>Use <code>a*b</code></p>", "<p>Use <code>a*b</code></p>"),
        ("<h2>Title</h2>", "<h2>Title</h2>"),
        ('<a href="https://example.org/a_(b)">see</a>',
         '<p><a href="https://example.org/a_%28b%29" rel="nofollow ugc noopener">see</a></p>'),
    ],
)  # fmt: skip
def test_structure_survives(html: str, expected: str) -> None:
    assert shown(html) == expected


@pytest.mark.parametrize(
    "text",
    ["2 * 3 * 4", "snake_case and _underscores_", "[not a link](x)", "<b>as text</b>",
     "# not a heading", "1. not a list", "- not a bullet", "&copy; stays &amp;copy;",
     "`not code`", "> not a quote", "~~not struck~~", "a \\ backslash"],
)  # fmt: skip
def test_literal_text_stays_literal(text: str) -> None:
    from html import escape

    assert shown(f"<p>{escape(text)}</p>") == f"<p>{escape(text, quote=False)}</p>"


def test_dangerous_markup_is_dropped() -> None:
    out = shown(
        '<p onclick="x()">hi<script>alert(1)</script><style>p{}</style>'
        '<iframe src="https://evil.example/"></iframe>'
        '<a href="javascript:alert(1)">click</a><img src="data:x" alt="pic"></p>'
    )
    assert out == "<p>hiclickpic</p>"


def test_disqus_link_wrappers_are_undone() -> None:
    wrapped = "https://disq.us/url?url=https%3A%2F%2Fexample.org%2Fx%3AaBcDeF1234&cuid=9"
    assert unwrap_redirect(wrapped) == "https://example.org/x"
    assert unwrap_redirect("https://example.org:8080/") == "https://example.org:8080/"


def test_wordpress_line_breaks_become_paragraphs() -> None:
    html = wordpress_to_html("Row1\nRow2\n\nRow4\r\n\r\n<pre>keep\n\nthis</pre>")
    assert (
        shown(html) == "<p>Row1<br>\nRow2</p>\n<p>Row4</p>\n<pre><code>keep\n\nthis\n</code></pre>"
    )
