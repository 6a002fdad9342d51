"""HTML bodies from other systems (Disqus, WordPress) turned into Markdown.

Imported comments keep Markdown as their source, like every kibitz comment: their HTML is
then rendered and sanitised by the very code that renders new comments, editing and export
see meaningful Markdown, and a later change of rendering settings applies to them too.
Keeping the source's HTML instead would mean a second sanitising policy and a body_md that
says nothing.

Only what Markdown can say is kept: paragraphs, line breaks, emphasis, links, code, quotes,
lists, headings, images. Any other tag is dropped and its text kept; scripts, styles and
embedded frames are dropped with their content. Text is escaped so that a literal ``*`` or
``<script>`` in the source stays literal text.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, quote, urlsplit

_DROP_WITH_CONTENT = {
    "script",
    "style",
    "iframe",
    "object",
    "embed",
    "noscript",
    "template",
    "head",
    "title",
    "svg",
    "math",
    "select",
    "textarea",
    "button",
}
_BLOCKS = {
    "p",
    "div",
    "section",
    "article",
    "header",
    "footer",
    "aside",
    "figure",
    "figcaption",
    "table",
    "tr",
    "dl",
    "dt",
    "dd",
    "center",
    "address",
}
_EMPHASIS = {
    "em": "*",
    "i": "*",
    "cite": "*",
    "strong": "**",
    "b": "**",
    "del": "~~",
    "s": "~~",
    "strike": "~~",
}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_SAFE_SCHEMES = ("http", "https", "mailto")

_INLINE_SPECIAL = re.compile(r"([\\`*\[\]<>~|])")
_ENTITY_LIKE = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
_LINE_START = re.compile(r"^(\s*)([#>+=-]|\d+[.)])")
_BACKTICKS = re.compile(r"`+")


_EDGE_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
# any character one of the escapes below changes: most text has none, and is left as it is
_TO_ESCAPE = re.compile(r"[\\`*\[\]<>~|&_]")
_SPACES = re.compile(r"\s+")
# white space that _SPACES changes: any but a space, or two in a row
_ODD_SPACE = re.compile(r"[^\S ]| \s")


def _escape_inline(text: str) -> str:
    if not _TO_ESCAPE.search(text):
        return text
    text = _INLINE_SPECIAL.sub(r"\\\1", text)
    text = _ENTITY_LIKE.sub(r"\\&", text)
    # `_` emphasises only at a word's edge (CommonMark's flanking rules): escape just those
    return _EDGE_UNDERSCORE.sub(r"\\_", text) if "_" in text else text


def _escape_line_start(line: str) -> str:
    m = _LINE_START.match(line)
    if not m:
        return line
    lead, marker = m.group(1), m.group(2)
    escaped = marker[:-1] + "\\" + marker[-1] if marker[-1] in ".)" else "\\" + marker
    return lead + escaped + line[m.end() :]


def unwrap_redirect(url: str) -> str:
    """Disqus wraps outgoing links as disq.us/url?url=<target>:<hash>; keep the target."""
    parts = urlsplit(url)
    if parts.hostname in ("disq.us", "www.disq.us") and parts.path.startswith("/url"):
        target = parse_qs(parts.query).get("url", [""])[0]
        m = re.match(r"^(.*):([A-Za-z0-9_-]{6,})$", target)
        if m and not m.group(2).isdigit():
            target = m.group(1)
        if target.startswith(("http://", "https://")):
            return target
    return url


def safe_url(url: str | None) -> str | None:
    if not url:
        return None
    url = unwrap_redirect(url.strip())
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in _SAFE_SCHEMES:
        return None
    # a destination never contains spaces or angle brackets, nor unbalanced parentheses
    return quote(url, safe="/:?#[]@!$&'*+,;=%~-._")


def _fence(code: str) -> str:
    longest = max((len(m.group(0)) for m in _BACKTICKS.finditer(code)), default=0)
    return "`" * max(3, longest + 1)


class _Block:
    """A paragraph being assembled: its inline Markdown, and the prefix of its lines."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.parts: list[str] = []

    def text(self) -> str:
        return "".join(self.parts)


