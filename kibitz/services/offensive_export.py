"""Export the alt-profanity-check model as plain JSON, so the server can score without
scikit-learn.

Run as ``python -m kibitz.services.offensive_export`` (the server does, once, in a child
process): it loads the package's pickled vectorizer and calibrated classifier with
scikit-learn, checks that they are exactly the kind :mod:`kibitz.services.offensive`
reproduces (a word-level TF-IDF with L2 norm over single words, and a sigmoid-calibrated
binary LinearSVC), and prints their numbers as JSON on stdout. Anything else exits with an
error, and the server then falls back to the package itself.
"""

from __future__ import annotations

import json
import sys
from typing import Any

FORMAT = 1


class Unsupported(Exception):
    """The pickled model is not one the plain scorer reproduces exactly."""


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise Unsupported(what)


def plain_model(vectorizer: Any, model: Any) -> dict[str, Any]:
    """The numbers of a fitted TfidfVectorizer and CalibratedClassifierCV, as JSON values."""
    from sklearn.calibration import CalibratedClassifierCV, _SigmoidCalibration
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    v = vectorizer
    _require(isinstance(v, TfidfVectorizer), f"vectorizer is {type(v).__name__}")
    _require(v.input == "content" and v.analyzer == "word", "analyzer is not 'word'")
    _require(v.preprocessor is None and v.tokenizer is None, "custom preprocessor/tokenizer")
    _require(v.strip_accents is None, f"strip_accents={v.strip_accents!r}")
    _require(tuple(v.ngram_range) == (1, 1), f"ngram_range={v.ngram_range!r}")
    _require(not v.binary and not v.sublinear_tf, "binary or sublinear_tf")
    _require(v.norm == "l2" and v.use_idf, f"norm={v.norm!r}, use_idf={v.use_idf!r}")
    vocabulary = {str(term): int(i) for term, i in v.vocabulary_.items()}
    n = len(vocabulary)
    _require(sorted(vocabulary.values()) == list(range(n)), "vocabulary indices not 0..n-1")
    _require(len(v.idf_) == n, "idf_ length")

    _require(isinstance(model, CalibratedClassifierCV), f"model is {type(model).__name__}")
    _require(model.method == "sigmoid", f"calibration method={model.method!r}")
    _require([int(c) for c in model.classes_] == [0, 1], f"classes={model.classes_!r}")
    folds = []
    for cc in model.calibrated_classifiers_:
        est = cc.estimator
        _require(isinstance(est, LinearSVC), f"estimator is {type(est).__name__}")
        _require(est.coef_.shape == (1, n) and len(est.intercept_) == 1, "coef_ shape")
        _require([int(c) for c in cc.classes] == [0, 1], "fold classes")
        _require([int(c) for c in est.classes_] == [0, 1], "estimator classes")
        _require(len(cc.calibrators) == 1, "calibrators per fold")
        cal = cc.calibrators[0]
        _require(type(cal) is _SigmoidCalibration, f"calibrator is {type(cal).__name__}")
        folds.append({
            "coef": [float(x) for x in est.coef_[0]],
            "intercept": float(est.intercept_[0]),
            "a": float(cal.a_),
            "b": float(cal.b_),
        })  # fmt: skip
    _require(bool(folds), "no calibrated classifiers")
    stop_words = v.get_stop_words()
    return {
        "format": FORMAT,
        "lowercase": bool(v.lowercase),
        "token_pattern": str(v.token_pattern),
        "stop_words": sorted(stop_words) if stop_words else [],
        "vocabulary": vocabulary,
        "idf": [float(x) for x in v.idf_],
        "folds": folds,
    }


def main() -> int:
    try:
        from profanity_check import profanity_check as pc

        data = plain_model(pc.vectorizer, pc.model)
    except Unsupported as exc:
        sys.stderr.write(f"the alt-profanity-check model is not supported: {exc}\n")
        return 2
    # floats are written with repr, which reads back to the same float
    json.dump(data, sys.stdout, ensure_ascii=True, separators=(",", ":"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
