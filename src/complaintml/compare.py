"""Champion vs challenger: paired bootstrap of the macro-F1 difference per head, and a verdict.

Both models score the same test rows; each bootstrap resample of those rows is scored for
both models, so the interval of the difference is narrow where the models agree (a paired
test), unlike two separate intervals that overlap. Macro-F1 is taken over the labels
present in the test rows, with the models' own thresholds; a label a model never learned
counts as F1 0 for it.

Verdict (``max_loss`` = 0.02 by default):

* ``better``: on at least one head the 95% interval of the difference lies above 0, and no
  head loses more than ``max_loss`` (point estimate) or is significantly worse;
* ``worse``: some head is significantly worse or loses more than ``max_loss``, none better;
* ``mixed``: both; ``no change``: neither.

Only ``better`` promotes. A model compared with itself is ``no change``.

Example::

    >>> d = compare_models(load_bundle("models:/m@champion"), load_bundle("models:/m@challenger"), test_df)  # doctest: +SKIP
    >>> d["verdict"], d["promote"]                                                                          # doctest: +SKIP
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .errors import InputError, ModelError

__all__ = ["indicators", "f1_per_label", "macro_f1", "compare_models", "format_comparison", "test_rows",
           "champion_challenger"]

log = logging.getLogger(__name__)


def indicators(head, values: np.ndarray) -> np.ndarray:
    """A head's encoded labels or decisions as an n x L 0/1 matrix (multiclass: one-hot)."""
    if head.is_multilabel:
        return np.asarray(values, dtype=np.int8)
    return (np.asarray(values, dtype=object)[:, None] == np.array(head.label_names, dtype=object)[None, :]).astype(np.int8)


