"""The retraining loop: suggest, audit-labels, merge-labels, compare, learning-curve, drift, retrain.

Models here are tiny (a few hundred synthetic comments, cv_folds=2, word features only)
and the synthetic comments are built from small word lists, so what a good model must
do on them is known: these tests check behaviour, not only that commands run.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from complaintml.active import normalize_text, select_batch, suggest, uncertainty
from complaintml.audit import audit_labels, find_label_issues
from complaintml.bundle import ModelBundle, export_model
from complaintml.cli import app
from complaintml.compare import compare_models, f1_per_label, macro_f1
from complaintml.config import TrainConfig
from complaintml.curve import learning_curve, summarize_curve
from complaintml.dataset import Dataset
from complaintml.drift import drift_table, psi
from complaintml.errors import InputError
from complaintml.merge import merge_labels
from complaintml.model import ComplaintClassifier
from complaintml.taxonomy import Taxonomy

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()

TAX = Taxonomy.from_dict({
    "name": "loop-test", "text_column": "text", "id_column": "id",
    "heads": [
        {"name": "polarity", "kind": "multiclass", "column": "polarity", "labels": ["negative", "positive"]},
        {"name": "topics", "kind": "multilabel", "column": "topics", "labels": ["wait", "staff"]},
        {"name": "themes", "kind": "multilabel", "encoding": "onehot", "labels": ["parking", "food"]},
    ]})
WORDS = {"positive": "wonderful kind lovely brilliant caring thanks".split(),
         "negative": "rude awful terrible dismissive horrible useless".split(),
         "wait": "waited hours delay queue late slow".split(),
         "staff": "nurse doctor receptionist porter consultant midwife".split(),
         "parking": "parking carpark spaces ticket barrier bays".split(),
         "food": "food meal lunch sandwich breakfast tea".split()}
FILLER = "the was and very at our my ward visit today".split()
SMALL = {"word_ngram_range": [1, 1], "min_df": 1, "use_char": False, "cv_folds": 2, "min_positive": 3}


def make_rows(n: int, seed: int = 0, polarity: str | None = None) -> pd.DataFrame:
    """Synthetic labeled comments whose words say their labels."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        pol = polarity or ("positive" if rng.random() < 0.5 else "negative")
        topics = [t for t in ("wait", "staff") if rng.random() < 0.4]
        themes = {t: int(rng.random() < 0.3) for t in ("parking", "food")}
        words = list(rng.choice(WORDS[pol], 3)) + list(rng.choice(FILLER, 3))
        for lab in topics + [t for t, on in themes.items() if on]:
            words += list(rng.choice(WORDS[lab], 2))
        rng.shuffle(words)
        rows.append({"id": f"s{seed}-{i}", "text": " ".join(words), "polarity": pol, "topics": ";".join(topics),
                     "parking": str(themes["parking"]), "food": str(themes["food"]),
                     "split": "test" if i % 4 == 0 else "train"})
    return pd.DataFrame(rows)


def fit(df: pd.DataFrame, **params) -> ComplaintClassifier:
    est = ComplaintClassifier(taxonomy=TAX.to_dict(), **{**SMALL, "word_ngram_range": (1, 1), **params})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(df["text"], df)


def config() -> TrainConfig:
    cfg = TrainConfig()
    cfg.model.update(SMALL)
    cfg.evaluation["bootstrap"] = 0
    return cfg


@pytest.fixture(scope="session")
def data() -> pd.DataFrame:
    return make_rows(320)


@pytest.fixture(scope="session")
def bundle(data) -> ModelBundle:
    return ModelBundle(estimator=fit(data[data.split == "train"]), name="loop-test", version="1")


@pytest.fixture(scope="session")
def model_dir(bundle, tmp_path_factory) -> Path:
    return export_model(bundle, tmp_path_factory.mktemp("model") / "loop-test")


