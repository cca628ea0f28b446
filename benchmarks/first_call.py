"""The first ``predict`` after a fit, step by step: the call ``benchmarks/quality.py`` times.

    .venv/bin/python benchmarks/first_call.py --repeats 7

Fits the default model on folds 2-5 of the NHS themes (the folds of ``quality.py``), then, per
repeat, takes a fresh copy of it (unpickled: empty word caches, a new spaCy vocabulary), sends the
training comments through the scoring path as the fit does, and times the first calls on fold 1's
863 comments: the tokens, the word and character n-gram blocks, the word vectors, and, on another
fresh copy, the whole ``predict``. CPU milliseconds per step, median and every repeat.

The machine's speed can drift between minutes, so compare two versions of the code by running this
on each in turn, several times, and compare within neighbouring runs. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import time

import _peers
import quality
from complaintml import model as M


def _fresh(saved: bytes, train: list[str]):
    """A copy of the fitted candidate whose caches hold the training comments' words, as after ``fit``."""
    candidate = pickle.loads(saved)
    candidate.est_.transform_features(train)
    return candidate


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    tax, frame, _, _, splits = quality._nhs(False, 5)
    tr, te = splits[0]
    texts = frame[tax.text_column].tolist()
    train = [texts[i] for i in tr]
    test_texts, test_frame = [texts[i] for i in te], frame.iloc[te].reset_index(drop=True)
    fitted = _peers.make("complaintml", False).fit(train, frame.iloc[tr].reset_index(drop=True), tax)
    saved = pickle.dumps(fitted)
    del fitted

    times: dict[str, list[float]] = {}

    def timed(step: str, fn):
        started = time.process_time()
        out = fn()
        times.setdefault(step, []).append((time.process_time() - started) * 1000)
        return out

    for _ in range(args.repeats):
        est = _fresh(saved, train).est_
        blocks = dict(est.features_.transformer_list)
        docs = timed("tokens", lambda: blocks["word"].named_steps["normalize"].tokens_all(test_texts))
        timed("word n-grams", lambda: M._word_tfidf(blocks["word"].named_steps["tfidf"], docs))
        timed("character n-grams", lambda: M._char_wb_tfidf(blocks["char"], test_texts))
        if "vectors" in blocks:
            timed("word vectors", lambda: blocks["vectors"].transform(test_texts))
        candidate = _fresh(saved, train)
        timed("predict", lambda: candidate.predict(test_frame))
    print(f"{len(te)} comments, first calls, CPU ms (median: each repeat)")
    for step, values in times.items():
        print(f"{step:18s} {statistics.median(values):6.1f}: {' '.join(f'{v:.0f}' for v in values)}")
    print(f"predict: {len(te) / statistics.median(times['predict']) * 1000:,.0f} rows per CPU s")


if __name__ == "__main__":
    main()