def f1_per_label(truth: np.ndarray, pred: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """F1 of every column of two n x L 0/1 matrices; with ``weights`` (B x n row counts), B x L.

    F1 is 0 where a label has no true and no predicted rows (scikit-learn's zero_division=0).
    """
    truth, pred = truth.astype(np.float64), pred.astype(np.float64)
    w = np.ones((1, len(truth))) if weights is None else weights
    tp, fp, fn = w @ (truth * pred), w @ ((1 - truth) * pred), w @ (truth * (1 - pred))
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return f1[0] if weights is None else f1


def macro_f1(head, truth: np.ndarray, pred: np.ndarray) -> float:
    """Macro-F1 of one head over the labels present in ``truth`` (encoded labels or decisions)."""
    t, p = indicators(head, truth), indicators(head, pred)
    present = t.sum(0) > 0
    return float(f1_per_label(t, p)[present].mean()) if present.any() else float("nan")


def _same_labels(a, b) -> bool:
    return [(h.name, h.label_names) for h in a.heads] == [(h.name, h.label_names) for h in b.heads]


def test_rows(ds) -> pd.DataFrame:
    """The frozen test split of a labeled dataset, or all its rows when it has no split column."""
    if ds.has_split:
        if ds.test.empty:
            raise InputError(f"{ds.source}: column 'split' has no test rows to compare on")
        return ds.test.reset_index(drop=True)
    log.info("%s has no split column: comparing on all %d rows", ds.source, len(ds.frame))
    return ds.frame.reset_index(drop=True)


def compare_models(champion, challenger, frame: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0,
                   max_loss: float = 0.02, text_col: str | None = None) -> dict:
    """Compare two bundles on labeled rows; returns the decision with its evidence (JSON-ready).

    Top-level numbers (``<head>.macro_f1_diff`` and its ``_low``/``_high`` bounds, ...) are
    flat so that :func:`complaintml.tracking.log_decision` logs them as metrics.
    """
    tax = champion.taxonomy
    if not _same_labels(tax, challenger.taxonomy):
        raise ModelError("champion and challenger have different heads or labels; they cannot be compared")
    texts = frame[text_col or tax.text_column].tolist()
    n = len(texts)
    if n < 2:
        raise InputError("need at least 2 labeled rows to compare models")
    rng = np.random.default_rng(seed)
    weights = np.zeros((n_boot, n))
    np.add.at(weights, (np.repeat(np.arange(n_boot), n), rng.integers(0, n, n_boot * n)), 1)
    preds = {}
    for role, bundle in (("champion", champion), ("challenger", challenger)):
        est = bundle.estimator
        # The frame, not the texts alone: a taxonomy's context columns feed the model too.
        preds[role] = est.decide(est.predict_proba(frame.reset_index(drop=True).assign(**{est.text_column: texts})))
    decision: dict = {"champion": f"{champion.name} v{champion.version}", "challenger": f"{challenger.name} v{challenger.version}",
                      "champion_version": str(champion.version), "challenger_version": str(challenger.version),
                      "n_rows": n, "n_boot": n_boot, "max_loss": max_loss, "heads": {}}
    better, worse = [], []
    for head in tax.heads:
        t = indicators(head, head.encode(frame))
        present = t.sum(0) > 0
        f1 = {role: f1_per_label(t, indicators(head, preds[role][head.name])) for role in preds}
        boot = {role: f1_per_label(t, indicators(head, preds[role][head.name]), weights)[:, present].mean(1)
                for role in preds}
        diff = float(f1["challenger"][present].mean() - f1["champion"][present].mean())
        low, high = (float(x) for x in np.percentile(boot["challenger"] - boot["champion"], [2.5, 97.5]))
        if low > 0:
            better.append(head.name)
        if high < 0 or diff < -max_loss:
            worse.append(head.name)
        labels = {lab: {"champion_f1": round(float(f1["champion"][j]), 4), "challenger_f1": round(float(f1["challenger"][j]), 4),
                        "delta": round(float(f1["challenger"][j] - f1["champion"][j]), 4), "support": int(t[:, j].sum())}
                  for j, lab in enumerate(head.label_names) if present[j]}
        decision["heads"][head.name] = {"champion_macro_f1": float(f1["champion"][present].mean()),
                                        "challenger_macro_f1": float(f1["challenger"][present].mean()),
                                        "diff": diff, "diff_low": low, "diff_high": high, "labels": labels}
        decision[f"{head.name}.macro_f1_diff"] = diff
        decision[f"{head.name}.macro_f1_diff_low"] = low
        decision[f"{head.name}.macro_f1_diff_high"] = high
    verdict = {(True, False): "better", (False, True): "worse", (True, True): "mixed"}.get((bool(better), bool(worse)), "no change")
    decision.update(verdict=verdict, promote=verdict == "better", better_heads=better, worse_heads=worse,
                    reason=_reason(verdict, decision["heads"], better, worse, max_loss))
    return decision


def _reason(verdict: str, heads: dict, better: list, worse: list, max_loss: float) -> str:
    def say(h):
        m = heads[h]
        return f"{h} {m['diff']:+.3f} (95% CI {m['diff_low']:+.3f} to {m['diff_high']:+.3f})"
    if verdict == "no change":
        return f"no head differs with confidence and none loses more than {max_loss}"
    parts = []
    if better:
        parts.append("better on " + ", ".join(say(h) for h in better))
    if worse:
        parts.append("worse on " + ", ".join(say(h) for h in worse))
    elif verdict == "better":
        parts.append(f"no head loses more than {max_loss}")
    return "; ".join(parts)


def format_comparison(decision: dict) -> str:
    """The decision as Markdown: verdict, one line per head, then the per-label deltas."""
    lines = [f"verdict: {decision['verdict']} (promote: {'yes' if decision['promote'] else 'no'}): {decision['reason']}",
             f"champion {decision['champion']}, challenger {decision['challenger']}, {decision['n_rows']} rows, "
             f"{decision['n_boot']} paired bootstrap resamples", "",
             "| head | champion macro-F1 | challenger macro-F1 | difference | 95% CI |", "|---|---|---|---|---|"]
    for name, m in decision["heads"].items():
        lines.append(f"| {name} | {m['champion_macro_f1']:.3f} | {m['challenger_macro_f1']:.3f} | {m['diff']:+.3f} | "
                     f"{m['diff_low']:+.3f} to {m['diff_high']:+.3f} |")
    lines += ["", "| head | label | champion F1 | challenger F1 | delta | support |", "|---|---|---|---|---|---|"]
    for name, m in decision["heads"].items():
        for lab, lm in sorted(m["labels"].items(), key=lambda kv: kv[1]["delta"]):
            lines.append(f"| {name} | {lab} | {lm['champion_f1']:.3f} | {lm['challenger_f1']:.3f} | {lm['delta']:+.3f} | "
                         f"{lm['support']} |")
    return "\n".join(lines)


def champion_challenger(name: str, data, *, text_col: str | None = None, n_boot: int = 1000, seed: int = 0,
                        max_loss: float = 0.02) -> dict:
    """Compare ``models:/NAME@challenger`` with ``@champion`` on the test split of ``data``;
    move ``champion`` when the challenger is better (or when there is no champion yet).

    The decision and its evidence are logged to MLflow as their own run.
    """
    from .bundle import load_bundle
    from .dataset import load_dataset
    from .tracking import alias_version, log_decision, promote

    challenger_version = alias_version(name, "challenger")
    if challenger_version is None:
        raise ModelError(f"registered model '{name}' has no 'challenger' alias; train one first")
    champion_version = alias_version(name, "champion")
    if champion_version is None:
        decision = {"verdict": "first model", "promote": True, "challenger_version": challenger_version,
                    "reason": "no champion yet: the first model becomes champion"}
    elif champion_version == challenger_version:
        decision = {"verdict": "no change", "promote": False, "champion_version": champion_version,
                    "challenger_version": challenger_version, "reason": "challenger is already champion"}
    else:
        challenger = load_bundle(f"models:/{name}@challenger")
        champion = load_bundle(f"models:/{name}@champion")
        tax = challenger.taxonomy.with_columns(text_col)
        ds = load_dataset(data, tax)
        if not ds.has_split:
            raise InputError(f"{data}: a champion/challenger decision needs a frozen 'split' column (train/test)")
        frame = test_rows(ds)
        decision = compare_models(champion, challenger, frame, n_boot=n_boot, seed=seed, max_loss=max_loss)
    if decision["promote"]:
        promote(name, challenger_version)
    decision["champion_after"] = challenger_version if decision["promote"] else champion_version
    decision["decision_run_id"] = log_decision(name, decision)
    return decision
