"""Metrics and plots for a model's predictions (pure functions, no MLflow).

Every head gets per-label precision, recall, F1, support and average precision; micro and
macro F1 with bootstrap 95% intervals; expected calibration error. Multiclass heads also
get a confusion matrix. ``by_segment`` repeats the head summaries per segment.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, confusion_matrix, f1_score, precision_recall_fscore_support

__all__ = ["evaluate", "head_metrics", "bootstrap_ci", "multilabel_f1_ci", "expected_calibration_error", "length_band", "plot_all",
           "flatten_metrics"]


def bootstrap_ci(y_true: np.ndarray, y_pred: np.ndarray, metric, n: int = 500, seed: int = 0) -> tuple[float, float]:
    """Percentile 95% interval of ``metric(y_true, y_pred)`` over row resamples."""
    if n <= 0 or len(y_true) < 2:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    vals = [metric(y_true[idx], y_pred[idx]) for idx in (rng.integers(0, len(y_true), len(y_true)) for _ in range(n))]
    return float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate - mean probability| over equal-width bins, weighted by count."""
    y, p = np.asarray(y, float).ravel(), np.asarray(p, float).ravel()
    keep = ~np.isnan(p)
    y, p = y[keep], p[keep]
    if not len(p):
        return float("nan")
    edges = np.minimum((p * bins).astype(int), bins - 1)
    err = 0.0
    for b in range(bins):
        m = edges == b
        if m.any():
            err += m.sum() / len(p) * abs(y[m].mean() - p[m].mean())
    return float(err)


def multilabel_f1_ci(y_true: np.ndarray, y_pred: np.ndarray, n: int = 500, seed: int = 0) -> tuple[tuple, tuple]:
    """Bootstrap 95% intervals of macro- and micro-F1 for 0/1 matrices: the resamples of
    :func:`bootstrap_ci` (same seed, same rows), counted as matrix products instead of n metric calls."""
    if n <= 0 or len(y_true) < 2:
        return (float("nan"), float("nan")), (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    rows = len(y_true)
    # times[b, i]: how often row i is drawn in resample b
    times = np.stack([np.bincount(rng.integers(0, rows, rows), minlength=rows) for _ in range(n)]).astype(np.float64)
    yt, yp = np.asarray(y_true, bool), np.asarray(y_pred, bool)
    tp, fp, fn = times @ (yt & yp), times @ (~yt & yp), times @ (yt & ~yp)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_label = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        t, f_p, f_n = tp.sum(1), fp.sum(1), fn.sum(1)
        micro = np.where(2 * t + f_p + f_n > 0, 2 * t / (2 * t + f_p + f_n), 0.0)
    def interval(v):
        return float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))
    return interval(per_label.mean(1)), interval(micro)


def head_metrics(head, y_true, y_pred, proba, trained=None, n_boot: int = 500, seed: int = 0) -> dict:
    """Metrics of one head. Multilabel: 0/1 matrices; multiclass: label arrays + n x L proba."""
    labels = head.label_names
    out: dict = {"labels": {}}
    if head.is_multilabel:
        trained = np.ones(len(labels), bool) if trained is None else np.asarray(trained)
        p, r, f, s = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
        for j, lab in enumerate(labels):
            ap = (average_precision_score(y_true[:, j], np.nan_to_num(proba[:, j]))
                  if trained[j] and 0 < y_true[:, j].sum() < len(y_true) else float("nan"))
            out["labels"][lab] = {"precision": p[j], "recall": r[j], "f1": f[j], "support": int(s[j]),
                                  "average_precision": ap, "trained": bool(trained[j])}
        cols = np.flatnonzero(trained & (y_true.sum(0) > 0))
        out["macro_f1"] = float(f[cols].mean()) if len(cols) else float("nan")
        out["micro_f1"] = float(f1_score(y_true[:, cols], y_pred[:, cols], average="micro", zero_division=0)) if len(cols) else float("nan")
        out["macro_f1_ci"], out["micro_f1_ci"] = (multilabel_f1_ci(y_true[:, cols], y_pred[:, cols], n_boot, seed)
                                                  if len(cols) else ((np.nan, np.nan), (np.nan, np.nan)))
        out["ece"] = expected_calibration_error(y_true[:, trained], proba[:, trained])
    else:
        p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
        for j, lab in enumerate(labels):
            out["labels"][lab] = {"precision": p[j], "recall": r[j], "f1": f[j], "support": int(s[j])}
        present = [j for j in range(len(labels)) if s[j] > 0]
        macro = lambda a, b: f1_score(a, b, labels=[labels[j] for j in present], average="macro", zero_division=0)  # noqa: E731
        out["macro_f1"] = float(np.mean(f[present])) if present else float("nan")
        out["micro_f1"] = float((y_true == y_pred).mean())  # accuracy = micro-F1 for single-label
        out["macro_f1_ci"] = bootstrap_ci(np.asarray(y_true), np.asarray(y_pred), macro, n_boot, seed)
        out["micro_f1_ci"] = bootstrap_ci(np.asarray(y_true), np.asarray(y_pred), lambda a, b: float((a == b).mean()), n_boot, seed)
        onehot = (np.asarray(y_true)[:, None] == np.array(labels)[None, :]).astype(int)
        out["ece"] = expected_calibration_error(onehot, proba)
        out["confusion"] = confusion_matrix(y_true, y_pred, labels=labels).tolist()
    return out


