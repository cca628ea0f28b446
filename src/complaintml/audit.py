"""Find labels that are probably wrong (confident learning on out-of-fold probabilities).

The model is fitted on the labeled rows; its out-of-fold probabilities (``oof_proba_``:
each row scored by a model that did not see it) are compared with the given labels.
Following confident learning (Northcutt, Jiang and Chuang 2021), each label gets its own
threshold, the average probability the model gives it on the rows that carry it (its
average self-confidence), so a label the model is always unsure of is not over-flagged:

* multiclass head: a row given ``X`` is suspect when another label ``Y`` reaches ``Y``'s
  threshold; the most probable such ``Y`` is reported;
* multilabel head, one label at a time: a row without the label is suspect when the
  probability reaches the label's threshold, and a row with it is suspect when the
  probability of "absent" reaches the threshold of "absent" (its average on rows without).

A suspect also needs the model to favour the other answer (confidence at least
``min_confidence``, 0.5 by default). Rows are ranked by the margin between the model's
probability of the suggested answer and of the given one.

Example::

    >>> suspects = audit_labels(load_dataset("comments.csv", tax), load_config(None))  # doctest: +SKIP
    >>> suspects[["id", "reason"]].head()                                              # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["find_label_issues", "out_of_fold", "rank_suspects", "audit_labels"]


def find_label_issues(tax, truth: dict[str, np.ndarray], proba: dict[str, np.ndarray],
                      min_confidence: float = 0.5) -> pd.DataFrame:
    """One row per suspect (row, head, label): row, head, label, given, confidence, score, reason.

    ``truth`` holds each head's encoded labels (``Head.encode``) and ``proba`` its
    out-of-fold probabilities; NaN probabilities (labels never learned) are skipped.
    """
    found = []
    for head in tax.heads:
        p = np.asarray(proba[head.name], dtype=float)
        y = truth[head.name]
        names = head.label_names
        if head.is_multilabel:
            for j, lab in enumerate(names):
                pj, yj = p[:, j], y[:, j].astype(bool)
                if np.isnan(pj).all() or yj.all() or not yj.any():
                    continue
                t_present, t_absent = pj[yj].mean(), (1 - pj[~yj]).mean()
                missing = ~yj & (pj >= max(t_present, min_confidence))
                extra = yj & (1 - pj >= max(t_absent, min_confidence))
                for i in np.flatnonzero(missing):
                    found.append((i, head.name, lab, "absent", pj[i], 2 * pj[i] - 1,
                                  f"{head.name}: '{lab}' not given but model is {pj[i]:.2f} sure it applies"))
                for i in np.flatnonzero(extra):
                    found.append((i, head.name, lab, "present", 1 - pj[i], 1 - 2 * pj[i],
                                  f"{head.name}: given '{lab}' but model is {1 - pj[i]:.2f} sure it does not apply"))
        else:
            given = np.array([names.index(v) for v in y])
            thresholds = np.array([p[given == j, j].mean() if (given == j).any() else np.inf for j in range(len(names))])
            over = (p >= np.maximum(thresholds, min_confidence)[None, :])
            over[np.arange(len(p)), given] = False
            for i in np.flatnonzero(over.any(1)):
                j = int(np.argmax(np.where(over[i], p[i], -1)))
                g = given[i]
                found.append((i, head.name, names[j], names[g], p[i, j], p[i, j] - p[i, g],
                              f"{head.name}: given '{names[g]}' but model is {p[i, j]:.2f} sure of '{names[j]}'"))
    return pd.DataFrame(found, columns=["row", "head", "label", "given", "confidence", "score", "reason"])


def out_of_fold(ds, cfg, cv_folds: int | None = None) -> tuple[dict, dict]:
    """Fit on every labeled row of ``ds``; return (encoded labels, out-of-fold probabilities) per head."""
    from .model import ComplaintClassifier

    tax = ds.taxonomy
    frame = ds.frame.reset_index(drop=True)
    params = cfg.estimator_params()
    if cv_folds:
        params["cv_folds"] = cv_folds
    est = ComplaintClassifier(taxonomy=tax.to_dict(), text_column=tax.text_column, **params)
    est.fit(frame, frame)
    return {h.name: h.encode(frame) for h in tax.heads}, est.oof_proba_


def rank_suspects(ds, issues: pd.DataFrame) -> pd.DataFrame:
    """Suspect rows of ``ds.frame`` from :func:`find_label_issues`, most suspicious first.

    Columns: id, text, the given label columns, ``suspect_score`` (the highest margin),
    ``n_issues`` and ``reasons`` (all issues of the row, most confident first).
    """
    tax = ds.taxonomy
    frame = ds.frame.reset_index(drop=True)
    keep = [c for c in (tax.id_column, tax.text_column, *tax.label_columns) if c in frame.columns]
    columns = keep + ["suspect_score", "n_issues", "reasons"]
    if issues.empty:
        return pd.DataFrame(columns=columns)
    issues = issues.sort_values("score", ascending=False)
    per_row = issues.groupby("row", sort=False).agg(suspect_score=("score", "max"), n_issues=("reason", "size"),
                                                   reasons=("reason", "; ".join))
    per_row = per_row.sort_values("suspect_score", ascending=False, kind="stable")
    out = frame.loc[per_row.index, keep].reset_index(drop=True)
    out["suspect_score"] = per_row["suspect_score"].round(4).to_numpy()
    out["n_issues"] = per_row["n_issues"].to_numpy()
    out["reasons"] = per_row["reasons"].to_numpy()
    return out[columns]


def audit_labels(ds, cfg, min_confidence: float = 0.5, cv_folds: int | None = None) -> pd.DataFrame:
    """Suspect rows of a labeled dataset (see :func:`rank_suspects` for the columns)."""
    truth, oof = out_of_fold(ds, cfg, cv_folds)
    return rank_suspects(ds, find_label_issues(ds.taxonomy, truth, oof, min_confidence))
