"""Property-based tests: any Unicode text, any mix of non-text values, never a crash, never a lost row.

Example counts are modest so the suite stays fast; hypothesis remembers failing examples
between runs in its own database.
"""

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from complaintml.bundle import load_bundle
from complaintml.scoring import STATUSES, predict_columns, score_file
from complaintml.text import TextNormalizer

from hardening_support import tiny_model

# Every code point (control characters, combining marks, emoji, right-to-left, private use, NUL).
ANY_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=300)
# Text that stresses the tokenizer: punctuation runs, digits, URLs, negations, mixed scripts.
WORDY = st.lists(st.sampled_from(["not", "n't", "never", "nurse", "rude", "wait", "3", "£40", "10:30", "!!!", "...",
                                  "http://x.org/a?b=1", "jo@x.org", "😡", "👍🏽", "é", "\u200d", "\u0301", "\n",
                                  "\t", "\x00", "医生", "كان", "-", "'", '"', "=SUM(A1)", "<b>", " "]),
                 max_size=40).map("".join)
TEXT = st.one_of(ANY_TEXT, WORDY)
NOT_TEXT = st.one_of(st.none(), st.just(float("nan")), st.integers(), st.floats(allow_nan=True), st.booleans())
CELLS = st.lists(st.one_of(TEXT, TEXT, TEXT, NOT_TEXT), min_size=0, max_size=25)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    return tiny_model(tmp_path_factory)


@pytest.fixture(scope="module")
def bundle(tiny):
    return load_bundle(tiny.model_dir)


@pytest.fixture(scope="module")
def normalizer():
    return TextNormalizer().fit([])


@FAST
@given(st.lists(TEXT, max_size=20))
def test_normalizer_takes_any_text(normalizer, texts):
    """TextNormalizer: any Unicode text gives one normalised string per input, never an exception."""
    out = normalizer.transform(texts)
    assert len(out) == len(texts)
    assert all(isinstance(t, str) for t in out)
    for text in texts:
        for start, end, token in normalizer.analyze(text):
            assert 0 <= start < end <= len(text) and token


@FAST
@given(CELLS)
def test_predict_columns_keeps_every_row(bundle, cells):
    """predict_columns: any mix of text, None, NaN, numbers and booleans gives one row per input with a valid status."""
    out = predict_columns(bundle, pd.Series(cells, dtype="object"))
    assert len(out) == len(cells)
    assert set(out["status"]) <= set(STATUSES)
    scored = out["status"].isin(["ok", "truncated"]).to_numpy()
    for head in bundle.taxonomy.heads:
        proba = out[[head.proba_column(lab) for lab in head.label_names]].to_numpy(dtype=float)
        finite = proba[~np.isnan(proba)]
        assert ((finite >= 0) & (finite <= 1)).all()
        assert np.isnan(proba[~scored]).all()
    for cell, status in zip(cells, out["status"]):
        if not isinstance(cell, str):
            assert status in ("empty_text", "not_text")
    for ev in out["evidence"]:
        json.loads(ev)


@FAST
@given(st.lists(TEXT, min_size=1, max_size=15), st.permutations(range(15)))
def test_predict_columns_ignores_the_index(bundle, texts, order):
    """A Series with a shuffled index scores exactly like a plain list, row for row."""
    idx = [o for o in order if o < len(texts)]
    series = pd.Series(texts, index=idx, dtype="object")
    by_series = predict_columns(bundle, series)
    by_list = predict_columns(bundle, list(texts))
    pd.testing.assert_frame_equal(by_series, by_list)


def _write(texts: list, fmt: str, folder: Path) -> Path:
    df = pd.DataFrame({"id": [f"r{i}" for i in range(len(texts))], "text": texts})
    path = folder / f"in.{fmt}"
    if fmt == "csv":
        df.to_csv(path, index=False, lineterminator="\r\n")  # RFC 4180: a CR inside a value gets quoted
    else:
        with open(path, "w", encoding="utf-8") as fh:
            for row in df.to_dict("records"):
                fh.write(json.dumps(row) + "\n")
    return path


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TEXT, min_size=1, max_size=12), st.sampled_from(["csv", "jsonl"]),
       st.sampled_from(["parquet", "csv", "jsonl"]), st.integers(1, 5))
def test_score_file_round_trips_any_text(bundle, tiny, texts, fmt_in, fmt_out, chunk_size):
    """score_file: any texts, any input/output format, any chunk size: same rows, same ids, same text, in order."""
    assume(any(t.strip() for t in texts) or fmt_in == "jsonl")  # an all-blank CSV is still data, but keep it quick
    with tempfile.TemporaryDirectory() as tmp:
        src = _write(texts, fmt_in, Path(tmp))
        out = Path(tmp) / f"out.{fmt_out}"
        summary = score_file(bundle, str(tiny.model_dir), str(src), out, chunk_size=chunk_size, redact=False)
        assert summary.rows_in == summary.rows_out == len(texts)
        if fmt_out == "parquet":
            got = pd.read_parquet(out)
        elif fmt_out == "csv":
            got = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        else:
            got = pd.read_json(out, lines=True, dtype=False)
    assert got["id"].tolist() == [f"r{i}" for i in range(len(texts))]
    read_back = ["" if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in got["text"]]
    if fmt_out == "csv":  # a text that looks like a formula is prefixed with ' on the way out
        read_back = [v[1:] if v.startswith("'") and not t.startswith("'") else v for v, t in zip(read_back, texts)]
    assert read_back == texts
    assert set(got["status"]) <= set(STATUSES)
