"""Which comments to label next: uncertain ones, spread over the feature space, prefilled.

Active learning in three steps:

1. uncertainty per head from the model's probabilities: for a multiclass head the margin
   between its two most likely labels (``margin``) or the normalised entropy (``entropy``);
   for a multilabel head the label closest to its decision threshold (``margin``: 1 at the
   threshold, 0 at 0 or 1) or the highest binary entropy (``entropy``). A row's score is
   the mean over heads, each in [0, 1];
2. diversity: the ``pool_factor * n`` most uncertain rows are clustered into ``n`` groups
   (MiniBatchKMeans on a TruncatedSVD of the model's TF-IDF features) and the most
   uncertain row of each group is taken, so a batch does not spend 200 labels on 200
   rewordings of one complaint (``pool_factor=1`` is plain uncertainty sampling);
3. near-duplicates (same words after case folding and punctuation removal) count once.

The suggestion file holds the model's current guesses in the taxonomy's own label columns,
so an annotator only corrects them and ``merge-labels`` folds the file back. It holds raw
comment text for the annotator: keep it where the labeled data is kept.

Example::

    >>> out = suggest(load_bundle("models/complaintml-default"), read_table("new.csv"), n=200)  # doctest: +SKIP
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.cluster import MiniBatchKMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.preprocessing import normalize

from .errors import InputError

__all__ = ["STRATEGIES", "PROVENANCE_COLUMNS", "normalize_text", "uncertainty", "select_batch", "suggest"]

STRATEGIES = ("margin", "entropy")
PROVENANCE_COLUMNS = ("annotator", "labeled_at", "source_file")
_EPS = 1e-12


def normalize_text(text) -> str:
    """Key that spots duplicates: case-folded words and digits joined by single spaces."""
    return " ".join(re.findall(r"\w+", text.casefold())) if isinstance(text, str) else ""


def _binary_entropy(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return -(p * np.log(p) + (1 - p) * np.log(1 - p)) / np.log(2)


def uncertainty(estimator, proba: dict[str, np.ndarray], strategy: str = "margin") -> tuple[np.ndarray, list[str]]:
    """Per-row uncertainty in [0, 1] (mean over heads) and a note on the least sure label.

    ``proba`` is ``estimator.predict_proba(...)`` (or ``oof_proba_``); labels the model never
    learned (NaN) are ignored.
    """
    if strategy not in STRATEGIES:
        raise InputError(f"strategy must be one of {', '.join(STRATEGIES)}, got '{strategy}'")
    from .taxonomy import Taxonomy

    tax = Taxonomy.from_dict(estimator.taxonomy_)
    per_head, notes = [], []
    for head in tax.heads:
        p = np.asarray(proba[head.name], dtype=float)
        names = np.array(head.label_names, dtype=object)
        if head.is_multilabel:
            th = np.array([estimator.thresholds_[head.name][lab] for lab in head.label_names], dtype=float)
            if strategy == "margin":
                room = np.where(p < th, th, 1 - th)
                u = 1 - np.abs(p - th) / np.maximum(room, _EPS)
            else:
                u = _binary_entropy(p)
            u = np.nan_to_num(u, nan=0.0)
            j = np.argmax(u, axis=1)
            rows = np.arange(len(p))
            per_head.append(u[rows, j])
            notes.append([f"{head.name}: '{names[k]}' {p[i, k]:.2f} (threshold {th[k]:.2f})" for i, k in zip(rows, j)])
        else:
            order = np.argsort(-p, axis=1)
            top, second = order[:, 0], order[:, 1]
            rows = np.arange(len(p))
            if strategy == "margin":
                u = 1 - (p[rows, top] - p[rows, second])
            else:
                live = (p.max(0) > 0).sum()  # labels the model can predict
                u = -(np.clip(p, _EPS, 1) * np.log(np.clip(p, _EPS, 1))).sum(1) / np.log(max(live, 2))
            per_head.append(np.clip(u, 0, 1))
            notes.append([f"{head.name}: '{names[a]}' {p[i, a]:.2f} vs '{names[b]}' {p[i, b]:.2f}"
                          for i, a, b in zip(rows, top, second)])
    scores = np.mean(per_head, axis=0)
    # The note names the head that is least sure for that row.
    worst = np.argmax(np.vstack(per_head), axis=0)
    return scores, [notes[h][i] for i, h in enumerate(worst)]


def select_batch(features, scores: np.ndarray, n: int, pool_factor: float = 5.0, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` rows, most uncertain first, one per cluster of the uncertain pool."""
    order = np.argsort(-scores, kind="stable")
    if n >= len(order):
        return order
    pool = order[: min(len(order), max(n, int(np.ceil(n * pool_factor))))]
    if len(pool) == n:
        return pool
    emb = features[pool]
    dims = min(64, emb.shape[0] - 1, emb.shape[1] - 1)
    if dims >= 2:
        emb = TruncatedSVD(n_components=dims, random_state=seed).fit_transform(emb)
    emb = normalize(emb.toarray() if hasattr(emb, "toarray") else emb)
    clusters = MiniBatchKMeans(n_clusters=n, random_state=seed, n_init=3, batch_size=max(1024, 3 * n)).fit_predict(emb)
    # The pool is sorted by uncertainty, so the first member of each cluster is its most uncertain.
    _, first = np.unique(clusters, return_index=True)
    chosen = pool[np.sort(first)]
    if len(chosen) < n:  # k-means can leave clusters empty: top up with the next most uncertain rows
        rest = pool[~np.isin(pool, chosen)]
        chosen = np.concatenate([chosen, rest[: n - len(chosen)]])
    return chosen[np.argsort(-scores[chosen], kind="stable")]


