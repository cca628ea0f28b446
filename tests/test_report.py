"""Tests for complaintml.report: reading scored files, the pure aggregations, and the HTML.

The scored data is synthetic (``make_scored``), written with pyarrow and the same
metadata the scorer writes, so these tests do not depend on a trained model.
``make_scored`` and ``write_scored`` are also imported by test_report_browser.py and
test_notebook.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from complaintml.errors import InputError
from complaintml.report import (
    NOT_RECORDED,
    breakdown,
    build_report,
    cooccurrence,
    evidence_spans,
    label_indicators,
    load_scored,
    monthly_trend,
    prevalence,
    sample_for_table,
    scored_taxonomy,
    suppress,
    suppress_table,
    wilson_interval,
)
from complaintml.taxonomy import Taxonomy, load_taxonomy

ROOT = Path(__file__).resolve().parents[1]
TAXONOMY = load_taxonomy(ROOT / "configs" / "taxonomy" / "default.yaml")
XSS = "</script><script>alert(1)</script> the ward was fine"
PII = "Dr Smith rang me on 07700 900123 about the results"

# Phrases that "drive" each label, so evidence can be highlighted in the text.
PHRASES = {
    "anxious": ["nobody told us", "I was scared"],
    "humiliated": ["made me feel stupid", "talked down to"],
    "inconvenienced": ["wasted a whole day", "had to come back twice"],
    "uncomfortable": ["left in pain", "the bed was filthy"],
    "communication": ["nobody explained anything", "mixed messages"],
    "attention": ["call bell ignored", "nobody listened"],
    "staff_attitude": ["the receptionist was rude", "very dismissive"],
    "wait_time": ["waited 4 hours", "a long wait"],
    "access": ["could not get an appointment", "phone lines always busy"],
    "billing": ["charged for parking twice", "a surprise bill"],
    "environment": ["toilets were dirty", "too noisy to sleep"],
    "privacy_dignity": ["curtains left open", "discussed my case in the corridor"],
    "clinical_care": ["wrong medication", "missed the fracture"],
    "coordination": ["discharge letter lost", "referral never sent"],
}
# Root causes made more likely by each feeling, so the co-occurrence map has structure.
LINKED = {"anxious": ["communication", "attention"], "humiliated": ["staff_attitude", "privacy_dignity"],
          "inconvenienced": ["wait_time", "access"], "uncomfortable": ["environment", "clinical_care"]}


def make_scored(n: int = 600, seed: int = 7, taxonomy: Taxonomy = TAXONOMY) -> pd.DataFrame:
    """A synthetic scored table in schema version 1 (default taxonomy), 18 months of dates."""
    rng = np.random.default_rng(seed)
    feelings = TAXONOMY.head("feelings").label_names
    causes = TAXONOMY.head("root_causes").label_names
    site = rng.choice(["North", "South", "East"], size=n, p=[0.45, 0.35, 0.2]).astype(object)
    site[-3:] = "Tiny"  # a segment below min_cell, to be suppressed
    department = rng.choice(["ED", "Outpatients", "Maternity", "Radiology"], size=n).astype(object)
    department[5] = None  # a missing segment value
    dates = pd.Timestamp("2023-07-01") + pd.to_timedelta(rng.integers(0, 549, size=n), unit="D")
    f_bits = rng.random((n, len(feelings))) < np.array([0.3, 0.08, 0.35, 0.15])
    c_prob = np.full((n, len(causes)), 0.06)
    for i, feel in enumerate(feelings):
        for cause in LINKED[feel]:
            c_prob[f_bits[:, i], causes.index(cause)] = 0.6
    c_bits = rng.random((n, len(causes))) < c_prob
    status = np.where(rng.random(n) < 0.02, "empty_text", "ok").astype(object)
    status[:3] = "ok"
    rows = []
    for i in range(n):
        labs = [f for f, b in zip(feelings, f_bits[i]) if b] + [c for c, b in zip(causes, c_bits[i]) if b]
        evidence = {lab: [PHRASES[lab][rng.integers(0, 2)]] for lab in labs}
        text = ". ".join(p for ps in evidence.values() for p in ps) or rng.choice(
            ["Lovely staff, thank you", "All fine", "Quick and kind service"])
        if f_bits[i].any():
            polarity = "mixed" if rng.random() < 0.2 else "negative"
        else:
            polarity = "positive" if rng.random() < 0.8 else "neutral"
        rows.append(dict(text=str(text), evidence=json.dumps(evidence), polarity=polarity,
                         feelings=";".join(f for f, b in zip(feelings, f_bits[i]) if b),
                         root_causes=";".join(c for c, b in zip(causes, c_bits[i]) if b)))
    df = pd.DataFrame(rows)
    df.insert(0, "id", [f"C{i:05d}" for i in range(n)])
    df["site"], df["department"], df["date"] = site, department, dates
    df["source"], df["question"] = "FFT", "What could we do better?"
    df.loc[0, "text"] = XSS
    df.loc[1, "text"] = PII
    df.loc[2, "text"] = "Parking was a zebra crossing nightmare. a long wait"
    df.loc[2, "evidence"] = json.dumps({"wait_time": ["a long wait"]})
    df.loc[2, ["feelings", "root_causes", "polarity"]] = ["", "wait_time", "negative"]
    for head in TAXONOMY.heads:
        ind = label_indicators(df, head).fillna(False).to_numpy(bool)
        noise = rng.uniform(0, 0.45, size=ind.shape)
        proba = np.where(ind, 1 - noise, noise)
        for j, lab in enumerate(head.label_names):
            df[head.proba_column(lab)] = proba[:, j]
    unscored = status != "ok"
    df.loc[unscored, "text"] = ""
    df.loc[unscored, "evidence"] = "{}"
    df.loc[unscored, ["polarity", "feelings", "root_causes"]] = None
    df.loc[unscored, [c for c in df.columns if c.startswith("proba__")]] = np.nan
    df["needs_review"] = (rng.random(n) < 0.1) & ~unscored
    df.loc[0, "needs_review"] = True  # so the injection attempt also reaches the HTML review queue
    df["alert"] = False
    df.loc[df.index[~unscored][[10, 20, 30]], "alert"] = True
    df["alert_reason"] = np.where(df["alert"], "possible safeguarding concern", "")
    df["status"] = status
    df["model_name"], df["model_version"] = "complaintml-tfidf", "2024.06.1"
    return df


def scored_meta(taxonomy: Taxonomy = TAXONOMY) -> dict:
    return {"schema_version": "1", "model_name": "complaintml-tfidf", "model_version": "2024.06.1",
            "taxonomy": taxonomy.to_dict(), "text_column": "text", "id_column": "id",
            "limitations": ["Trained on English comments only.", "Sarcasm is often missed."]}


def write_scored(df: pd.DataFrame, path: Path, meta: dict | None = None) -> Path:
    """Write ``df`` as the scorer does: Parquet with key-value metadata, or CSV/JSONL plus
    ``<path>.meta.json``. ``meta=None`` writes the default metadata; ``meta={}`` none."""
    meta = scored_meta() if meta is None else meta
    path = Path(path)
    if path.suffix == ".parquet":
        table = pa.Table.from_pandas(df, preserve_index=False)
        if meta:
            kv = {**(table.schema.metadata or {}), b"complaintml": json.dumps(meta).encode()}
            table = table.replace_schema_metadata(kv)
        pq.write_table(table, path)
        return path
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        df.to_json(path, orient="records", lines=True, date_format="iso")
    if meta:
        Path(str(path) + ".meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return path


def embedded_data(html_text: str) -> dict:
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html_text, re.S)
    return json.loads(found.group(1))


@pytest.fixture(scope="module")
def scored() -> pd.DataFrame:
    return make_scored()


@pytest.fixture(scope="module")
def scored_file(scored, tmp_path_factory) -> Path:
    return write_scored(scored, tmp_path_factory.mktemp("scored") / "scored.parquet")


# ---------------------------------------------------------------------------------------
# Wilson interval
# ---------------------------------------------------------------------------------------
def test_wilson_known_values():
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson_interval(10, 10)
    assert lo == pytest.approx(0.7225, abs=1e-4) and hi == 1.0
    lo, hi = wilson_interval(81, 263)  # Wilson (1927) style textbook example
    assert lo == pytest.approx(0.2553, abs=1e-4) and hi == pytest.approx(0.3662, abs=1e-4)


def test_wilson_matches_scipy_and_handles_arrays_and_zero_n():
    from scipy.stats import binomtest

    k, n = np.array([0, 1, 7, 50, 99]), np.array([3, 20, 40, 100, 100])
    lo, hi = wilson_interval(k, n)
    for i in range(len(k)):
        ci = binomtest(int(k[i]), int(n[i])).proportion_ci(confidence_level=0.95, method="wilson")
        assert lo[i] == pytest.approx(ci.low, abs=1e-9) and hi[i] == pytest.approx(ci.high, abs=1e-9)
    lo, hi = wilson_interval(0, 0)
    assert np.isnan(lo) and np.isnan(hi)
    lo, hi = wilson_interval(pd.Series([2, 0], dtype="Int64"), pd.Series([4, 0]))
    assert lo[0] > 0 and np.isnan(lo[1])


# ---------------------------------------------------------------------------------------
# Indicators and aggregations
# ---------------------------------------------------------------------------------------
def test_label_indicators_delimited_matches_pandas(scored):
    head = TAXONOMY.head("root_causes")
    ind = label_indicators(scored, head)
    unscored = scored["status"] != "ok"
    assert list(ind.columns) == head.label_names
    assert ind[unscored].isna().all().all() and ind[~unscored].notna().all().all()
    for lab in head.label_names:
        expected = scored.loc[~unscored, "root_causes"].str.split(";").map(lambda labs, lab=lab: lab in labs)
        assert ind.loc[~unscored, lab].astype(bool).equals(expected.astype(bool))


def test_label_indicators_multiclass_and_onehot():
    poly = TAXONOMY.head("polarity")
    df = pd.DataFrame({"polarity": ["negative", "positive", None],
                       **{poly.proba_column(lab): [0.9, 0.1, np.nan] for lab in poly.label_names}})
    ind = label_indicators(df, poly)
    assert ind.loc[0].tolist() == [True, False, False, False]
    assert ind.loc[1].tolist() == [False, True, False, False]
    assert ind.loc[2].isna().all()
    onehot = Taxonomy.from_dict({"name": "t", "heads": [{"name": "themes", "kind": "multilabel", "encoding": "onehot",
                                                         "labels": ["Parking", "Food & drink"]}]}).heads[0]
    df = pd.DataFrame({"Parking": [1, 0, None], "Food & drink": [1, 1, None]})
    ind = label_indicators(df, onehot)
    assert ind["Parking"].tolist()[:2] == [True, False] and ind["Food & drink"].tolist()[:2] == [True, True]
    assert ind.loc[2].isna().all()  # no proba columns: a null label column means not scored


def test_label_indicators_tolerates_spaces_and_reports_missing_column():
    head = TAXONOMY.head("feelings")
    ind = label_indicators(pd.DataFrame({"feelings": ["anxious ; humiliated", ""]}), head)
    assert ind.loc[0, "anxious"] and ind.loc[0, "humiliated"] and not ind.loc[1].any()
    with pytest.raises(InputError, match="no column 'feelings'"):
        label_indicators(pd.DataFrame({"x": [1]}), head)


def test_prevalence_counts_equal_pandas(scored):
    head = TAXONOMY.head("feelings")
    prev = prevalence(label_indicators(scored, head))
    ok = scored[scored["status"] == "ok"]
    for lab in head.label_names:
        count = ok["feelings"].str.split(";").map(lambda labs, lab=lab: lab in labs).sum()
        assert prev.loc[lab, "count"] == count
        assert prev.loc[lab, "n"] == len(ok)
        assert prev.loc[lab, "share"] == pytest.approx(count / len(ok))
        lo, hi = wilson_interval(count, len(ok))
        assert (prev.loc[lab, "lo"], prev.loc[lab, "hi"]) == pytest.approx((lo, hi))


def test_suppress_replaces_small_counts_and_keeps_zero():
    out = suppress(pd.Series([0, 1, 4, 5, 120], index=list("abcde")), min_cell=5)
    assert out.isna().tolist() == [False, True, True, False, False]
    assert out["a"] == 0 and out["d"] == 5 and out["e"] == 120
    frame = suppress(pd.DataFrame({"x": [3, 10], "y": [0, 9]}), min_cell=10)
    assert frame.isna().to_numpy().tolist() == [[True, False], [False, True]]


def test_suppress_table_hides_rates_and_small_segments():
    table = pd.DataFrame({"segment": ["big", "big", "tiny"], "label": ["a", "b", "a"],
                          "count": [3, 40, 0], "n": [100, 100, 4]})
    table["share"] = table["count"] / table["n"]
    table["lo"], table["hi"] = wilson_interval(table["count"], table["n"])
    out = suppress_table(table, min_cell=5)
    assert out["suppressed"].tolist() == [True, False, True]
    assert pd.isna(out.loc[0, "count"]) and pd.isna(out.loc[0, "share"]) and pd.isna(out.loc[0, "hi"])
    assert out.loc[0, "n"] == 100  # the big segment's size is not a secret
    assert out.loc[1, "count"] == 40 and out.loc[1, "share"] == pytest.approx(0.4)
    assert pd.isna(out.loc[2, "n"]) and pd.isna(out.loc[2, "count"])  # a tiny segment shows nothing
    assert table.loc[0, "count"] == 3  # the input is not changed


def test_monthly_trend_matches_groupby(scored):
    head = TAXONOMY.head("feelings")
    trend = monthly_trend(label_indicators(scored, head), scored["date"])
    months = pd.period_range("2023-07", "2024-12", freq="M").to_timestamp()
    assert trend["month"].drop_duplicates().tolist() == list(months)  # 18 months, none skipped
    ok = scored[scored["status"] == "ok"]
    month = ok["date"].dt.to_period("M").dt.to_timestamp()
    has = ok["feelings"].str.contains("anxious", regex=False)
    expected = has.groupby(month).sum()
    got = trend[trend["label"] == "anxious"].set_index("month")
    assert got["count"].tolist() == expected.reindex(months, fill_value=0).tolist()
    assert got["n"].tolist() == month.value_counts().reindex(months, fill_value=0).tolist()
    assert trend.groupby("label")["count"].sum()["anxious"] == has.sum()


def test_monthly_trend_keeps_empty_months_and_skips_missing_dates():
    ind = pd.DataFrame({"a": pd.array([True, False, True, None], dtype="boolean")})
    dates = pd.Series(pd.to_datetime(["2024-01-05", "2024-03-09", None, "2024-03-01"]))
    trend = monthly_trend(ind, dates)
    assert trend["month"].dt.strftime("%Y-%m").tolist() == ["2024-01", "2024-02", "2024-03"]
    assert trend["count"].tolist() == [1, 0, 0] and trend["n"].tolist() == [1, 0, 1]
    assert np.isnan(trend.loc[1, "share"])
    assert monthly_trend(ind, pd.Series([pd.NaT] * 4)).empty


def test_breakdown_matches_crosstab(scored):
    head = TAXONOMY.head("root_causes")
    table = breakdown(label_indicators(scored, head), scored["department"])
    ok = scored[scored["status"] == "ok"]
    dept = ok["department"].fillna(NOT_RECORDED)
    has = ok["root_causes"].str.contains("wait_time", regex=False)
    expected = pd.crosstab(dept, has)[True]
    got = table[table["label"] == "wait_time"].set_index("segment")["count"]
    assert got.sort_index().tolist() == expected.sort_index().tolist()
    n = table[table["label"] == "wait_time"].set_index("segment")["n"]
    assert n.sort_index().tolist() == dept.value_counts().sort_index().tolist()
    assert NOT_RECORDED in set(table["segment"])
    sizes = table.drop_duplicates("segment")
    assert sizes["segment"].tolist()[0] in dept.value_counts().index[:1].tolist()  # largest first


def test_cooccurrence_counts_pairs(scored):
    feel = label_indicators(scored, TAXONOMY.head("feelings"))
    cause = label_indicators(scored, TAXONOMY.head("root_causes"))
    mat = cooccurrence(feel, cause)
    assert mat.shape == (4, 10)
    both = (scored["feelings"].fillna("").str.contains("humiliated") &
            scored["root_causes"].fillna("").str.contains("staff_attitude")).sum()
    assert mat.loc["humiliated", "staff_attitude"] == both
    tiny = cooccurrence(pd.DataFrame({"x": pd.array([True, True, None], dtype="boolean")}),
                        pd.DataFrame({"y": pd.array([True, False, True], dtype="boolean")}))
    assert tiny.loc["x", "y"] == 1


def test_sample_for_table_keeps_every_stratum():
    rng = np.random.default_rng(0)
    strata = pd.DataFrame({"common": rng.random(5000) < 0.5, "rare": np.zeros(5000, bool), "never": False})
    strata.loc[[17, 4000], "rare"] = True
    picked = sample_for_table(strata, max_rows=100, seed=1)
    assert len(picked) == 100 and len(set(picked)) == 100
    assert {17, 4000} <= set(picked)
    assert np.array_equal(picked, sample_for_table(strata, max_rows=100, seed=1))
    assert np.array_equal(sample_for_table(strata, max_rows=10_000), np.arange(5000))
    assert len(sample_for_table(strata, max_rows=1)) == 1


def test_evidence_spans_are_case_insensitive_and_merged():
    text = "We WAITED 4 hours; waited 4 hours again. Nobody told us."
    assert evidence_spans(text, ["waited 4 hours"]) == [(3, 17), (19, 33)]
    assert evidence_spans(text, ["waited 4", "4 hours", ""]) == [(3, 17), (19, 33)]
    assert evidence_spans(text, ["(regex?"]) == []
    assert evidence_spans(None, ["x"]) == []
    assert evidence_spans("it was with Mum's", ["it", "'s"]) == [(0, 2), (15, 17)]  # whole words only


# ---------------------------------------------------------------------------------------
# Reading scored files
# ---------------------------------------------------------------------------------------
def test_load_scored_reads_parquet_metadata(scored, scored_file):
    df, meta = load_scored(scored_file)
    assert len(df) == len(scored)
    assert meta["model_name"] == "complaintml-tfidf" and meta["model_version"] == "2024.06.1"
    assert meta["limitations"] == scored_meta()["limitations"]
    assert meta["inferred"] is False and meta["id_column"] == "id"
    assert scored_taxonomy(meta) == TAXONOMY
    assert df["needs_review"].dtype == bool and pd.api.types.is_datetime64_any_dtype(df["date"])


def test_load_scored_concatenates_and_drops_rescored_ids(scored, tmp_path):
    first = write_scored(scored.iloc[:400], tmp_path / "2024-06-01.parquet")
    second = write_scored(scored.iloc[350:], tmp_path / "2024-06-02.parquet")
    df, meta = load_scored([first, second])
    assert len(df) == len(scored) and meta["duplicates_dropped"] == 50
    assert df["id"].is_unique and meta["files"] == [str(first), str(second)]
    assert meta["models"] == [{"model_name": "complaintml-tfidf", "model_version": "2024.06.1", "rows": len(scored)}]
    by_folder, _ = load_scored(tmp_path)
    assert len(by_folder) == len(scored)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_load_scored_reads_sidecar_formats_the_same(scored, tmp_path, suffix):
    path = write_scored(scored, tmp_path / f"scored{suffix}")
    df, meta = load_scored(path)
    assert meta["inferred"] is False and meta["limitations"]
    assert df["id"].tolist() == scored["id"].tolist()
    for head in TAXONOMY.heads:
        # CSV turns "" and null into the same thing; the probabilities keep them apart.
        assert label_indicators(df, head).equals(label_indicators(scored, head))
    assert df["date"].dt.date.tolist() == scored["date"].dt.date.tolist()
    assert df["alert"].sum() == 3


@pytest.mark.parametrize("dates, expected", [
    (["2024-01-05", "2024-02-10T09:00:00+01:00", "2024-03-01T23:30:00Z", ""],
     ["2024-01-05", "2024-02-10", "2024-03-01", None]),
    (["05/01/2024", "13/02/2024", "not a date", None], ["2024-01-05", "2024-02-13", None, None]),  # day first
    (["01/05/2024", "02/13/2024", "03/01/2024", None], ["2024-01-05", "2024-02-13", "2024-03-01", None]),  # US
])
def test_load_scored_parses_text_dates(scored, tmp_path, dates, expected):
    # The scorer passes input columns through as text, so dates often arrive as strings.
    df = scored.head(4).assign(date=dates)
    loaded, _ = load_scored(write_scored(df, tmp_path / "s.jsonl"))
    got = [None if pd.isna(d) else d.strftime("%Y-%m-%d") for d in loaded["date"]]
    assert got == expected


def test_load_scored_undoes_the_csv_formula_guard(scored, tmp_path):
    # The scorer writes CSV cells starting with = + - @ behind a ' so spreadsheets do not run them.
    df = scored.head(3).assign(text=["'=HYPERLINK(\"x\")", "'- waited too long", "'fine as it is"])
    loaded, _ = load_scored(write_scored(df, tmp_path / "s.csv"))
    assert loaded["text"].tolist() == ['=HYPERLINK("x")', "- waited too long", "'fine as it is"]


def test_load_scored_infers_heads_without_metadata(scored, tmp_path):
    df, meta = load_scored(write_scored(scored, tmp_path / "bare.parquet", meta={}))
    tax = scored_taxonomy(meta)
    assert meta["inferred"] is True
    assert [h.name for h in tax.heads] == ["polarity", "feelings", "root_causes"]
    assert tax.head("polarity").kind == "multiclass" and tax.head("feelings").is_multilabel
    assert tax.head_by_role("causes").name == "root_causes"
    assert tax.head("feelings").label_names == TAXONOMY.head("feelings").label_names


def test_load_scored_rejects_bad_inputs(scored, tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_scored(tmp_path / "missing.parquet")
    other = Taxonomy.from_dict({"name": "other",
                                "heads": [{"name": "feelings", "kind": "multilabel", "labels": ["anxious"]}]})
    a = write_scored(scored, tmp_path / "a.parquet")
    b = write_scored(scored, tmp_path / "b.parquet", meta={**scored_meta(), "taxonomy": other.to_dict()})
    with pytest.raises(InputError, match="different taxonomies"):
        load_scored([a, b])
    with pytest.raises(InputError, match="schema version '2'"):
        load_scored(write_scored(scored, tmp_path / "c.parquet", meta={**scored_meta(), "schema_version": "2"}))
    (tmp_path / "d.txt").write_text("x")
    with pytest.raises(InputError, match="unknown file type"):
        load_scored(tmp_path / "d.txt")
    with pytest.raises(InputError, match="no proba"):
        load_scored(write_scored(pd.DataFrame({"id": ["1"], "text": ["hi"]}), tmp_path / "e.parquet", meta={}))


# ---------------------------------------------------------------------------------------
# The HTML report
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def report_html(scored_file, tmp_path_factory) -> str:
    out = build_report(scored_file, tmp_path_factory.mktemp("report") / "report.html")
    return out.read_text(encoding="utf-8")


def test_report_is_self_contained(report_html):
    assert report_html.count("plotly.js v") == 1  # the library, inlined once
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", report_html, re.I)
    assert "default-src 'none'" in report_html  # the page may not fetch anything
    data = embedded_data(report_html)
    assert len(data["figures"]) >= 10
    assert all("data" in fig and "layout" in fig for fig in data["figures"].values())


def test_report_sections_in_order(report_html):
    ids = re.findall(r'<section id="([a-z]+)"', report_html)
    assert ids == ["alerts", "summary", "prevalence", "trends", "breakdown", "cooccurrence",
                   "examples", "comments", "review", "about"]
    alerts = report_html[report_html.index('id="alerts"'):report_html.index('id="summary"')]
    assert alerts.count("possible safeguarding concern") == 3


def test_report_escapes_script_injection(report_html):
    assert "<script>alert(1)</script>" not in report_html
    data = embedded_data(report_html)
    texts = ["".join(r[data["table"]["fields"].index("parts")]) for r in data["table"]["rows"]]
    assert XSS in texts  # the comment is there, as text
    review = report_html[report_html.index('id="review"'):]
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in review  # server-rendered HTML escapes it


def test_report_redacts_and_suppresses(report_html):
    assert "07700 900123" not in report_html and "Dr Smith" not in report_html
    assert "Dr [NAME]" in report_html and "[PHONE]" in report_html
    assert "Tiny (&lt;5)" in report_html  # site with 3 comments: size hidden in the breakdown tables
    data = embedded_data(report_html)
    heat = [f for f in data["figures"].values() if f["data"][0]["type"] == "heatmap"]
    tiny_rows = [row for fig in heat for y, row in zip(fig["data"][0]["y"], fig["data"][0]["text"]) if y.startswith("Tiny")]
    assert tiny_rows and all(cell == "<5" for row in tiny_rows for cell in row)


def test_report_table_has_all_rows_when_they_fit(report_html, scored):
    table = embedded_data(report_html)["table"]
    assert len(table["rows"]) == len(scored) and table["sampled"] is False
    assert 'id="sample-note"' not in report_html


def test_report_samples_table_and_says_so(scored_file, tmp_path, scored):
    html_text = build_report(scored_file, tmp_path / "r.html", max_table_rows=60, min_cell=10, redact_text=False).read_text()
    table = embedded_data(html_text)["table"]
    assert len(table["rows"]) == 60 and table["sampled"] is True
    assert 'id="sample-note"' in html_text and "<strong>60</strong> of the 600 comments" in html_text
    present = {k for r in table["rows"] for k in r[table["fields"].index("labels")]}
    assert present == set(range(len(table["labels"])))  # every label kept examples
    assert "&lt;10" in html_text  # min_cell is configurable
    assert "07700 900123" in html_text  # redaction switched off


def test_report_footer_and_missing_columns(scored, tmp_path):
    path = write_scored(scored.drop(columns=["department", "date"]), tmp_path / "s.parquet")
    html_text = build_report(path, tmp_path / "r.html", title="Ward <7> review").read_text()
    assert "<title>Ward &lt;7&gt; review</title>" in html_text
    assert "No column &#x27;department&#x27; in the data" in html_text
    assert "No date column" in html_text and 'id="f-from"' not in html_text
    about = html_text[html_text.index('id="about"'):]
    assert "complaintml-tfidf" in about and "2024.06.1" in about and "Sarcasm is often missed." in about


def test_report_rejects_bad_arguments(scored_file, tmp_path):
    with pytest.raises(InputError, match="min_cell"):
        build_report(scored_file, tmp_path / "r.html", min_cell=0)


def test_report_with_a_onehot_taxonomy_and_no_dates(tmp_path):
    # A bring-your-own taxonomy: one onehot head, no polarity or feelings, odd label names.
    tax = Taxonomy.from_dict({"name": "themes", "heads": [{"name": "themes", "role": "causes", "kind": "multilabel",
                                                           "encoding": "onehot", "labels": ["Parking", "Food & <drink>"]}]})
    rng = np.random.default_rng(1)
    bits = rng.random((40, 2)) < 0.5
    df = pd.DataFrame({"id": [str(i) for i in range(40)], "text": ["the car park was full"] * 40,
                       "Parking": bits[:, 0].astype(int), "Food & <drink>": bits[:, 1].astype(int),
                       "proba__themes__Parking": bits[:, 0] * 0.9, "proba__themes__Food & <drink>": bits[:, 1] * 0.8,
                       "evidence": ["not json"] * 40, "needs_review": False, "alert": False, "alert_reason": "",
                       "status": "ok"})
    path = write_scored(df, tmp_path / "themes.csv", meta={**scored_meta(tax), "limitations": []})
    html_text = build_report(path, tmp_path / "r.html", by=("site",)).read_text()
    assert "Food &amp; &lt;drink&gt;" in html_text and "<drink>" not in html_text
    assert "only one set of labels" in html_text and "No dates in the data" in html_text
    table = embedded_data(html_text)["table"]
    assert table["hasPolarity"] is False and table["hasDate"] is False and len(table["rows"]) == 40
    assert "None recorded in the scored file." in html_text
