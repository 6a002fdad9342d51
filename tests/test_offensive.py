"""The offensive-language score without scikit-learn in the server: the same probabilities as
alt-profanity-check itself, and a server process that stays ~100 MB lighter."""

from __future__ import annotations

import copy
import logging
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kibitz.services import offensive, offensive_export

pc = pytest.importorskip("profanity_check.profanity_check")

WRITTEN = [
    "you idiot", "You are a fucking idiot", "go to hell", "biased nonsense",
    "damn good point", "What a load of shit", "I disagree strongly with the mayor's budget.",
    "Thanks for the thoughtful article!", "The council meets on Tuesday at 7pm.",
    "STUPID STUPID STUPID", "s.t.u.p.i.d", "st*pid", "f**k off", "F U C K", "idiot!!!!!!",
    "idiots", "IdIoT", "shut up, moron", "kill yourself", "You people are animals",
    "a", "ab", "  x  ", "!!!", "...?", "12 34 5678", "__init__ __ _a_", "'quoted' \"words\"",
    "naïve café résumé", "Straße und Fluß", "İstanbul ISTANBUL \u0131i", "Ωμέγα και άλφα",
    "日本語のテキスト", "مرحبا بالعالم", "emoji 😀🔥💩 idiot 🙄", "zero\u200bwidth joiner",
    "tab\tnew\nline\r\ncarriage", "dash\u2014em\u2013en-hyphen", "hell-hole hellhole", "ass-hat",
    "the and of to in is it", "<script>alert('idiot')</script>", "http://example.org/shit?x=1",
    "**bold** _italic_ `code`", "> quoted idiot\n\nreply",
    "".join(chr(ord(c) + 0xFEE0) if c != " " else c for c in "Fullwidth idiot"),
]  # fmt: skip


def corpus() -> list[str]:
    rng = random.Random(20240611)
    words = sorted(pc.vectorizer.vocabulary_)
    stop = sorted(pc.vectorizer.get_stop_words() or ())
    noise = ["", ",", ".", "!", "?", "'", "-", "_", "é", "ß", "İ", "😀", "42", "\u00a0", "\n"]
    texts = list(WRITTEN)
    while len(texts) < 300:
        n = rng.choice([1, 2, 3, 5, 8, 13, 40, 200])
        parts = []
        for _ in range(n):
            w = rng.choice(words) if rng.random() < 0.7 else rng.choice(stop)
            w = w.upper() if rng.random() < 0.1 else w.title() if rng.random() < 0.1 else w
            parts.append(w + rng.choice(noise))
        texts.append(rng.choice([" ", "  ", "\t"]).join(parts))
    texts.append(" ".join(words[:5000]))  # long: every word a feature
    return texts


def test_the_scores_are_the_package_s_own() -> None:
    texts = corpus()
    expected = pc.predict_prob(texts)
    worst = max(
        abs(offensive.probability(t) - float(e)) for t, e in zip(texts, expected, strict=True)
    )
    assert worst < 1e-9
    assert offensive._predict is not None and "PlainModel" in repr(offensive._predict)
    rude, calm = offensive.score_now("go to hell"), offensive.score_now("biased nonsense")
    assert rude == round(float(pc.predict_prob(["go to hell"])[0]), 4) and rude > 0.9 > calm
    assert offensive.score_now(" \n ") == 0.0


SCORE_IN_A_FRESH_PROCESS = """
from kibitz.services import offensive
import sys
print(offensive.score_now('you idiot'))
print('sklearn' in sys.modules, 'scipy' in sys.modules)
print(open('/proc/self/status').read().split('VmRSS:')[1].split()[0])
"""


def run_fresh(cache: Path) -> tuple[float, str, int]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    out = subprocess.run([sys.executable, "-c", SCORE_IN_A_FRESH_PROCESS], env=env,
                         capture_output=True, text=True, check=True, timeout=300)  # fmt: skip
    score, loaded, rss_kb = out.stdout.split("\n")[:3]
    return float(score), loaded, int(rss_kb)


def test_a_server_process_scores_without_scikit_learn(tmp_path: Path) -> None:
    expected = round(float(pc.predict_prob(["you idiot"])[0]), 4)
    # first process: exports the model in a child process and caches it
    score, loaded, rss_kb = run_fresh(tmp_path)
    assert (score, loaded) == (expected, "False False")
    assert rss_kb < 60 * 1024  # with scikit-learn and scipy it was about 180 MiB
    (cached,) = (tmp_path / "kibitz").glob("offensive-*.json")
    # the next process reads the cache (and exports again if it is broken)
    assert run_fresh(tmp_path)[:2] == (expected, "False False")
    cached.write_text('{"format": 1, "idf": [')
    assert run_fresh(tmp_path)[:2] == (expected, "False False")
    assert cached.read_bytes().endswith(b"}")


def test_an_unsupported_model_is_refused_by_the_export() -> None:
    bigrams = copy.deepcopy(pc.vectorizer)
    bigrams.set_params(ngram_range=(1, 2))
    with pytest.raises(offensive_export.Unsupported, match="ngram_range"):
        offensive_export.plain_model(bigrams, pc.model)
    isotonic = copy.deepcopy(pc.model)
    isotonic.set_params(method="isotonic")
    with pytest.raises(offensive_export.Unsupported, match="isotonic"):
        offensive_export.plain_model(pc.vectorizer, isotonic)


def test_when_the_export_fails_the_package_scores(
    monkeypatch: Any, tmp_path: Path, caplog: Any
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(offensive, "EXPORT_MODULE", "kibitz.no_such_module")
    monkeypatch.setattr(offensive, "_predict", None)
    with caplog.at_level(logging.WARNING, "kibitz.moderation"):
        score = offensive.score_now("you idiot")
    assert score == round(float(pc.predict_prob(["you idiot"])[0]), 4)
    assert "export failed" in caplog.text
    assert not (tmp_path / "kibitz").exists()