class _Converter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        # (markdown, quote depth, part of a list) per block
        self.blocks: list[tuple[str, int, bool]] = []
        self.heading = 0
        self.quote_depth = 0
        self.lists: list[list[int]] = []  # [kind (0 bullets, 1 numbers), counter]
        self.item_prefix: str | None = None
        self.block = _Block("")
        self.links: list[str | None] = []
        self.link_texts: list[int] = []
        self.dropping = 0
        self.pre: list[str] | None = None
        self.code = False

    # -- structure

    def _prefix(self) -> str:
        indent = "   " * max(len(self.lists) - 1, 0) if self.lists else ""
        return "> " * self.quote_depth + indent

    def _flush(self) -> None:
        text = self.block.text()
        # a block that holds nothing but white space (between two tags) is common
        lines = [ln.strip() for ln in text.split("\n")] if text and not text.isspace() else []
        while lines and not lines[-1]:
            lines.pop()
        while lines and not lines[0]:
            lines.pop(0)
        if lines:
            first_prefix = self.block.prefix
            in_item = self.item_prefix is not None or bool(self.lists)
            rest_prefix = self._prefix() + ("   " if self.item_prefix is not None else "")
            if self.heading:
                lines = [" ".join(lines)]
            if self.item_prefix is not None:
                first_prefix = self._prefix() + self.item_prefix
                self.item_prefix = None
            out = []
            for i, line in enumerate(lines):
                line = " ".join(line.split())
                line = _escape_line_start(line)
                if self.heading:
                    line = "#" * self.heading + " " + line
                out.append((first_prefix if i == 0 else rest_prefix) + line)
            self.blocks.append(("\n".join(out), self.quote_depth, in_item))
        self.heading = 0
        self.block = _Block(self._prefix())

    def _emit(self, markdown: str) -> None:
        self.block.parts.append(markdown)

    def updatepos(self, i: int, j: int) -> int:
        return j  # the parser counts lines for getpos(), which nothing here asks for

    # -- the parser's callbacks

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.dropping:
            if tag in _DROP_WITH_CONTENT:
                self.dropping += 1
            return
        if tag in _DROP_WITH_CONTENT:
            self.dropping = 1
            return
        a = dict(attrs)
        if self.pre is not None:
            if tag == "br":
                self.pre.append("\n")
            return
        if tag == "br":
            self._emit("\\\n")
        elif tag == "pre":
            self._flush()
            self.pre = []
        elif tag in _BLOCKS or tag == "hr":
            self._flush()
            if tag == "hr":
                self.blocks.append((self._prefix() + "* * *", self.quote_depth, False))
        elif tag == "blockquote":
            self._flush()
            self.quote_depth += 1
            self.block = _Block(self._prefix())
        elif tag in ("ul", "ol"):
            self._flush()
            self.lists.append([1 if tag == "ol" else 0, 0])
            self.block = _Block(self._prefix())
        elif tag == "li":
            self._flush()
            if not self.lists:
                self.lists.append([0, 0])
            kind = self.lists[-1]
            kind[1] += 1
            self.item_prefix = f"{kind[1]}. " if kind[0] else "- "
        elif tag in _HEADINGS:
            self._flush()
            self.heading = _HEADINGS[tag]
        elif tag in _EMPHASIS:
            self._emit(_EMPHASIS[tag])
        elif tag in ("code", "kbd", "samp", "tt"):
            self.code = True
            self._emit("\x00code\x00")
        elif tag == "a":
            href = safe_url(a.get("href"))
            self.links.append(href)
            self.link_texts.append(len(self.block.parts))
            if href:
                self._emit("[")
        elif tag == "img":
            src = safe_url(a.get("src"))
            alt = _escape_inline(" ".join((a.get("alt") or "").split()))
            if src:
                self._emit(f"![{alt}]({src})")
            elif alt:
                self._emit(alt)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in ("br", "img", "hr"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.dropping:
            if tag in _DROP_WITH_CONTENT:
                self.dropping -= 1
            return
        if self.pre is not None:
            if tag == "pre":
                code = "".join(self.pre).strip("\n")
                fence = _fence(code)
                prefix = self._prefix()
                lines = [fence, *code.split("\n"), fence]
                block = "\n".join(prefix + ln for ln in lines)
                self.blocks.append((block, self.quote_depth, bool(self.lists)))
                self.pre = None
            return
        if tag in _BLOCKS or tag in _HEADINGS or tag == "li":
            self._flush()
        elif tag == "blockquote":
            self._flush()
            self.quote_depth = max(self.quote_depth - 1, 0)
            self.block = _Block(self._prefix())
        elif tag in ("ul", "ol"):
            self._flush()
            if self.lists:
                self.lists.pop()
            self.block = _Block(self._prefix())
        elif tag in _EMPHASIS:
            self._close_emphasis(_EMPHASIS[tag])
        elif tag in ("code", "kbd", "samp", "tt") and self.code:
            self.code = False
            self._close_code()
        elif tag == "a" and self.links:
            href = self.links.pop()
            start = self.link_texts.pop()
            if href:
                inner = "".join(self.block.parts[start + 1 :])
                if not inner.strip():
                    del self.block.parts[start:]
                    self._emit(f"<{href}>" if "://" in href else href)
                else:
                    self._emit(f"]({href})")

    def _close_emphasis(self, marker: str) -> None:
        # an empty or space-edged run cannot be emphasis in CommonMark: move the spaces out
        parts = self.block.parts
        for i in range(len(parts) - 1, -1, -1):
            if parts[i] == marker:
                inner = "".join(parts[i + 1 :])
                if not inner.strip():
                    del parts[i]
                    return
                stripped = inner.strip()
                lead = inner[: len(inner) - len(inner.lstrip())]
                trail = inner[len(inner.rstrip()) :]
                parts[i:] = [lead, marker, stripped, marker, trail]
                return
        return

    def _close_code(self) -> None:
        parts = self.block.parts
        for i in range(len(parts) - 1, -1, -1):
            if parts[i] == "\x00code\x00":
                raw = "".join(parts[i + 1 :])
                raw = " ".join(raw.split())
                if not raw:
                    del parts[i:]
                    return
                ticks = "`" * (
                    max((len(m.group(0)) for m in _BACKTICKS.finditer(raw)), default=0) + 1
                )
                pad = " " if raw.startswith("`") or raw.endswith("`") else ""
                parts[i:] = [f"{ticks}{pad}{raw}{pad}{ticks}"]
                return

    def handle_data(self, data: str) -> None:
        if self.dropping:
            return
        if self.pre is not None:
            self.pre.append(data)
            return
        if self.code:
            self._emit(data)
            return
        if _ODD_SPACE.search(data):
            data = _SPACES.sub(" ", data)
        self._emit(_escape_inline(data))

    def result(self) -> str:
        if self.pre is not None:
            self.handle_endtag("pre")
        self._flush()
        out: list[str] = []
        previous: tuple[str, int, bool] | None = None
        for block in self.blocks:
            if previous is not None:
                if block[2] and previous[2]:
                    out.append("\n")  # items of one list stay a tight list
                else:
                    depth = min(block[1], previous[1])
                    out.append("\n" + ("> " * depth).rstrip() + "\n")
            out.append(block[0])
            previous = block
        return "".join(out).replace("\x00code\x00", "`").strip()


def html_to_markdown(html: str) -> str:
    converter = _Converter()
    converter.feed(html)
    converter.close()
    return converter.result()


_WP_PRE = re.compile(r"(<pre[\s>].*?</pre>)", re.S | re.I)
_WP_BLOCK = re.compile(r"</?(p|div|blockquote|ul|ol|li|pre|h[1-6]|table)[\s>/]", re.I)


def wordpress_to_html(text: str) -> str:
    """WordPress stores comments as HTML in which blank lines are paragraphs and single line
    breaks are <br> (what its wpautop filter does when it shows them)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    pieces = _WP_PRE.split(text)
    out = []
    for i, piece in enumerate(pieces):
        if i % 2:
            out.append(piece)
            continue
        paragraphs = re.split(r"\n\s*\n", piece)
        for para in paragraphs:
            if not para.strip():
                continue
            if _WP_BLOCK.search(para):
                out.append(para)
            else:
                out.append("<p>" + para.strip("\n").replace("\n", "<br>\n") + "</p>")
    return "\n".join(out)
