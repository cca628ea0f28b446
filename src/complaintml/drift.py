"""How a new batch of comments differs from the training data, seen through the model.

Three measures, all from the model's view so that REFERENCE and NEW are treated alike
(labels are predicted on both, even where REFERENCE has its own):

* prevalence of each predicted label in both, the shift (new - reference) with a 95%
  interval (normal approximation for two independent proportions), flagged when the
  interval excludes 0;
* PSI (population stability index) of each label's probability: 10 bins at the reference
  deciles; below 0.1 is usually read as stable, 0.1-0.25 as moderate, above 0.25 as large;
* unseen vocabulary: the share of NEW's word tokens (as the model normalises them) that
  are not in the model's vocabulary, beside the same share for REFERENCE.

No words are reported, only shares, so the table is safe to share.

Example::

    >>> table = drift_table(load_bundle("models/complaintml-default"), read_table("train.csv"), read_table("new.csv"))  # doctest: +SKIP
    >>> print(to_markdown(table))                                                                                       # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import InputError

__all__ = ["psi", "unseen_share", "drift_table", "to_markdown", "PSI_LARGE"]

PSI_LARGE = 0.25  # the usual reading: < 0.1 stable, 0.1-0.25 moderate, > 0.25 large
_Z = 1.959964


def psi(reference: np.ndarray, new: np.ndarray, bins: int = 10) -> float:
    """Population stability index of two samples of one score (NaNs dropped)."""
    reference, new = np.asarray(reference, float), np.asarray(new, float)
    reference, new = reference[~np.isnan(reference)], new[~np.isnan(new)]
    if not len(reference) or not len(new):
        return float("nan")
    # Decile edges of the reference; ties (many probabilities near 0) merge bins.
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    ref_share = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1) / len(reference)
    new_share = np.bincount(np.searchsorted(edges, new, side="right"), minlength=len(edges) + 1) / len(new)
    # A small floor keeps empty bins finite, as is usual for PSI.
    ref_share, new_share = np.maximum(ref_share, 1e-4), np.maximum(new_share, 1e-4)
    return float(np.sum((new_share - ref_share) * np.log(new_share / ref_share)))


def unseen_share(estimator, texts: list[str]) -> float:
    """Share of word tokens of ``texts`` (normalised as the model does) not in its vocabulary."""
    words = estimator.features_.transformer_list[0][1]
    vocab = words.named_steps["tfidf"].vocabulary_
    tokens = [tok for doc in words.named_steps["normalize"].transform(texts) for tok in doc.split()]
    if not tokens:
        return float("nan")
    return float(np.mean([tok not in vocab for tok in tokens]))


def _texts(frame: pd.DataFrame, column: str, name: str) -> list[str]:
    if column not in frame.columns:
        raise InputError(f"{name}: text column '{column}' is missing; columns are: {', '.join(map(str, frame.columns[:15]))}")
    texts = [t for t in frame[column].tolist() if isinstance(t, str) and t.strip()]
    if not texts:
        raise InputError(f"{name}: no non-empty comments in column '{column}'")
    return texts


def drift_table(bundle, reference: pd.DataFrame, new: pd.DataFrame, *, text_col: str | None = None,
                reference_text_col: str | None = None) -> pd.DataFrame:
    """One row per label (prevalence and PSI), then one row for unseen vocabulary.

    Columns: measure, head, label, reference, new, shift, shift_low, shift_high, psi, flag
    (``shift`` when the prevalence interval excludes 0, ``psi`` when PSI >= 0.25, both
    joined by ``+``).
    """
    est, tax = bundle.estimator, bundle.taxonomy
    ref_texts = _texts(reference, reference_text_col or tax.text_column, "reference")
    new_texts = _texts(new, text_col or tax.text_column, "new")
    proba = {"ref": est.predict_proba(ref_texts), "new": est.predict_proba(new_texts)}
    decided = {k: est.decide(v) for k, v in proba.items()}
    n_ref, n_new = len(ref_texts), len(new_texts)
    rows = []
    for head in tax.heads:
        for j, lab in enumerate(head.label_names):
            share = {}
            for k in ("ref", "new"):
                d = decided[k][head.name]
                share[k] = float(d[:, j].mean()) if head.is_multilabel else float((d == lab).mean())
            shift = share["new"] - share["ref"]
            se = np.sqrt(share["ref"] * (1 - share["ref"]) / n_ref + share["new"] * (1 - share["new"]) / n_new)
            p = psi(proba["ref"][head.name][:, j], proba["new"][head.name][:, j])
            flags = [f for f, hit in (("shift", abs(shift) > _Z * se), ("psi", p >= PSI_LARGE)) if hit]
            rows.append({"measure": "prevalence", "head": head.name, "label": lab, "reference": share["ref"],
                         "new": share["new"], "shift": shift, "shift_low": shift - _Z * se, "shift_high": shift + _Z * se,
                         "psi": p, "flag": "+".join(flags)})
    ref_unseen, new_unseen = unseen_share(est, ref_texts), unseen_share(est, new_texts)
    rows.append({"measure": "unseen vocabulary", "head": "", "label": "", "reference": ref_unseen, "new": new_unseen,
                 "shift": new_unseen - ref_unseen, "shift_low": np.nan, "shift_high": np.nan, "psi": np.nan, "flag": ""})
    rows.append({"measure": "rows", "head": "", "label": "", "reference": float(n_ref), "new": float(n_new),
                 "shift": np.nan, "shift_low": np.nan, "shift_high": np.nan, "psi": np.nan, "flag": ""})
    return pd.DataFrame(rows)


def to_markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """A DataFrame as a Markdown table (numbers rounded, NaN blank)."""
    def cell(v):
        if isinstance(v, float):
            return "" if np.isnan(v) else (f"{v:.0f}" if v.is_integer() and abs(v) >= 1 else f"{v:.{digits}f}")
        return str(v).replace("|", "\\|")
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * table.shape[1]]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)
