"""Streaming XML: the direct children of one element, one at a time, cleared after use, so a
file of any size is read in bounded memory. Uploaded files are untrusted: defusedxml refuses
entity declarations (billion laughs) and external entities."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from kibitz.porting.records import ImportFailed


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def elements(file: IO[bytes], depth: int, what: str) -> Iterator[Element]:
    """Yield each complete element ``depth`` levels below the root (1: its children)."""
    level = 0
    parents: list[Element] = []
    try:
        for event, elem in iterparse(file, events=("start", "end")):
            if event == "start":
                level += 1
                if level <= depth:
                    parents.append(elem)
                continue
            level -= 1
            if level == depth:
                yield elem
                elem.clear()
                # the parent keeps a reference to every cleared child: drop them too
                if parents:
                    parents[-1].clear()
            elif level < depth and parents:
                parents.pop()
    except DefusedXmlException as exc:
        raise ImportFailed(
            f"This {what} file declares XML entities ({exc}); exports never "
            "do, and kibitz does not expand them. Nothing was imported."
        ) from None
    except ParseError as exc:
        line, column = exc.position
        raise ImportFailed(
            f"This is not a well-formed {what} file (line {line}, column {column}: "
            f"{exc.msg if hasattr(exc, 'msg') else exc}). Nothing was imported: a cut-off or "
            "damaged export could leave discussions half imported."
        ) from None


def text(elem: Element | None) -> str:
    if elem is None:
        return ""
    return (elem.text or "").strip()


def child(elem: Element, name: str) -> Element | None:
    for c in elem:
        if local(c.tag) == name:
            return c
    return None


def child_text(elem: Element, name: str) -> str:
    return text(child(elem, name))