@pytest.fixture()
def workdir(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    return tmp_path


def clear(pol: str, k: int) -> list[str]:
    other = "wait"
    return [" ".join(WORDS[pol][(i + j) % 6] for j in range(4)) + f" {WORDS[other][i % 6]} {WORDS[other][(i + 1) % 6]}"
            for i in range(k)]


def mixed(k: int) -> list[str]:
    return [f"{WORDS['positive'][i % 6]} {WORDS['positive'][(i + 2) % 6]} {WORDS['negative'][i % 6]} "
            f"{WORDS['negative'][(i + 3) % 6]} {WORDS['wait'][i % 6]} {WORDS['wait'][(i + 1) % 6]}" for i in range(k)]


# -- suggest ---------------------------------------------------------------------------
def test_uncertainty_ranks_a_split_decision_above_a_confident_one(bundle):
    est = bundle.estimator
    proba = {"polarity": np.array([[0.98, 0.02], [0.52, 0.48]]),
             "topics": np.array([[0.01, 0.01], [0.01, 0.01]]), "themes": np.array([[0.01, 0.01], [0.01, 0.01]])}
    for strategy in ("margin", "entropy"):
        scores, notes = uncertainty(est, proba, strategy)
        assert scores[1] > scores[0]
        assert notes[1].startswith("polarity: 'negative' 0.52 vs 'positive' 0.48")


def test_select_batch_is_diverse_when_the_pool_is_wider_than_the_batch():
    # Two tight groups; the 10 most uncertain rows all sit in group A.
    rng = np.random.default_rng(0)
    feats = np.vstack([rng.normal(0, 0.01, (20, 5)) + [1, 0, 0, 0, 0], rng.normal(0, 0.01, (20, 5)) + [0, 1, 0, 0, 0]])
    scores = np.r_[np.linspace(0.9, 0.8, 20), np.linspace(0.7, 0.6, 20)]
    plain = select_batch(feats, scores, 2, pool_factor=1)
    diverse = select_batch(feats, scores, 2, pool_factor=20)
    assert set(plain) <= set(range(20))
    assert len({i // 20 for i in diverse}) == 2


def test_suggest_prefers_uncertain_comments_and_prefills_valid_labels(bundle):
    frame = pd.DataFrame({"text": clear("positive", 20) + clear("negative", 20) + mixed(5)})
    out = suggest(bundle, frame, 5, pool_factor=1)
    assert len(out) == 5 and out["id"].is_unique
    assert set(out["text"]) == set(mixed(5))
    assert out["uncertainty"].is_monotonic_decreasing
    for head in TAX.heads:
        head.encode(out)  # raises if a prefilled value is outside the taxonomy
    assert set(out["polarity"]) <= {"negative", "positive"}
    assert {"annotator", "labeled_at", "least_sure", "duplicates"} <= set(out.columns)
    # With diversity on, the picked rows are still more uncertain than the rest on average.
    div = suggest(bundle, frame, 5, pool_factor=4)
    rest = frame[~frame["text"].isin(div["text"])]
    assert div["uncertainty"].mean() > suggest(bundle, rest, len(rest), pool_factor=1)["uncertainty"].mean()


def test_suggest_deduplicates_and_excludes_labeled_rows(bundle, data):
    texts = mixed(3) + [mixed(3)[0].upper() + "!!", "  ", None] + data["text"].head(5).tolist()
    frame = pd.DataFrame({"text": texts})
    out = suggest(bundle, frame, 50, exclude=data)
    assert len(out) == 3
    assert out["text"].map(normalize_text).is_unique
    assert out.loc[out["text"] == mixed(3)[0], "duplicates"].item() == 2
    assert out["id"].str.startswith("row").all()
    with pytest.raises(InputError, match="no comments left"):
        suggest(bundle, frame.iloc[4:], 5, exclude=data)


def test_suggest_cli(model_dir, workdir):
    pd.DataFrame({"text": clear("positive", 30) + mixed(10), "site": "A"}).to_csv("new.csv", index=False)
    res = runner.invoke(app, ["suggest", "new.csv", "-n", "8", "-o", "to_label.csv", "--model", str(model_dir)])
    assert res.exit_code == 0, res.output
    out = pd.read_csv("to_label.csv", encoding="utf-8-sig", keep_default_na=False)
    assert len(out) == 8 and out["id"].is_unique and (out["site"] == "A").all()
    TAX.heads[0].encode(out)
    assert json.loads(res.stdout)["suggested"] == 8
    res = runner.invoke(app, ["suggest", "new.csv", "-n", "8", "-o", "x.csv", "--model", str(model_dir), "--strategy", "x"])
    assert res.exit_code == 2 and "strategy" in res.output


# -- audit-labels ----------------------------------------------------------------------
def flipped_copy(data: pd.DataFrame) -> tuple[pd.DataFrame, list[int]]:
    """``data`` with three rows made into clear cases given a wrong label: two polarity, one topic."""
    noisy = data.copy()
    rows = [int(i) for i in noisy.index[noisy.split == "train"][:3]]
    for i, text in zip(rows[:2], clear("positive", 2)):
        noisy.loc[i, ["text", "polarity", "topics"]] = [text, "negative", "wait"]
    noisy.loc[rows[2], ["text", "topics"]] = [" ".join(WORDS["wait"]), "staff"]
    return noisy, rows


def test_audit_flags_a_flipped_label(data):
    noisy, rows = flipped_copy(data)
    suspects = audit_labels(Dataset(noisy, TAX, "noisy", ""), config())
    flagged = suspects["id"].tolist()
    assert set(noisy.loc[rows, "id"]) <= set(flagged[:6])
    reasons = suspects.set_index("id")["reasons"]
    assert "polarity: given 'negative' but model is" in reasons[noisy.at[rows[0], "id"]]
    assert "sure of 'positive'" in reasons[noisy.at[rows[0], "id"]]
    assert "topics: 'wait' not given but model is" in reasons[noisy.at[rows[2], "id"]]
    assert len(suspects) < len(noisy) * 0.1


def test_find_label_issues_uses_per_label_thresholds():
    tax = Taxonomy.from_dict({"name": "t", "heads": [{"name": "h", "kind": "multilabel", "labels": ["a"]}]})
    y = np.array([[1], [1], [0], [0], [0]])
    p = np.array([[0.9], [0.05], [0.1], [0.95], [0.2]])
    issues = find_label_issues(tax, {"h": y}, {"h": p})
    assert sorted(issues["row"]) == [1, 3]
    assert "not given but model is 0.95 sure it applies" in issues.set_index("row").at[3, "reason"]


def test_audit_cli(data, workdir):
    noisy, rows = flipped_copy(data)
    noisy.drop(columns="id").to_csv("noisy.csv", index=False)
    (workdir / "cfg.toml").write_text("[model]\nword_ngram_range = [1, 1]\nmin_df = 1\nuse_char = false\n"
                                      "cv_folds = 2\nmin_positive = 3\n")
    res = runner.invoke(app, ["audit-labels", "noisy.csv", "-o", "suspects.csv", "--config", "cfg.toml",
                              "--taxonomy", str(write_taxonomy(workdir)), "--top", "6"])
    assert res.exit_code == 0, res.output
    suspects = pd.read_csv("suspects.csv", encoding="utf-8-sig")
    # Without an id column, ids are the file's row numbers.
    assert {str(i + 1) for i in rows} <= set(suspects["id"].astype(str))
    summary = json.loads(res.stdout)
    assert summary["written"] == len(suspects) <= 6 and summary["suspects"] >= len(suspects)


def write_taxonomy(folder: Path) -> Path:
    import yaml

    path = folder / "taxonomy.yaml"
    path.write_text(yaml.safe_dump(TAX.to_dict()))
    return path


# -- merge-labels ----------------------------------------------------------------------
def test_merge_adds_rows_with_provenance_and_reports_conflicts(data):
    labeled = data.head(10)
    batch = make_rows(3, seed=9).drop(columns="split")
    batch["uncertainty"] = 0.5
    batch.loc[0, "text"] = "-" + batch.loc[0, "text"]
    batch.loc[0, "text"] = "'" + batch.loc[0, "text"]  # the quote that CSV output puts before a formula-like cell
    res = merge_labels(labeled, [("batch.csv", batch)], TAX, annotator="ann1", now="2026-01-01T00:00:00+00:00")
    assert res.summary()["added"] == 3 and res.conflicts.empty
    new = res.frame.tail(3)
    assert (new["split"] == "train").all() and (new["annotator"] == "ann1").all()
    assert (new["source_file"] == "batch.csv").all() and "uncertainty" not in res.frame.columns
    assert new["text"].iloc[0].startswith("-")

    fix = labeled.head(2).copy()
    fix["polarity"] = np.where(fix["polarity"] == "positive", "negative", "positive")
    fix.loc[fix.index[1], "polarity"] = labeled["polarity"].iloc[1]  # unchanged row: no conflict
    res = merge_labels(labeled, [("fix.csv", fix)], TAX)
    assert res.unresolved == 1 and res.conflicts["field"].tolist() == ["polarity"]
    assert res.frame["polarity"].iloc[0] == labeled["polarity"].iloc[0]  # not overwritten
    res = merge_labels(labeled, [("fix.csv", fix)], TAX, prefer="new")
    assert res.unresolved == 0 and res.updated == 1
    assert res.frame["polarity"].iloc[0] == fix["polarity"].iloc[0] and res.frame["source_file"].iloc[0] == "fix.csv"


def test_merge_rejects_labels_outside_the_taxonomy(data):
    bad = data.head(2).copy()
    bad["topics"] = "parkng"
    with pytest.raises(InputError, match="outside the taxonomy"):
        merge_labels(data.head(5), [("bad.csv", bad)], TAX)


def test_merge_cli_conflict_exit_code(data, workdir):
    tax_path = write_taxonomy(workdir)
    data.head(10).to_csv("labeled.csv", index=False)
    a, b = data.iloc[[3]].copy(), data.iloc[[3]].copy()
    a["topics"], b["topics"] = "wait", "staff"
    a.to_csv("a.csv", index=False)
    b.to_csv("b.csv", index=False)
    args = ["merge-labels", "labeled.csv", "a.csv", "b.csv", "-o", "new.csv", "--taxonomy", str(tax_path)]
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "conflicting" in res.output
    assert not Path("new.csv").exists()
    conflicts = pd.read_csv("new.conflicts.csv", encoding="utf-8-sig")
    assert set(conflicts["incoming_source"]) == {"a.csv", "b.csv"}
    res = runner.invoke(app, args + ["--prefer", "new", "--annotator", "ann2"])
    assert res.exit_code == 0, res.output
    merged = pd.read_csv("new.csv", encoding="utf-8-sig", keep_default_na=False)
    assert len(merged) == 10 and merged.loc[3, "topics"] == "staff" and merged.loc[3, "annotator"] == "ann2"


# -- compare ---------------------------------------------------------------------------
def test_f1_per_label_matches_scikit_learn():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(1)
    t, p = rng.integers(0, 2, (50, 4)), rng.integers(0, 2, (50, 4))
    assert np.allclose(f1_per_label(t, p), f1_score(t, p, average=None, zero_division=0))
    head = TAX.heads[0]
    yt, yp = rng.choice(["negative", "positive"], 40), rng.choice(["negative", "positive"], 40)
    assert macro_f1(head, yt, yp) == pytest.approx(f1_score(yt, yp, average="macro"))


def test_compare_model_with_itself_is_no_change(bundle, data):
    decision = compare_models(bundle, bundle, data[data.split == "test"], n_boot=200)
    assert decision["verdict"] == "no change" and not decision["promote"]
    assert all(m["diff"] == 0 for m in decision["heads"].values())


def test_compare_detects_a_better_challenger(bundle, data):
    train = data[data.split == "train"].copy()
    scrambled = train.copy()
    scrambled["polarity"] = np.random.default_rng(0).permutation(scrambled["polarity"].to_numpy())
    weak = ModelBundle(estimator=fit(scrambled), name="loop-test", version="0")
    decision = compare_models(weak, bundle, data[data.split == "test"], n_boot=300)
    assert decision["verdict"] == "better" and decision["promote"]
    assert decision["better_heads"] == ["polarity"] and decision["polarity.macro_f1_diff_low"] > 0
    assert compare_models(bundle, weak, data[data.split == "test"], n_boot=300)["verdict"] == "worse"


def test_compare_cli(model_dir, data, workdir):
    data.to_csv("test.csv", index=False)
    res = runner.invoke(app, ["compare", "--champion", str(model_dir), "--challenger", str(model_dir),
                              "--data", "test.csv", "--n-boot", "100", "--json", "d.json"])
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("verdict: no change")
    assert json.loads(Path("d.json").read_text())["n_rows"] == int((data.split == "test").sum())


@pytest.mark.slow
def test_retrain_pipeline_promotes_first_model_then_keeps_champion(data, workdir):
    import importlib.util

    data.to_csv("labeled.csv", index=False)
    tax_path = write_taxonomy(workdir)
    (workdir / "cfg.toml").write_text("[model]\nword_ngram_range = [1, 1]\nmin_df = 1\nuse_char = false\ncv_folds = 2\n"
                                      "min_positive = 3\n\n[evaluation]\nbootstrap = 0\n")
    spec = importlib.util.spec_from_file_location("retrain", ROOT / "pipelines" / "retrain.py")
    retrain = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(retrain)
    args = ["--data", "labeled.csv", "--taxonomy", str(tax_path), "--config", "cfg.toml", "--n-boot", "100"]
    assert retrain.main(args) == 0
    from complaintml.tracking import alias_version

    assert alias_version("loop-test", "champion") == "1"
    assert (workdir / "models" / "loop-test" / "manifest.json").is_file()
    assert retrain.main(args) == 0  # same data, same model: no change, champion stays
    assert alias_version("loop-test", "challenger") == "2" and alias_version("loop-test", "champion") == "1"
    import mlflow

    runs = mlflow.search_runs(experiment_names=["loop-test"], filter_string="tags.`complaintml.kind` = 'compare'")
    assert sorted(runs["tags.complaintml.decision"]) == ["first model", "no change"]


# -- learning curve ----------------------------------------------------------------------
def test_learning_curve(data, workdir):
    ds = Dataset(data, TAX, "synthetic", "")
    curve = learning_curve(ds, config(), fractions=[0.1, 1.0], seeds=2)
    assert len(curve) == 2 * 2 * len(TAX.heads)
    assert curve["macro_f1"].between(0, 1).all()
    table = summarize_curve(curve)
    assert list(table["n_train"]) == [24, 240] and table.loc[1, "polarity"] >= table.loc[0, "polarity"]

    data.to_csv("labeled.csv", index=False)
    (workdir / "cfg.toml").write_text("[model]\nword_ngram_range = [1, 1]\nmin_df = 1\nuse_char = false\n"
                                      "min_positive = 3\n")
    res = runner.invoke(app, ["learning-curve", "labeled.csv", "--taxonomy", str(write_taxonomy(workdir)),
                              "--config", "cfg.toml", "--fractions", "0.5,1", "--cv-folds", "2", "-o", "curve.csv",
                              "--plot", "curve.png"])
    assert res.exit_code == 0, res.output
    assert "| fraction | n_train |" in res.stdout and Path("curve.png").stat().st_size > 1000
    assert len(pd.read_csv("curve.csv", encoding="utf-8-sig")) == 2 * len(TAX.heads)


# -- drift -----------------------------------------------------------------------------
def test_psi_is_zero_for_identical_and_large_for_shifted_scores():
    rng = np.random.default_rng(0)
    a = rng.beta(2, 5, 2000)
    assert psi(a, a) == pytest.approx(0, abs=1e-9)
    assert psi(a, rng.beta(2, 5, 2000)) < 0.05
    assert psi(a, rng.beta(5, 2, 2000)) > 1


def test_drift_table(bundle, data):
    same = drift_table(bundle, data, data)
    prev = same[same.measure == "prevalence"]
    assert np.allclose(prev["shift"], 0) and np.allclose(prev["psi"], 0, atol=1e-9) and (prev["flag"] == "").all()
    shifted = pd.DataFrame({"text": clear("negative", 60) + ["zzzz qqqq xxxx nurse"] * 20})
    table = drift_table(bundle, data, shifted).set_index(["measure", "label"])
    assert table.loc[("prevalence", "negative"), "shift"] > 0.15
    assert table.loc[("prevalence", "negative"), "psi"] > 0.25
    assert "shift" in table.loc[("prevalence", "negative"), "flag"]
    vocab = table.loc[("unseen vocabulary", "")]
    assert vocab["reference"] == 0 and vocab["new"] > 0.1


def test_drift_cli(model_dir, data, workdir):
    data.to_csv("ref.csv", index=False)
    pd.DataFrame({"comment": clear("negative", 40)}).to_csv("new.csv", index=False)
    res = runner.invoke(app, ["drift", "ref.csv", "new.csv", "--model", str(model_dir), "--text-col", "comment"])
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("| measure | head | label |") and "| prevalence | polarity | negative |" in res.stdout
    res = runner.invoke(app, ["drift", "ref.csv", "new.csv", "--model", str(model_dir), "--format", "csv"])
    assert res.exit_code == 2 and "text column 'text' is missing" in res.output
