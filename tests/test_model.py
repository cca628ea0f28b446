"""Estimator contract, determinism and the rare-label rule of ComplaintClassifier."""

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from complaintml.evaluation import bootstrap_ci, multilabel_f1_ci
from complaintml.model import ComplaintClassifier, best_f1_threshold, nb_log_count_ratio
from complaintml.taxonomy import Taxonomy, load_taxonomy

from conftest import DEFAULT_TAXONOMY, SAMPLE


@pytest.fixture(scope="module")
def data():
    df = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    return df[df["split"] == "train"].head(400).reset_index(drop=True)


@pytest.fixture(scope="module")
def tax():
    return load_taxonomy(DEFAULT_TAXONOMY)


@pytest.fixture(scope="module")
def fitted(data, tax):
    return ComplaintClassifier(taxonomy=tax.to_dict(), cv_folds=3).fit(data["text"], data)


def test_init_stores_params_only_and_clone_works(tax):
    est = ComplaintClassifier(taxonomy=tax.to_dict(), C=2.0)
    assert not [k for k in vars(est) if k.endswith("_")]
    twin = clone(est)
    assert twin.get_params()["C"] == 2.0 and twin is not est
    assert set(est.get_params()) >= {"taxonomy", "C", "cv_folds", "threshold_policy"}


def test_predict_before_fit_raises(tax):
    with pytest.raises(NotFittedError):
        ComplaintClassifier(taxonomy=tax.to_dict()).predict(["x"])


def test_fit_returns_self_and_predicts_label_columns(data, tax):
    est = ComplaintClassifier(taxonomy=tax.to_dict(), cv_folds=2, use_char=False)
    assert est.fit(data["text"], data) is est
    pred = est.predict(["I waited five hours and nobody told me anything", "nothing"])
    assert list(pred.columns) == tax.label_columns and len(pred) == 2
    assert set(pred["polarity"]) <= set(tax.head("polarity").label_names)


def test_dataframe_input_uses_text_column(fitted, data):
    a = fitted.predict(data[["id", "text"]].head(20))
    b = fitted.predict(data["text"].head(20).tolist())
    pd.testing.assert_frame_equal(a, b)


def test_same_data_and_seed_give_identical_model(data, tax, fitted):
    again = ComplaintClassifier(taxonomy=tax.to_dict(), cv_folds=3).fit(data["text"], data)
    texts = data["text"].head(50)
    assert again.thresholds_ == fitted.thresholds_
    for head, p in fitted.predict_proba(texts).items():
        np.testing.assert_array_equal(p, again.predict_proba(texts)[head])


def test_worker_count_does_not_change_the_model(data, tax, fitted):
    serial = ComplaintClassifier(taxonomy=tax.to_dict(), cv_folds=3, n_jobs=1).fit(data["text"], data)
    texts = data["text"].head(50)
    assert serial.thresholds_ == fitted.thresholds_
    for head, p in fitted.predict_proba(texts).items():
        np.testing.assert_array_equal(p, serial.predict_proba(texts)[head])


def test_fast_bootstrap_matches_resampling_the_metric():
    rng = np.random.default_rng(1)
    y_true, y_pred = rng.random((300, 6)) < 0.2, rng.random((300, 6)) < 0.25
    y_true[:, 5] = False  # a label absent from the data: F1 0, as scikit-learn's zero_division=0
    macro, micro = multilabel_f1_ci(y_true, y_pred, n=200, seed=3)
    assert macro == bootstrap_ci(y_true, y_pred, lambda a, b: f1_score(a, b, average="macro", zero_division=0), 200, 3)
    assert micro == bootstrap_ci(y_true, y_pred, lambda a, b: f1_score(a, b, average="micro", zero_division=0), 200, 3)
    assert macro[0] < macro[1]


def test_probabilities_are_probabilities(fitted, data):
    proba = fitted.predict_proba(data["text"].head(30))
    assert np.allclose(proba["polarity"].sum(1), 1.0)
    assert ((proba["feelings"] >= 0) & (proba["feelings"] <= 1)).all()


def test_learned_thresholds_are_within_grid(fitted):
    for head in ("feelings", "root_causes"):
        assert all(0.05 <= t <= 0.95 for t in fitted.thresholds_[head].values())


def test_rare_label_is_kept_but_never_predicted(data):
    tax = Taxonomy.from_dict({"name": "t", "heads": [
        {"name": "topic", "kind": "multilabel", "labels": ["waiting", "rare"]}]})
    y = pd.DataFrame({"topic": ["waiting" if "wait" in t.lower() else "" for t in data["text"]]})
    y.loc[[0, 1], "topic"] = "rare"
    est = ComplaintClassifier(taxonomy=tax.to_dict(), cv_folds=2, use_char=False).fit(data["text"], y)
    assert est.untrained_labels_["topic"] == ["rare"]
    proba = est.predict_proba(data["text"].head(10))["topic"]
    assert np.isnan(proba[:, 1]).all() and not np.isnan(proba[:, 0]).any()
    assert "rare" not in ";".join(est.predict(data["text"])["topic"])


def test_best_f1_threshold_finds_the_separating_cut():
    proba = np.array([0.1, 0.2, 0.35, 0.6, 0.7])
    y = np.array([0, 0, 1, 1, 1])
    assert best_f1_threshold(proba, y) == pytest.approx(0.21)
    assert best_f1_threshold(proba, np.zeros(5, int)) == 0.5


def test_evidence_phrases_come_from_the_text(fitted):
    texts = ["Waited six hours in the waiting room and the receptionist was rude to my mum"]
    Xf = fitted.transform_features(texts)
    dec = fitted.decide(fitted.proba_from_features(Xf))
    ev = fitted.evidence(texts, Xf, dec)[0]
    assert ev, "some label should be predicted with evidence"
    for phrases in ev.values():
        assert all(p in texts[0] for p in phrases)


