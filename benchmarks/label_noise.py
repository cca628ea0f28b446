"""How well does `complaintml audit-labels` find wrong labels? Inject known noise and count.

A copy of a labeled file gets one wrong label in 5% of its rows (chosen at random):
a multiclass head gets another label; a multilabel head loses one of its labels or, when
it has none or with probability 1/2, gains one it lacks (among labels with at least 5
examples, which the model can learn). The audit's out-of-fold model is fitted once on the
noisy copy; then precision and recall of the flagged rows against the corrupted rows are
reported for pure confident learning (min_confidence 0), the default (0.5) and stricter
settings, with precision at k (k = the number of corrupted rows, the top of the ranked list).

    .venv/bin/python benchmarks/label_noise.py                     # data/labeled_sample, default taxonomy
    .venv/bin/python benchmarks/label_noise.py --nhs               # NHS FFT v6 themes (../shared/benchmarks)

The flagged rows that were not corrupted are not all false alarms: some are real
labeling mistakes or genuinely ambiguous comments of the original file.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NHS = ROOT.parent / "shared" / "benchmarks" / "nhs_fft_v6" / "train.csv"


def corrupt(frame, tax, rate: float, seed: int):
    """A copy of ``frame`` with one wrong label in ``rate`` of its rows; returns (copy, rows, kinds)."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    rows = np.sort(rng.choice(len(frame), int(round(rate * len(frame))), replace=False))
    kinds = []
    for i in rows:
        head = tax.heads[rng.integers(len(tax.heads))]
        if not head.is_multilabel:
            given = out.at[i, head.column]
            out.at[i, head.column] = rng.choice([lab for lab in head.label_names if lab != given])
            kinds.append("multiclass")
            continue
        y = head.encode(frame)
        learnable = np.flatnonzero(y.sum(0) >= 5)
        present = np.flatnonzero(y[i])
        absent = np.setdiff1d(learnable, present)
        if len(present) and (rng.random() < 0.5 or not len(absent)):
            j, value, kind = rng.choice(present), 0, "removed"
        else:
            j, value, kind = rng.choice(absent), 1, "added"
        row = y[i].copy()
        row[j] = value
        if head.encoding == "onehot":
            for k, lab in enumerate(head.label_names):
                out.at[i, lab] = str(int(row[k]))
        else:
            out.at[i, head.column] = head.separator.join(np.array(head.label_names)[row.astype(bool)])
        kinds.append(kind)
    return out, rows, np.array(kinds)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nhs", action="store_true", help="use the NHS FFT v6 themes file")
    ap.add_argument("--rate", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    from complaintml.audit import find_label_issues, out_of_fold, rank_suspects
    from complaintml.config import load_config
    from complaintml.dataset import Dataset, load_dataset
    from complaintml.taxonomy import load_taxonomy

    if args.nhs:
        if not NHS.is_file():
            print(f"skipped: {NHS} not found", file=sys.stderr)
            return 0
        data, tax = NHS, load_taxonomy(ROOT / "configs" / "taxonomy" / "nhs_fft_v6.yaml")
    else:
        data, tax = ROOT / "data" / "labeled_sample" / "comments.csv", load_taxonomy(ROOT / "configs" / "taxonomy" / "default.yaml")
    clean = load_dataset(data, tax)
    noisy, rows, kinds = corrupt(clean.frame, tax, args.rate, args.seed)
    ds = Dataset(noisy, tax, "noisy copy", "")
    started = time.time()
    truth, oof = out_of_fold(ds, load_config(ROOT / "configs" / "train" / "default.toml"))
    print(f"{data.name}: {len(noisy)} rows, {len(rows)} corrupted ({dict(zip(*np.unique(kinds, return_counts=True)))}); "
          f"fit {time.time() - started:.0f} s", file=sys.stderr)
    ids = noisy[tax.id_column].astype(str).to_numpy()
    corrupted = set(ids[rows])
    print("| min_confidence | rows flagged | precision | recall | precision at k | recall by kind |")
    print("|---|---|---|---|---|---|")
    for min_conf in (0.0, 0.5, 0.7, 0.8, 0.9):
        suspects = rank_suspects(ds, find_label_issues(tax, truth, oof, min_conf))
        flagged = suspects[tax.id_column].astype(str).tolist()
        hits = len(corrupted & set(flagged))
        top = set(flagged[: len(rows)])
        by_kind = ", ".join(f"{k} {np.mean([ids[r] in set(flagged) for r in rows[kinds == k]]):.2f}"
                            for k in sorted(set(kinds)))
        print(f"| {min_conf} | {len(flagged)} | {hits / max(len(flagged), 1):.3f} | {hits / len(rows):.3f} | "
              f"{len(corrupted & top) / len(rows):.3f} | {by_kind} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
