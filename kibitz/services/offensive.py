"""The offensive-language score: a linear model over words, trained on public abuse corpora,
that ships inside the ``alt-profanity-check`` package and runs offline.

Why this model: it installs from PyPI with a current scikit-learn (its releases pin the
scikit-learn version its model was pickled with, so loading it never warns), needs no network
and no GPU, scores a comment in well under a millisecond, and gives a probability rather than
a yes/no, so the site chooses its threshold and moderators see how sure it is. Word lists
(better-profanity and the like) miss insults without swear words and flag quoted words; large
transformer models (Detoxify) need torch and hundreds of megabytes of weights from a hub.
Its limits: English only, and it scores words, not intent ("damn good point" scores high).

The model is small (a TF-IDF vocabulary of about 15,000 words and five sigmoid-calibrated
linear SVMs), but scikit-learn and scipy cost a server worker about 100 MB of memory. So the
server never imports them: the first time a process scores, a child process
(``python -m kibitz.services.offensive_export``) loads the pickled model with scikit-learn and
writes its numbers as JSON into ``$XDG_CACHE_HOME/kibitz`` (``~/.cache/kibitz``), in a file
named by a hash of the model files and the package versions; later processes read that file.
:class:`PlainModel` computes the same probability as ``profanity_check.predict_prob``
(lowercase, the token pattern, English stop words, TF-IDF with L2 norm, the mean of the
calibrated folds). If the cache folder cannot be written the numbers are kept in memory only;
if a future alt-profanity-check ships a model of another kind, the export refuses it and the
package is used directly, as before.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
from array import array
from collections.abc import Callable
from importlib import metadata, util
from pathlib import Path

import msgspec

from kibitz.services.offensive_export import FORMAT

log = logging.getLogger("kibitz.moderation")

EXPORT_MODULE = "kibitz.services.offensive_export"
_MODEL_FILES = ("vectorizer.joblib", "model.joblib")

_lock = threading.Lock()
_predict: Callable[[str], float] | None = None


class _Fold(msgspec.Struct):
    coef: list[float]
    intercept: float
    a: float
    b: float


class _Plain(msgspec.Struct):
    format: int
    lowercase: bool
    token_pattern: str
    stop_words: list[str]
    vocabulary: dict[str, int]
    idf: list[float]
    folds: list[_Fold]


class PlainModel:
    """alt-profanity-check's TF-IDF vectorizer and calibrated classifier, without numpy."""

    def __init__(self, plain: _Plain) -> None:
        n = len(plain.vocabulary)
        if plain.format != FORMAT or len(plain.idf) != n or not plain.folds:
            raise ValueError("exported model does not fit together")
        if any(not 0 <= i < n for i in plain.vocabulary.values()):
            raise ValueError("exported vocabulary index out of range")
        if any(len(f.coef) != n for f in plain.folds):
            raise ValueError("exported coefficients do not match the vocabulary")
        self.lowercase = plain.lowercase
        self.findall = re.compile(plain.token_pattern).findall
        self.stop_words = frozenset(plain.stop_words)
        self.vocabulary = plain.vocabulary
        self.idf = array("d", plain.idf)
        self.folds = [(array("d", f.coef), f.intercept, f.a, f.b) for f in plain.folds]

    def probability(self, text: str) -> float:
        if self.lowercase:
            text = text.lower()
        counts: dict[int, int] = {}
        for token in self.findall(text):
            if token not in self.stop_words and (i := self.vocabulary.get(token)) is not None:
                counts[i] = counts.get(i, 0) + 1
        x = {i: c * self.idf[i] for i, c in counts.items()}
        norm = math.sqrt(sum(v * v for v in x.values()))
        if norm > 0:
            x = {i: v / norm for i, v in x.items()}
        total = 0.0
        for coef, intercept, a, b in self.folds:
            decision = sum(v * coef[i] for i, v in x.items()) + intercept
            total += _expit(-(a * decision + b))
        return total / len(self.folds)


def _expit(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _model_dir() -> Path:
    spec = util.find_spec("profanity_check")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("alt-profanity-check is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def cache_path() -> Path:
    """Where this installation's exported model is kept."""
    digest = hashlib.sha256(f"{FORMAT}".encode())
    for dist in ("alt-profanity-check", "scikit-learn"):
        digest.update(f"\0{dist}={metadata.version(dist)}".encode())
    for name in _MODEL_FILES:
        digest.update((_model_dir() / name).read_bytes())
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "kibitz" / f"offensive-{digest.hexdigest()[:24]}.json"


def _export() -> bytes | None:
    """The model's numbers, from a child process that has scikit-learn (None if refused)."""
    argv = [sys.executable, "-m", EXPORT_MODULE]  # this interpreter, kibitz's own module
    done = subprocess.run(argv, capture_output=True, timeout=600, check=False)  # noqa: S603
    if done.returncode != 0:
        log.warning(
            "offensive-language model: export failed (%s), loading alt-profanity-check "
            "with scikit-learn in the server: %s",
            done.returncode, done.stderr.decode(errors="replace").strip()[-500:],
        )  # fmt: skip
        return None
    return done.stdout


def _save(path: Path, raw: bytes) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".offensive-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
            os.replace(tmp, path)  # atomic: another worker never reads half a file
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        log.info("offensive-language model: not cached (%s), kept in memory", exc)


def _load_plain() -> PlainModel | None:
    path = cache_path()
    try:
        return PlainModel(msgspec.json.decode(path.read_bytes(), type=_Plain))
    except FileNotFoundError:
        log.info("offensive-language model: exported once into %s", path)
    except (OSError, ValueError, msgspec.ValidationError) as exc:  # DecodeError is a ValueError
        log.warning("offensive-language model: %s unreadable (%s), exported again", path, exc)
    raw = _export()
    if raw is None:
        return None
    model = PlainModel(msgspec.json.decode(raw, type=_Plain))
    _save(path, raw)
    return model


def _model() -> Callable[[str], float]:
    global _predict
    with _lock:
        if _predict is None:
            plain = _load_plain()
            if plain is not None:
                _predict = plain.probability
            else:
                from profanity_check import predict_prob

                _predict = lambda text: float(predict_prob([text])[0])  # noqa: E731
        return _predict


def probability(text: str) -> float:
    """The model's probability that ``text`` is offensive, unrounded. Blocks."""
    return _model()(text)


def score_now(text: str) -> float:
    """The probability (0..1) that ``text`` is offensive: CPU alone, well under a millisecond
    (kibitz scores on the event loop, or in the thread that runs installed plugins)."""
    if not text.strip():
        return 0.0
    return round(probability(text), 4)


def percent(value: float | None) -> int | None:
    return None if value is None else round(value * 100)