def length_band(texts) -> np.ndarray:
    words = np.array([len(str(t).split()) for t in texts])
    return np.where(words < 20, "short (<20 words)", np.where(words <= 80, "medium (20-80)", "long (>80)"))


def evaluate(tax, truth: dict, pred: dict, proba: dict, trained: dict, segments: dict | None = None,
             n_boot: int = 500, seed: int = 0) -> dict:
    """Metrics of every head; ``segments`` maps a segment column to per-row values."""
    result = {h.name: head_metrics(h, truth[h.name], pred[h.name], proba[h.name], trained.get(h.name), n_boot, seed)
              for h in tax.heads}
    result["segments"] = {}
    for seg_name, values in (segments or {}).items():
        values = np.asarray(values)
        for value in sorted(set(values.tolist())):
            m = values == value
            if m.sum() < 10:
                continue
            key = f"{seg_name}={value}"
            result["segments"][key] = {"rows": int(m.sum()), **{
                h.name: {k: v for k, v in head_metrics(h, truth[h.name][m], pred[h.name][m], proba[h.name][m],
                                                       trained.get(h.name), 0, seed).items()
                         if k in ("macro_f1", "micro_f1")} for h in tax.heads}}
    return result


def flatten_metrics(metrics: dict, prefix: str) -> dict[str, float]:
    """MLflow-friendly flat names, e.g. ``test.feelings.macro_f1`` or ``test.feelings.anxious.f1``."""
    flat: dict[str, float] = {}
    for head, m in metrics.items():
        if head == "segments":
            for seg, sm in m.items():
                for h, hm in sm.items():
                    if isinstance(hm, dict):
                        for k, v in hm.items():
                            flat[f"{prefix}.segment.{_safe(seg)}.{h}.{k}"] = v
            continue
        for k in ("macro_f1", "micro_f1", "ece"):
            flat[f"{prefix}.{head}.{k}"] = m[k]
        for k, (lo, hi) in (("macro_f1_ci", m["macro_f1_ci"]), ("micro_f1_ci", m["micro_f1_ci"])):
            flat[f"{prefix}.{head}.{k}_low"], flat[f"{prefix}.{head}.{k}_high"] = lo, hi
        for lab, lm in m["labels"].items():
            for k in ("precision", "recall", "f1", "average_precision"):
                if k in lm:
                    flat[f"{prefix}.{head}.{_safe(lab)}.{k}"] = lm[k]
    return {k: float(v) for k, v in flat.items() if v is not None and not (isinstance(v, float) and np.isnan(v))}


def _safe(name: str) -> str:
    # MLflow metric names allow letters, digits, _ - . / and spaces only.
    return "".join(ch if ch.isalnum() or ch in "_-. /" else "_" for ch in str(name))


def plot_all(tax, truth: dict, proba: dict, pred: dict, out_dir) -> list:
    """PR curves, calibration and co-occurrence per multilabel head, confusion per multiclass head."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from pathlib import Path
    from sklearn.metrics import ConfusionMatrixDisplay, precision_recall_curve

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for head in tax.heads:
        y, p = truth[head.name], proba[head.name]
        if head.is_multilabel:
            fig, ax = plt.subplots(figsize=(7, 6))
            for j, lab in enumerate(head.label_names):
                if np.isnan(p[:, j]).all() or y[:, j].sum() == 0:
                    continue
                prec, rec, _ = precision_recall_curve(y[:, j], np.nan_to_num(p[:, j]))
                ax.plot(rec, prec, label=lab[:30])
            ax.set(xlabel="recall", ylabel="precision", title=f"{head.name}: precision-recall")
            ax.legend(fontsize=6, loc="lower left")
            paths.append(_save(fig, out_dir / f"pr_{head.name}.png"))
            onehot, probs = y, p
            co = pd.DataFrame(y.T @ y, index=head.label_names, columns=head.label_names)
            fig, ax = plt.subplots(figsize=(7, 6))
            im = ax.imshow(co.to_numpy(), cmap="viridis")
            ax.set_xticks(range(len(co)), [c[:18] for c in co.columns], rotation=90, fontsize=6)
            ax.set_yticks(range(len(co)), [c[:18] for c in co.index], fontsize=6)
            ax.set_title(f"{head.name}: label co-occurrence (true labels)")
            fig.colorbar(im)
            paths.append(_save(fig, out_dir / f"cooccurrence_{head.name}.png"))
        else:
            onehot = (np.asarray(y)[:, None] == np.array(head.label_names)[None, :]).astype(int)
            probs = p
            fig, ax = plt.subplots(figsize=(5, 5))
            ConfusionMatrixDisplay.from_predictions(y, pred[head.name], labels=head.label_names, ax=ax, colorbar=False)
            ax.set_title(f"{head.name}: confusion")
            paths.append(_save(fig, out_dir / f"confusion_{head.name}.png"))
        keep = ~np.isnan(probs)
        pv, yv = probs[keep], onehot[keep]
        bins = np.minimum((pv * 10).astype(int), 9)
        xs = [pv[bins == b].mean() for b in range(10) if (bins == b).any()]
        ys = [yv[bins == b].mean() for b in range(10) if (bins == b).any()]
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.plot([0, 1], [0, 1], "k--", lw=1)
        ax.plot(xs, ys, "o-")
        ax.set(xlabel="mean predicted probability", ylabel="observed rate", title=f"{head.name}: calibration")
        paths.append(_save(fig, out_dir / f"calibration_{head.name}.png"))
    return paths


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
