"""Training: fit on the train rows, report out-of-fold (CV) and held-out metrics. No MLflow.

Cross-validated figures come from the estimator's out-of-fold probabilities (the same
folds that calibrate probabilities and pick thresholds), so they are slightly optimistic
for thresholds; the frozen ``test`` split gives the honest figure.

Example::

    >>> result = train(load_dataset(path, tax), load_config(cfg_path))   # doctest: +SKIP
    >>> result.test_metrics["feelings"]["macro_f1"]                      # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from .config import TrainConfig
from .dataset import Dataset
from .evaluation import evaluate, length_band
from .model import ComplaintClassifier

__all__ = ["TrainResult", "train", "model_card", "limitations"]

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    estimator: ComplaintClassifier
    cv_metrics: dict
    test_metrics: dict | None
    fit_seconds: float
    n_train: int
    n_test: int
    warnings: list[str] = field(default_factory=list)
    test_truth: dict | None = None
    test_proba: dict | None = None
    test_pred: dict | None = None


def train(ds: Dataset, cfg: TrainConfig) -> TrainResult:
    tax = ds.taxonomy
    train_df, test_df = ds.train.reset_index(drop=True), ds.test.reset_index(drop=True)
    est = ComplaintClassifier(taxonomy=tax.to_dict(), text_column=tax.text_column, **cfg.estimator_params())
    started = time.time()
    est.fit(train_df, train_df)  # the frame: text and any context columns
    fit_seconds = time.time() - started
    notes = []
    for head, labs in est.untrained_labels_.items():
        if labs:
            msg = (f"head '{head}': {len(labs)} label(s) have fewer than {est.min_positive} training examples and will "
                   f"never be predicted: {', '.join(labs[:8])}{' ...' if len(labs) > 8 else ''}")
            warnings.warn(msg, stacklevel=2)
            notes.append(msg)

    if est.lexicon and not est.cues_for(tax):
        notes.append("the lexicon has no cues for this taxonomy's heads and labels: no cue features were used")

    truth = {h.name: h.encode(train_df) for h in tax.heads}
    trained = {h.name: est.heads_[h.name]["trained"] for h in tax.heads if h.is_multilabel}
    oof = est.oof_proba_
    oof_pred = est.decide(oof)
    seg_train = {"length": length_band(train_df[tax.text_column])}
    if "source" in train_df.columns:
        seg_train["source"] = train_df["source"].astype("string").fillna("unknown").to_numpy()
    n_boot, seed = cfg.evaluation["bootstrap"], cfg.evaluation["seed"]
    cv = evaluate(tax, truth, oof_pred, oof, trained, seg_train, n_boot, seed)

    test_metrics = test_truth = test_proba = test_pred = None
    if len(test_df):
        test_truth = {h.name: h.encode(test_df) for h in tax.heads}
        test_proba = est.predict_proba(test_df)
        test_pred = est.decide(test_proba)
        seg_test = {"length": length_band(test_df[tax.text_column])}
        if "source" in test_df.columns:
            seg_test["source"] = test_df["source"].astype("string").fillna("unknown").to_numpy()
        test_metrics = evaluate(tax, test_truth, test_pred, test_proba, trained, seg_test, n_boot, seed)
    return TrainResult(est, cv, test_metrics, fit_seconds, len(train_df), len(test_df), notes,
                       test_truth, test_proba, test_pred)


def limitations(result: TrainResult) -> list[str]:
    out = ["Trained on the labeled data given; quality on other services, regions or writing styles must be checked "
           "on a sample of their own comments before use.",
           "Predictions support, not replace, a person reading the comments; low-confidence rows are flagged needs_review.",
           "Alert rules are phrase lists: they miss paraphrases and must not be the only safeguarding route."]
    for head, labs in result.estimator.untrained_labels_.items():
        if labs:
            out.append(f"Never predicted (too few examples) in head {head}: {', '.join(labs)}.")
    return out


def _fmt(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.3f}"


def model_card(name: str, version: str, tax, result: TrainResult, data_source: str, data_digest: str,
               config_digest: str) -> str:
    """A Markdown model card: intended use, data, metrics per label and segment, limitations."""
    lines = [f"# Model card: {name} (version {version})", "",
             "## Intended use",
             "Tag free-text patient feedback (survey answers, online reviews) with the taxonomy's labels so that "
             "patient-experience teams can count, filter and read comments by what went wrong and how patients felt. "
             "Not for decisions about individual patients or staff.", "",
             "## Data",
             f"- Source: `{data_source}` (digest `{data_digest}`), {result.n_train} training rows, {result.n_test} held-out rows.",
             f"- Taxonomy: `{tax.name}` (digest `{tax.digest()}`); config digest `{config_digest}`.",
             *([f"- Context columns read beside the text: {', '.join(f'`{c}`' for c in tax.context_columns)} "
                "(scoring inputs should hold them)."] if tax.context_columns else []),
             f"- Fit time: {result.fit_seconds:.1f} s.", ""]
    for title, metrics in (("Held-out split", result.test_metrics), ("Cross-validation (out-of-fold)", result.cv_metrics)):
        if not metrics:
            continue
        lines += [f"## {title}", "", "| head | macro-F1 (95% CI) | micro-F1 | calibration error |", "|---|---|---|---|"]
        for h in tax.heads:
            m = metrics[h.name]
            lo, hi = m["macro_f1_ci"]
            lines.append(f"| {h.name} | {_fmt(m['macro_f1'])} ({_fmt(lo)}-{_fmt(hi)}) | {_fmt(m['micro_f1'])} | {_fmt(m['ece'])} |")
        lines += ["", "| head | label | precision | recall | F1 | support |", "|---|---|---|---|---|---|"]
        for h in tax.heads:
            for lab, lm in metrics[h.name]["labels"].items():
                lines.append(f"| {h.name} | {lab} | {_fmt(lm['precision'])} | {_fmt(lm['recall'])} | {_fmt(lm['f1'])} | {lm['support']} |")
        if metrics.get("segments"):
            lines += ["", "| segment | rows | " + " | ".join(f"{h.name} macro-F1" for h in tax.heads) + " |",
                      "|---|---|" + "---|" * len(tax.heads)]
            for seg, sm in metrics["segments"].items():
                lines.append(f"| {seg} | {sm['rows']} | " + " | ".join(_fmt(sm[h.name]["macro_f1"]) for h in tax.heads) + " |")
        lines.append("")
    lines += ["## Limitations", *[f"- {x}" for x in limitations(result)], ""]
    return "\n".join(lines)