def test_keyword_baseline_follows_its_cues(tax):
    from complaintml.baseline import KeywordBaseline
    from complaintml.lexicon import load_lexicon

    from conftest import ROOT

    lex = load_lexicon(ROOT / "configs" / "lexicon" / "default.yaml")
    kb = KeywordBaseline(taxonomy=tax.to_dict(), lexicon=lex).fit()
    pred = kb.predict(["We waited four hours and the receptionist was rude", "n/a"])
    assert "wait_time" in pred["root_causes"][0] and "staff_attitude" in pred["root_causes"][0]
    assert pred["root_causes"][1] == "" and pred["polarity"][1] == "neutral"


def test_nb_ratio_counts_each_feature_once_per_row():
    X = sparse.csr_matrix(np.array([[2.0, 0, 1], [1, 0, 0], [0, 3, 1], [0, 1, 0]], dtype=np.float32))
    y = np.array([1, 1, 0, 0])
    # positives: feature counts (2, 0, 1) + 1 -> (3, 1, 2); negatives: (0, 2, 1) + 1 -> (1, 3, 2)
    expected = np.log((np.array([3, 1, 2]) / 6) / (np.array([1, 3, 2]) / 6))
    np.testing.assert_allclose(nb_log_count_ratio(X, y), expected, rtol=1e-6)


def _targets(tax, frame):
    return {h.name: h.encode(frame) for h in tax.heads}


def test_nb_weight_is_folded_into_the_stored_coefficients(data, tax, fitted):
    # With nb_weight 1 the stored coefficients act on the unscaled features: they must give the mean
    # decision values of the fold models, each a regression fitted on the features scaled by its own
    # training rows' NB ratios; and they differ from a plain regression's.
    nb = ComplaintClassifier(taxonomy=tax.to_dict(), cv_folds=3, nb_weight=1.0).fit(data["text"], data)
    Xf = nb.transform_features(data["text"])
    j = tax.head("root_causes").label_names.index("wait_time")
    y = tax.head("root_causes").encode(data)[:, j]
    folds = nb._folds(tax, _targets(tax, data))
    assert len(folds) == 3
    expected = []
    for tr, _ in folds:
        r = nb_log_count_ratio(Xf[tr], y[tr])
        ref = LogisticRegression(C=nb.C, class_weight="balanced", solver="liblinear", dual=True,
                                 random_state=0).fit(Xf[tr] @ sparse.diags(r), y[tr])
        expected.append(ref.decision_function(Xf @ sparse.diags(r)))
    p = nb.heads_["root_causes"]
    ours = Xf @ p["coef"][j] + p["intercept"][j]
    np.testing.assert_allclose(ours, np.mean(expected, axis=0), atol=2e-3)
    plain = ComplaintClassifier(taxonomy=tax.to_dict(), cv_folds=3, nb_weight=0.0).fit(data["text"], data)
    assert np.abs(plain.heads_["root_causes"]["coef"][j] - p["coef"][j]).max() > 0.1
    # In between (the default, 0.75), each label's coefficients are the weighted mean of the two fits'.
    assert fitted.nb_weight == 0.75
    for key in ("coef", "intercept"):
        np.testing.assert_allclose(fitted.heads_["root_causes"][key],
                                   0.75 * p[key] + 0.25 * plain.heads_["root_causes"][key], atol=1e-5)


def test_multiclass_head_is_the_mean_of_its_fold_models(data, tax, fitted):
    Xf = fitted.transform_features(data["text"])
    head = tax.head("polarity")
    y = head.encode(data)
    probas = []
    for tr, _ in fitted._folds(tax, _targets(tax, data)):
        ref = LogisticRegression(C=fitted.multiclass_C, class_weight="balanced", max_iter=3000).fit(Xf[tr], y[tr])
        probas.append(ref.decision_function(Xf))
    logits = np.mean(probas, axis=0)  # classes_ sorted, as the stored columns say
    p = fitted.heads_["polarity"]
    np.testing.assert_allclose(np.asarray(Xf @ p["coef"].T) + p["intercept"], logits, atol=2e-3)
    assert [head.label_names[c] for c in p["columns"]] == sorted(set(y))


def test_multiclass_class_missing_from_a_fold_is_still_learned(data):
    # "neutral" on one row with min_positive 1: the fold that validates on it trains without it, so the
    # fold models have different classes and cannot be averaged; the head is then fitted on every row.
    tax = Taxonomy.from_dict({"name": "t", "heads": [
        {"name": "tone", "kind": "multiclass", "labels": ["negative", "positive", "neutral"]}]})
    y = pd.DataFrame({"tone": np.where(data["polarity"] == "positive", "positive", "negative")})
    y.loc[0, "tone"] = "neutral"
    est = ComplaintClassifier(taxonomy=tax.to_dict(), cv_folds=3, min_positive=1, use_char=False).fit(data["text"], y)
    p = est.heads_["tone"]
    assert sorted(p["columns"].tolist()) == [0, 1, 2] and p["coef"].shape[0] == 3
    assert est.untrained_labels_["tone"] == []
    # The fit on every row saw the neutral row (class-weighted): it is its own best guess.
    assert est.predict(data["text"].head(1))["tone"].tolist() == ["neutral"]


def test_nb_weight_outside_zero_to_one_is_refused(data, tax):
    with pytest.raises(ValueError, match="nb_weight"):
        ComplaintClassifier(taxonomy=tax.to_dict(), nb_weight=1.5).fit(data["text"], data)
