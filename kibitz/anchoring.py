"""Anchors: where a passage comment sits in an article, found again after the article changes.

An anchor is the W3C Web Annotation pair of selectors over the article's *normalised text*
(TextQuoteSelector: exact, prefix, suffix; TextPositionSelector: start, end), plus a hash of
the text it was made on. The widget (kibitz/static/embed.js) implements the very same
definitions; tests/e2e/test_inline_feedback.py runs both over the same edits and compares.

Normalised text of an element (docs/inline-feedback.md has the reader's version):
1. Its text nodes in document order, skipping the contents of script, style, template,
   noscript and of any element with a ``data-kibitz-ignore`` attribute.
2. The start and the end of a block element (``BLOCK``) and a ``<br>`` count as whitespace.
3. Each cluster (a code point that is not a combining mark, with the marks that follow it)
   is put in Unicode NFC. A cluster that starts with whitespace (``WHITESPACE``, the set
   JavaScript's ``\\s`` matches) is whitespace.
4. Every run of whitespace becomes one U+0020 SPACE; none at the start or the end.
Offsets count Unicode code points (as the W3C selectors say), not UTF-16 units or bytes.
The hash is FNV-1a (32 bits, each code point XORed in whole), as 8 hex digits.

Re-anchoring, in order (``find``):
1. position: the exact text is still at start..end, and the text is the one the anchor was
   made on (same hash) or the context on both sides still matches;
2. quote: the exact text occurs once;
3. context: it occurs more than once: the occurrence whose surroundings share the most
   characters with prefix and suffix, then the one nearest the old position;
4. fuzzy: the substring with the fewest edits (Levenshtein) from the exact text, at most
   ``len(exact) // 4`` of them, nearest the old end on a tie. A quarter is the bound because
   typo fixes, a changed word or a respelt name stay well under it, while a passage with more
   than a quarter of its characters changed says something else, and a comment on the old
   wording would be shown next to words its author never read. Under 4 characters nothing
   is fuzzy: any edit to a word that short makes it another word;
5. otherwise the anchor is an orphan: shown with its quote and "passage changed".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Literal

CONTEXT = 32
WHITESPACE = "\t\n\x0b\x0c\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_SPACE_RUN = re.compile(f"[{WHITESPACE}]+")
_IS_SPACE = re.compile(f"[{WHITESPACE}]")
BLOCK = frozenset(
    re.findall(
        r"\w+",
        "address article aside blockquote br caption dd details div dl dt figcaption figure "
        "footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary table "
        "tbody td tfoot th thead tr ul",
    )
)
SKIP = frozenset({"script", "style", "template", "noscript"})
VOID = frozenset(
    re.findall(r"\w+", "area base br col embed hr img input link meta source track wbr")
)

How = Literal["position", "quote", "context", "fuzzy"]


@dataclass(frozen=True)
class Selector:
    exact: str
    prefix: str
    suffix: str
    start: int
    end: int


@dataclass(frozen=True)
class Found:
    start: int
    end: int
    how: How


def _clusters(data: str) -> Iterator[str]:
    """A code point that is not a combining mark, with the marks that follow it."""
    i, n = 0, len(data)
    while i < n:
        j = i + 1
        while j < n and unicodedata.category(data[j])[0] == "M":
            j += 1
        yield data[i:j]
        i = j


def _plain(data: str) -> bool:
    """Whether each code point of the text is a cluster of its own (no combining marks)
    that NFC leaves as it is: true of ASCII, and of any text in NFC without marks (a code
    point of a text in NFC is in NFC alone)."""
    if data.isascii():
        return True
    if not unicodedata.is_normalized("NFC", data):
        return False
    return not any(unicodedata.category(ch)[0] == "M" for ch in set(data))


class _Text:
    """Builds normalised text from pieces of text and block boundaries."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.space = True  # nothing yet: a leading space is dropped

    def boundary(self) -> None:
        if not self.space:
            self.parts.append(" ")
            self.space = True

    def add(self, data: str) -> None:
        if _plain(data):  # the common case, without looking at each character in Python
            for i, piece in enumerate(_SPACE_RUN.split(data)):
                if i:
                    self.boundary()
                if piece:
                    self.parts.append(piece)
                    self.space = False
            return
        self.add_clusters(data)

    def add_clusters(self, data: str) -> None:
        """The definition, cluster by cluster (what ``add`` does in any case)."""
        for cluster in _clusters(data):
            if _IS_SPACE.match(cluster):
                self.boundary()
            else:
                self.parts.append(unicodedata.normalize("NFC", cluster))
                self.space = False

    def text(self) -> str:
        out = "".join(self.parts)
        return out[:-1] if out.endswith(" ") else out


def normalise(text: str) -> str:
    """A piece of plain text (a quote, a question's passage), normalised."""
    t = _Text()
    t.add(text)
    return t.text()


