"""linkify-it's checks for "could this text hold a link?", answered the same, sooner.

markdown-it's linkify rule asks ``pretest`` of every paragraph and ``test`` of every piece of
text in one that passes. linkify-it starts both with a search for a pattern that tries, at
every position of the text, a class of some 700 separator characters before a scheme name:
about a third of the time it takes to render a comment. Every scheme name contains ``:`` or
``/``, so text without either cannot match that pattern; for such text (most prose) that
search is skipped, and the other patterns are the library's own.

The answers must be exactly linkify-it's (tests/test_markdown_fast.py compares them): a
paragraph the pretest turns down is rendered without the linkify rule, so a pretest that
said yes more often would change what is linked (``&#64;`` is ``@`` only after parsing).
"""

from __future__ import annotations

import re

from linkify_it import LinkifyIt


def _has_scheme_mark(text: str) -> bool:
    return ":" in text or "/" in text


class FastLinkify(LinkifyIt):  # type: ignore[misc]  # linkify-it has no type hints
    _fast: tuple[re.Pattern[str], re.Pattern[str]] | None

    def _compile(self) -> None:
        super()._compile()  # by __init__, and again when schemas or TLDs are added
        self._fast = self._fast_patterns()

    def _fast_patterns(self) -> tuple[re.Pattern[str], re.Pattern[str]] | None:
        """The scheme and host patterns of ``pretest``, compiled; None when a scheme name
        lacks both marks (an added schema), and the shortcut would not be exact."""
        names = [name for name, rule in self._compiled.items() if name and rule]
        if not all(_has_scheme_mark(name) for name in names):
            return None
        return (
            re.compile(self.re["schema_test"], re.IGNORECASE),
            re.compile(self.re["host_fuzzy_test"], re.IGNORECASE),
        )

    def test(self, text: str) -> bool:
        if self._fast is None or _has_scheme_mark(text):
            return bool(super().test(text))
        # what LinkifyIt.test checks after the scheme search, which cannot match here
        opts = self._opts
        fuzzy_link = opts.get("fuzzy_link") and self._compiled.get("http:")
        if fuzzy_link and self._fast[1].search(text):
            pattern = self.re["link_fuzzy" if opts.get("fuzzy_ip") else "link_no_ip_fuzzy"]
            if re.search(pattern, text, flags=re.IGNORECASE):
                return True
        if opts.get("fuzzy_email") and self._compiled.get("mailto:") and "@" in text:
            return re.search(self.re["email_fuzzy"], text, flags=re.IGNORECASE) is not None
        return False

    def pretest(self, text: str) -> bool:
        # the library's one pattern is (scheme)|(host)|@: it matches when one part does
        if self._fast is None:
            return bool(super().pretest(text))
        scheme, host = self._fast
        return (
            "@" in text
            or (_has_scheme_mark(text) and scheme.search(text) is not None)
            or host.search(text) is not None
        )
