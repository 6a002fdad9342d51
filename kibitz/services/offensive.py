"""The offensive-language score: a linear model over word and character n-grams, trained on
public abuse corpora, that ships inside the ``alt-profanity-check`` package and runs offline.

Why this model: it installs from PyPI with a current scikit-learn (its releases pin the
scikit-learn version its model was pickled with, so loading it never warns), needs no network
and no GPU, scores a comment in about 5 ms of CPU, and gives a probability rather than a
yes/no, so the site chooses its threshold and moderators see how sure it is. Word lists
(better-profanity and the like) miss insults without swear words and flag quoted words; large
transformer models (Detoxify) need torch and hundreds of megabytes of weights from a hub.
Its limits: English only, and it scores words, not intent ("damn good point" scores high).

Loading takes about a second (scikit-learn's import), so it happens once per process, on a
worker thread, the first time a comment is scored.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_predict: Callable[[list[str]], Any] | None = None


def _model() -> Callable[[list[str]], Any]:
    global _predict
    with _lock:
        if _predict is None:
            from profanity_check import predict_prob

            _predict = predict_prob
        return _predict


def score_now(text: str) -> float:
    """The probability (0..1) that ``text`` is offensive. Blocks: call from a thread."""
    if not text.strip():
        return 0.0
    return round(float(_model()([text])[0]), 4)


async def score(text: str) -> float:
    return await asyncio.to_thread(score_now, text)


def percent(value: float | None) -> int | None:
    return None if value is None else round(value * 100)