def suggest(bundle, frame: pd.DataFrame, n: int, *, strategy: str = "margin", pool_factor: float = 5.0, seed: int = 0,
            text_col: str | None = None, id_col: str | None = None, exclude: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ``n`` comments of ``frame`` most worth labeling, with the model's guesses prefilled.

    Columns: id, text, the taxonomy's label columns (prefilled), empty ``annotator`` and
    ``labeled_at`` for the annotator, then ``uncertainty``, ``least_sure``, ``duplicates``
    (rows of ``frame`` with the same normalised text) and the input's other columns.
    Rows whose id or normalised text is in ``exclude`` (e.g. the labeled data) are skipped.
    Without an id column, ids are the 1-based row numbers of ``frame`` (``row<k>``).
    """
    if n < 1:
        raise InputError("n must be at least 1")
    est, tax = bundle.estimator, bundle.taxonomy
    text_col, id_col = text_col or tax.text_column, id_col or tax.id_column
    if text_col not in frame.columns:
        raise InputError(f"text column '{text_col}' is missing; columns are: {', '.join(map(str, frame.columns[:15]))} "
                         "(use --text-col)")
    frame = frame.reset_index(drop=True)
    ids = (frame[id_col].astype("string") if id_col in frame.columns
           else pd.Series([f"row{i + 1}" for i in range(len(frame))], dtype="string"))
    keys = frame[text_col].map(normalize_text)
    usable = keys.str.len() > 0
    if exclude is not None:
        if id_col in exclude.columns:
            usable &= ~ids.isin(set(exclude[id_col].astype("string").dropna()))
        ex_text = text_col if text_col in exclude.columns else tax.text_column
        if ex_text in exclude.columns:
            usable &= ~keys.isin(set(exclude[ex_text].map(normalize_text)))
    duplicates = keys[usable].value_counts()
    candidates = np.flatnonzero((usable & ~keys.duplicated()).to_numpy())
    if not len(candidates):
        raise InputError("no comments left to suggest (all empty, duplicated or already labeled)")
    texts = frame[text_col].iloc[candidates].tolist()
    # The frame, not the texts alone: a taxonomy's context columns feed the model too.
    Xf = est.transform_features(frame.iloc[candidates].reset_index(drop=True).assign(**{est.text_column: texts}))
    proba = est.proba_from_features(Xf)
    scores, notes = uncertainty(est, proba, strategy)
    picked = select_batch(Xf, scores, n, pool_factor, seed)

    rows = frame.iloc[candidates[picked]].reset_index(drop=True)
    decisions = est.decide({h: p[picked] for h, p in proba.items()})
    guesses = pd.concat([h.decode(decisions[h.name]) for h in tax.heads], axis=1)
    out = pd.DataFrame({id_col: ids.iloc[candidates[picked]].to_numpy(), text_col: rows[text_col].to_numpy()})
    out = pd.concat([out, guesses], axis=1)
    out["annotator"] = ""
    out["labeled_at"] = ""
    out["uncertainty"] = np.round(scores[picked], 4)
    out["least_sure"] = [notes[i] for i in picked]
    out["duplicates"] = keys.iloc[candidates[picked]].map(duplicates).to_numpy()
    taken = set(out.columns) | set(PROVENANCE_COLUMNS)
    for col in frame.columns:
        if col not in taken:
            out[col] = rows[col].to_numpy()
    return out
