"""Learning curve: held-out F1 against the number of labeled rows, to see if labeling still pays.

For each seed the training rows are shuffled once, and growing prefixes of that order
(e.g. 10%, 25%, ... 100%) are trained on, so every point adds rows to the previous one.
Each model is scored on the frozen test split (or, without a ``split`` column, on a fixed
random 20% of the rows kept aside) by macro-F1 per head over the labels present there.
A curve still rising at 100% says more labels will help; a flat one says they will not.

Example::

    >>> curve = learning_curve(load_dataset("comments.csv", tax), load_config(None))  # doctest: +SKIP
    >>> print(summarize_curve(curve))                                                   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from .compare import macro_f1
from .errors import InputError

__all__ = ["learning_curve", "summarize_curve", "plot_learning_curve", "DEFAULT_FRACTIONS"]

log = logging.getLogger(__name__)
DEFAULT_FRACTIONS = (0.1, 0.25, 0.5, 0.75, 1.0)


def _split(ds, holdout: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    if ds.has_split and not ds.test.empty:
        return ds.train.reset_index(drop=True), ds.test.reset_index(drop=True)
    log.info("%s has no test split: holding out a random %d%% of the rows", ds.source, round(holdout * 100))
    perm = np.random.default_rng(seed).permutation(len(ds.frame))
    cut = int(round(holdout * len(perm)))
    return ds.frame.iloc[perm[cut:]].reset_index(drop=True), ds.frame.iloc[perm[:cut]].reset_index(drop=True)


def learning_curve(ds, cfg, fractions=DEFAULT_FRACTIONS, seeds: int = 1, cv_folds: int | None = None,
                   holdout: float = 0.2) -> pd.DataFrame:
    """One row per (fraction, seed, head): fraction, n_train, seed, head, macro_f1.

    A fraction too small to train on (a multiclass head with fewer than two learnable
    labels) gets NaN and a warning.
    """
    from .model import ComplaintClassifier

    fractions = sorted({float(f) for f in fractions})
    if not fractions or fractions[0] <= 0 or fractions[-1] > 1:
        raise InputError("fractions must be in (0, 1]")
    if seeds < 1:
        raise InputError("seeds must be at least 1")
    tax = ds.taxonomy
    train, test = _split(ds, holdout, seed=0)
    truth = {h.name: h.encode(test) for h in tax.heads}
    params = cfg.estimator_params()
    if cv_folds:
        params["cv_folds"] = cv_folds
    rows = []
    for seed in range(seeds):
        order = np.random.default_rng(seed).permutation(len(train))
        for frac in fractions:
            n = max(2, int(np.ceil(frac * len(train))))
            sub = train.iloc[order[:n]]
            est = ComplaintClassifier(taxonomy=tax.to_dict(), text_column=tax.text_column, **{**params, "random_state": seed})
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    est.fit(sub, sub)
            except ValueError as exc:
                log.warning("%d rows (%.0f%%, seed %d): cannot train (%s)", n, frac * 100, seed, exc)
                rows += [{"fraction": frac, "n_train": n, "seed": seed, "head": h.name, "macro_f1": np.nan} for h in tax.heads]
                continue
            pred = est.predict_proba(test)
            decided = est.decide(pred)
            rows += [{"fraction": frac, "n_train": n, "seed": seed, "head": h.name,
                      "macro_f1": macro_f1(h, truth[h.name], decided[h.name])} for h in tax.heads]
            log.info("%d rows (%.0f%%, seed %d): %s", n, frac * 100, seed,
                     ", ".join(f"{r['head']} {r['macro_f1']:.3f}" for r in rows[-len(tax.heads):]))
    return pd.DataFrame(rows)


def summarize_curve(curve: pd.DataFrame) -> pd.DataFrame:
    """Mean (and sd over seeds) macro-F1 per head at each size, plus the gain per 100 extra rows."""
    g = curve.groupby(["fraction", "n_train", "head"], sort=True)["macro_f1"]
    table = g.mean().unstack("head")
    out = table.reset_index()
    for head in table.columns:
        if curve["seed"].nunique() > 1:
            out[f"{head}_sd"] = g.std().unstack("head")[head].to_numpy()
        gain = table[head].diff().to_numpy() / np.diff(table.index.get_level_values("n_train"), prepend=np.nan) * 100
        out[f"{head}_gain_per_100"] = gain
    return out


def plot_learning_curve(curve: pd.DataFrame, path) -> None:
    """Macro-F1 per head against labeled rows (mean, with a ±1 sd band over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for head, g in curve.groupby("head", sort=False):
        stats = g.groupby("n_train")["macro_f1"].agg(["mean", "std"])
        ax.plot(stats.index, stats["mean"], marker="o", ms=3, label=head)
        ax.fill_between(stats.index, stats["mean"] - stats["std"].fillna(0), stats["mean"] + stats["std"].fillna(0), alpha=0.15)
    ax.set(xlabel="labeled training rows", ylabel="held-out macro-F1", title="Learning curve")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
