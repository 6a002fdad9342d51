"""Anchors over edits: a passage comment follows its passage through the article's changes,
and becomes an orphan when the passage is gone, never a comment on some other words."""

from __future__ import annotations

import random

import pytest

from kibitz.anchoring import (
    Selector,
    edit_distances,
    find,
    html_text,
    normalise,
    selector,
    text_hash,
)

ARTICLE = (
    "ISIS is working to increase its influence in Afghanistan. He noted that after the "
    "defeat of ISIS in Syria and Iraq, members of the group are moving to other regions. "
    "According to Shoigu, the Russian military is strengthening its bases in Kyrgyzstan and "
    "Tajikistan as well as employing other measures to prevent infiltration of militants."
)
PASSAGE = "strengthening its bases in Kyrgyzstan and Tajikistan"


def anchor(text: str, exact: str, nth: int = 0) -> tuple[Selector, str]:
    start = -1
    for _ in range(nth + 1):
        start = text.index(exact, start + 1)
    return selector(text, start, start + len(exact)), text_hash(text)


def where(text: str, sel: Selector, made_on: str) -> tuple[str, str] | None:
    """(the text found, how) in the edited text, or None for an orphan."""
    found = find(text, sel, made_on)
    return (text[found.start : found.end], found.how) if found else None


def test_unchanged_text_finds_the_passage_where_it_was() -> None:
    sel, h = anchor(ARTICLE, PASSAGE)
    assert where(ARTICLE, sel, h) == (PASSAGE, "position")


def test_an_insertion_before_the_passage_moves_it() -> None:
    sel, h = anchor(ARTICLE, PASSAGE)
    edited = "UPDATE, June 3: the ministry confirmed the figures. " + ARTICLE
    found = find(edited, sel, h)
    assert found is not None and found.how == "quote"
    assert found.start == sel.start + len("UPDATE, June 3: the ministry confirmed the figures. ")
    assert edited[found.start : found.end] == PASSAGE


def test_an_edit_elsewhere_keeps_the_position_when_the_context_is_intact() -> None:
    sel, h = anchor(ARTICLE, PASSAGE)
    edited = ARTICLE.replace("prevent infiltration", "stop infiltration")
    assert where(edited, sel, h) == (PASSAGE, "position")


def test_an_insertion_inside_the_passage_is_followed_within_the_bound() -> None:
    sel, h = anchor(ARTICLE, PASSAGE)
    edited = ARTICLE.replace("its bases in", "its two bases in")
    assert where(edited, sel, h) == ("strengthening its two bases in Kyrgyzstan and Tajikistan",
                                     "fuzzy")  # fmt: skip


def test_a_typo_fix_inside_the_passage_is_followed() -> None:
    sel, h = anchor(ARTICLE, "influence in Afghanistan")
    edited = ARTICLE.replace("influence in Afghanistan", "influence in Afghanistan,")
    edited = edited.replace("Afghanistan,", "Afganistan,")  # and a misspelling
    assert where(edited, sel, h) == ("influence in Afganistan", "fuzzy")


def test_a_rewritten_passage_becomes_an_orphan() -> None:
    sel, h = anchor(ARTICLE, PASSAGE)
    edited = ARTICLE.replace(PASSAGE, "reinforcing garrisons across Central Asia")
    assert where(edited, sel, h) is None


def test_a_deleted_passage_becomes_an_orphan_not_a_neighbour() -> None:
    sel, h = anchor(ARTICLE, PASSAGE)
    edited = ARTICLE.replace(" is " + PASSAGE + " as well as employing", " is employing")
    assert where(edited, sel, h) is None


def test_more_than_a_quarter_changed_is_an_orphan_a_quarter_is_not() -> None:
    text = "alpha beta gamma delta epsilon zeta"
    sel, h = anchor(text, "gamma delta")  # 11 characters: up to 2 edits
    assert where(text.replace("gamma delta", "gamma dexta"), sel, h) == ("gamma dexta", "fuzzy")
    assert where(text.replace("gamma delta", "gamma dxxta"), sel, h) == ("gamma dxxta", "fuzzy")
    assert where(text.replace("gamma delta", "gaxxa dxxta"), sel, h) is None


def test_short_passages_are_never_fuzzy() -> None:
    text = "The cat sat on the mat."
    sel, h = anchor(text, "cat")
    assert where(text.replace("cat", "cap"), sel, h) is None


