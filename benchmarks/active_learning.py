"""Does `complaintml suggest` pick better rows to label than chance? A simulated labeling loop.

On the labeled NHS FFT v6 training file: hold out a fixed 20%, hide the labels of the rest
(the pool), label 200 random pool rows, then repeat: train, let a strategy pick the next
200 rows, reveal their labels. The score after each round is macro-F1 on the held-out
rows over the themes with at least 40 examples in the file. Strategies: random, plain
uncertainty (margin, pool_factor=1), and the default of ``suggest`` (margin + diversity,
pool_factor=5), plus entropy + diversity. Several seeds (initial rows, random picks,
clustering). The model is ComplaintClassifier with cv_folds=3 and no character n-grams,
for speed.

Writes benchmarks/active_learning.csv (every round) and benchmarks/active_learning.png,
and prints the Markdown table recorded in benchmarks/RETRAIN_LOOP.md.

    .venv/bin/python benchmarks/active_learning.py            # about 10 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.metrics import f1_score

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "benchmarks" / "nhs_fft_v6" / "train.csv"
TAXONOMY = ROOT / "configs" / "taxonomy" / "nhs_fft_v6.yaml"
STRATEGIES = {"random": None, "margin": ("margin", 1.0), "margin+diversity": ("margin", 5.0),
              "entropy+diversity": ("entropy", 5.0)}
MIN_EXAMPLES = 40


def run_curve(df, tax, pool_idx, test_idx, eval_cols, strategy, seed, start, step, rounds):
    from complaintml.active import select_batch, uncertainty
    from complaintml.model import ComplaintClassifier

    warnings.filterwarnings("ignore")
    rng = np.random.default_rng(seed)
    labeled = rng.choice(pool_idx, start, replace=False)
    test = df.iloc[test_idx]
    y_test = test[tax.label_columns].astype(int).to_numpy()
    out = []
    for r in range(rounds):
        train = df.iloc[labeled]
        t0 = time.time()
        est = ComplaintClassifier(taxonomy=tax.to_dict(), text_column=tax.text_column, cv_folds=3, use_char=False,
                                  random_state=seed).fit(train[tax.text_column], train)
        pred = est.predict(test[tax.text_column])[tax.label_columns].astype(int).to_numpy()
        f1 = f1_score(y_test[:, eval_cols], pred[:, eval_cols], average=None, zero_division=0)
        micro = f1_score(y_test[:, eval_cols], pred[:, eval_cols], average="micro", zero_division=0)
        out.append({"strategy": strategy, "seed": seed, "round": r, "n_labeled": len(labeled),
                    "macro_f1": float(f1.mean()), "micro_f1": float(micro), "fit_seconds": time.time() - t0})
        if r == rounds - 1:
            break
        rest = np.setdiff1d(pool_idx, labeled)
        if STRATEGIES[strategy] is None:
            new = rng.choice(rest, step, replace=False)
        else:
            kind, pool_factor = STRATEGIES[strategy]
            texts = df[tax.text_column].iloc[rest].tolist()
            Xf = est.transform_features(texts)
            scores, _ = uncertainty(est, est.proba_from_features(Xf), kind)
            new = rest[select_batch(Xf, scores, step, pool_factor, seed)]
        labeled = np.concatenate([labeled, new])
    return out


def table(results: pd.DataFrame) -> str:
    summary = results.groupby(["n_labeled", "strategy"])["macro_f1"].agg(["mean", "std"]).unstack("strategy")
    names = list(STRATEGIES)
    lines = ["| labeled rows | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for n, row in summary.iterrows():
        lines.append(f"| {n} | " + " | ".join(f"{row[('mean', s)]:.3f} ± {row[('std', s)]:.3f}" for s in names) + " |")
    auc = results.groupby(["strategy", "seed"])["macro_f1"].mean().groupby("strategy").agg(["mean", "std"])
    lines.append("| mean over rounds | " + " | ".join(f"{auc.loc[s, 'mean']:.3f} ± {auc.loc[s, 'std']:.3f}" for s in names) + " |")
    return "\n".join(lines)


def plot(results: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for s in STRATEGIES:
        g = results[results.strategy == s].groupby("n_labeled")["macro_f1"]
        m, sd = g.mean(), g.std().fillna(0)
        ax.plot(m.index, m.values, marker="o", ms=3, label=s)
        ax.fill_between(m.index, m - sd, m + sd, alpha=0.15)
    ax.set(xlabel="labeled rows", ylabel=f"held-out macro-F1 (themes with >= {MIN_EXAMPLES} examples)",
           title="NHS FFT v6: active vs random selection (mean ± sd over seeds)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--start", type=int, default=200)
    ap.add_argument("--step", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    args = ap.parse_args(argv)
    if not DATA.is_file():
        print(f"skipped: {DATA} not found", file=sys.stderr)
        return 0
    from complaintml.io import read_table
    from complaintml.taxonomy import load_taxonomy

    tax = load_taxonomy(TAXONOMY)
    df = read_table(DATA)
    counts = df[tax.label_columns].astype(int).sum()
    eval_cols = np.flatnonzero((counts >= MIN_EXAMPLES).to_numpy())
    # The held-out 20% is the same for every strategy and seed.
    perm = np.random.default_rng(2024).permutation(len(df))
    test_idx, pool_idx = perm[: len(df) // 5], perm[len(df) // 5:]
    print(f"{len(df)} rows: pool {len(pool_idx)}, held out {len(test_idx)}, {len(eval_cols)} themes evaluated",
          file=sys.stderr)
    started = time.time()
    jobs = [(s, seed) for seed in range(args.seeds) for s in STRATEGIES]
    curves = Parallel(n_jobs=args.jobs)(delayed(run_curve)(df, tax, pool_idx, test_idx, eval_cols, s, seed, args.start,
                                                           args.step, args.rounds) for s, seed in jobs)
    results = pd.DataFrame([row for curve in curves for row in curve])
    results.to_csv(args.out / "active_learning.csv", index=False, float_format="%.4f")
    plot(results, args.out / "active_learning.png")
    print(table(results))
    print(f"\n{len(jobs)} curves in {time.time() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