class _Walker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out = _Text()
        self.stack: list[bool] = []  # open elements: does this one hide its contents?

    def updatepos(self, i: int, j: int) -> int:
        return j  # the parser counts lines for getpos(), which nothing here asks for

    def _hidden(self) -> bool:
        return any(self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BLOCK and not self._hidden():
            self.out.boundary()
        if tag not in VOID:
            self.stack.append(tag in SKIP or any(k == "data-kibitz-ignore" for k, _ in attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BLOCK and not self._hidden():
            self.out.boundary()

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if self.stack:
            self.stack.pop()
        if tag in BLOCK and not self._hidden():
            self.out.boundary()

    def handle_data(self, data: str) -> None:
        if not self._hidden():
            self.out.add(data)


def html_text(html: str) -> str:
    """The normalised text of an HTML fragment (an article body)."""
    walker = _Walker()
    walker.feed(html)
    walker.close()
    return walker.out.text()


def text_hash(text: str) -> str:
    h = 0x811C9DC5
    for ch in text:
        h = ((h ^ ord(ch)) * 0x01000193) & 0xFFFFFFFF
    return f"{h:08x}"


def selector(text: str, start: int, end: int) -> Selector:
    """The selectors of text[start:end], with 32 code points of context on each side."""
    return Selector(
        exact=text[start:end],
        prefix=text[max(0, start - CONTEXT) : start],
        suffix=text[end : end + CONTEXT],
        start=start,
        end=end,
    )


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _context_score(text: str, i: int, sel: Selector) -> int:
    before = text[max(0, i - CONTEXT) : i]
    after = text[i + len(sel.exact) : i + len(sel.exact) + CONTEXT]
    return _common_prefix(before[::-1], sel.prefix[::-1]) + _common_prefix(after, sel.suffix)


def _occurrences(text: str, exact: str) -> list[int]:
    out = []
    i = text.find(exact)
    while i >= 0:
        out.append(i)
        i = text.find(exact, i + 1)
    return out


def edit_distances(pattern: str, text: str, *, anchored: bool) -> list[int]:
    """For each j in 1..len(text): the fewest edits turning pattern into a substring of text
    ending at j (anchored: into text[:j]). Myers' bit-vector algorithm (1999): one pass over
    the text, the pattern's columns held as bits of one integer."""
    m = len(pattern)
    if m == 0:
        return list(range(1, len(text) + 1)) if anchored else [0] * len(text)
    mask = (1 << m) - 1
    high = 1 << (m - 1)
    peq: dict[str, int] = {}
    for i, ch in enumerate(pattern):
        peq[ch] = peq.get(ch, 0) | (1 << i)
    pv, mv, score = mask, 0, m
    carry = 1 if anchored else 0
    out = []
    for ch in text:
        eq = peq.get(ch, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | (~(xh | pv) & mask)
        mh = pv & xh
        if ph & high:
            score += 1
        elif mh & high:
            score -= 1
        ph = ((ph << 1) | carry) & mask
        mh = (mh << 1) & mask
        pv = mh | (~(xv | ph) & mask)
        mv = ph & xv
        out.append(score)
    return out


def _pick(distances: list[int], target: int) -> tuple[int, int]:
    """(distance, index 1..n) of the smallest distance, nearest target, then first."""
    best, at = -1, 0
    for j, d in enumerate(distances, 1):
        if best < 0 or d < best or (d == best and abs(j - target) < abs(at - target)):
            best, at = d, j
    return best, at


def fuzzy(text: str, sel: Selector) -> Found | None:
    exact = sel.exact
    bound = len(exact) // 4
    if bound == 0 or not text:
        return None
    d, end = _pick(edit_distances(exact, text, anchored=False), sel.end)
    if d > bound:
        return None
    # where it starts: the length back from the end with the fewest edits, nearest the
    # quote's own length
    back = text[max(0, end - len(exact) - bound) : end][::-1]
    _, length = _pick(edit_distances(exact[::-1], back, anchored=True), len(exact))
    return Found(end - length, end, "fuzzy")


def find(text: str, sel: Selector, anchor_hash: str | None = None) -> Found | None:
    """Where the anchor is in this text now, and how it was found; None: an orphan."""
    exact = sel.exact
    if not exact:
        return None
    if text[sel.start : sel.end] == exact and (
        anchor_hash == text_hash(text)
        or (text[: sel.start].endswith(sel.prefix) and text[sel.end :].startswith(sel.suffix))
    ):
        return Found(sel.start, sel.end, "position")
    found = _occurrences(text, exact)
    if len(found) == 1:
        return Found(found[0], found[0] + len(exact), "quote")
    if found:
        best = max(found, key=lambda i: (_context_score(text, i, sel), -abs(i - sel.start), -i))
        return Found(best, best + len(exact), "context")
    return fuzzy(text, sel)