def test_a_repeated_phrase_is_told_apart_by_its_context() -> None:
    text = (
        "The council approved the harbour budget on Monday. Critics said the harbour budget "
        "ignores the ferry. On Friday the mayor defended the harbour budget in a speech."
    )
    sel, h = anchor(text, "the harbour budget", nth=1)  # the critics' one
    # an insertion before shifts everything, and an edit takes away the position match
    edited = "Updated. " + text.replace("approved", "passed")
    found = find(edited, sel, h)
    assert found is not None and found.how == "context"
    assert edited[found.start - len("Critics said ") : found.start] == "Critics said "


def test_a_repeated_phrase_at_the_old_position_is_not_taken_when_its_context_differs() -> None:
    text = "one two red apple three four. five red apple six seven."
    sel, h = anchor(text, "red apple", nth=1)
    # the first "red apple" is deleted: the second moves, and a third lands at the old offset
    edited = "one two three four. five red apple six seven. red apple"
    found = find(edited, sel, h)
    assert found is not None
    assert edited[found.start - 5 : found.end + 4] == "five red apple six"


def test_unicode_and_whitespace_changes() -> None:
    text = "Le ministre a dit: «la situation est compliquée» — selon Choïgou 🙂 hier."
    sel, h = anchor(text, "la situation est compliquée")
    # the passage moves behind an emoji (one code point, two UTF-16 units)
    edited = "🛰️ " + text
    found = find(edited, sel, h)
    assert found is not None and found.start == sel.start + 3
    # decomposed accents and doubled or unusual spaces normalise to the same text
    decomposed = (
        "Le  ministre a\u00a0dit:\n«la situation est complique\u0301e» — selon Choïgou 🙂 hier."
    )
    assert normalise(decomposed) == normalise(text)
    assert where(normalise(decomposed), sel, h) == ("la situation est compliquée", "position")
    # a typographic change inside the passage is a small edit
    edited = text.replace("«la situation est compliquée»", '"la situation est compliquee"')
    assert where(edited, sel, h) == ("la situation est compliquee", "fuzzy")


def test_offsets_count_code_points() -> None:
    fraktur = "".join(chr(0x1D518 + i) for i in range(7))  # seven letters beyond U+FFFF
    text = fraktur + " before the passage"
    sel, _ = anchor(text, "the passage")
    assert (sel.start, sel.end) == (15, 26)  # in UTF-16 units it would be (22, 33)


def test_context_is_32_code_points_each_side() -> None:
    sel, _ = anchor(ARTICLE, PASSAGE)
    assert len(sel.prefix) == 32 and len(sel.suffix) == 32
    assert ARTICLE[: sel.start].endswith(sel.prefix)
    assert ARTICLE[sel.end :].startswith(sel.suffix)
    at_start, _ = anchor(ARTICLE, "ISIS is working")
    assert at_start.prefix == ""


def test_normalised_text_of_html() -> None:
    html = (
        "<h2>Title</h2>\n<p>One <em>two</em>\nthree&nbsp;four</p><ul><li>five</li><li>six</li></ul>"
        "<p>se<b>ven</b><br>eight</p><script>var no;</script>"
        '<p>nine<span data-kibitz-ignore=""><b>not this</b></span> ten</p>'
    )
    assert html_text(html) == "Title One two three four five six seven eight nine ten"
    assert html_text("<p>  </p>") == ""


def test_the_hash_is_fnv1a_over_code_points() -> None:
    assert text_hash("") == "811c9dc5"
    assert text_hash("a") == "e40c292c"  # FNV-1a of the single byte 0x61
    assert text_hash("Ω") != text_hash("Ω".encode().decode("latin-1"))


@pytest.mark.parametrize("anchored", [False, True])
def test_edit_distances_agree_with_the_textbook_table(anchored: bool) -> None:
    rng = random.Random(8)

    def table(p: str, t: str) -> list[int]:
        col = list(range(len(p) + 1))
        out = []
        for j, ch in enumerate(t, 1):
            diag, col[0] = col[0], j if anchored else 0
            for i in range(1, len(p) + 1):
                up = col[i]
                col[i] = min(up + 1, col[i - 1] + 1, diag + (p[i - 1] != ch))
                diag = up
            out.append(col[-1])
        return out

    for _ in range(500):
        p = "".join(rng.choice("abc") for _ in range(rng.randint(1, 70)))
        t = "".join(rng.choice("abcd") for _ in range(rng.randint(0, 90)))
        assert edit_distances(p, t, anchored=anchored) == table(p, t)
