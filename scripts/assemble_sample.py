"""Add annotation batches (JSON Lines) to data/labeled_sample/comments.csv.

    python scripts/assemble_sample.py [--train-only] BATCH.jsonl [BATCH.jsonl ...]

Rows already in the file keep their id, metadata and split: the split is frozen so every
model is compared on the same held-out rows. New rows (deduplicated against the file and
each other, ignoring case and punctuation) get the next ids, invented site and date
metadata, and their own seeded multilabel-stratified 80/20 split (``--train-only``: all train, for
rounds written to fix transfer to real text, which the real-text dev set measures). Dates spread over 18
months; comments about waiting are drawn more often in winter months, as real services see.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

OUT = Path(__file__).resolve().parents[1] / "data" / "labeled_sample" / "comments.csv"
COLUMNS = ["id", "text", "source", "polarity", "feelings", "root_causes", "site", "department", "question", "date", "split"]
SITES = ["Northgate General", "Riverside Community Hospital", "St Aldric's", "Meadowbank Health Centre",
         "Harbour View Medical Center"]
START = pd.Timestamp("2025-01-01")
MONTHS = 18
SEED = 20251


def _dates(rng, winter_bias: np.ndarray) -> list[str]:
    months = pd.date_range(START, periods=MONTHS, freq="MS")
    winter = np.array([m.month in (11, 12, 1, 2) for m in months])
    out = []
    for bias in winter_bias:
        w = np.where(winter, 2.5 if bias else 0.8, 1.0)
        m = months[rng.choice(MONTHS, p=w / w.sum())]
        out.append((m + pd.Timedelta(days=int(rng.integers(0, m.days_in_month)))).strftime("%Y-%m-%d"))
    return out


def _key(text: pd.Series) -> pd.Series:
    return text.str.lower().str.replace(r"[^\w\s]", "", regex=True).str.split().str.join(" ")


def main(paths: list[str], train_only: bool = False) -> None:
    old = pd.read_csv(OUT, dtype=str, keep_default_na=False) if OUT.exists() else pd.DataFrame(columns=COLUMNS)
    rows = [json.loads(line) for p in paths for line in open(p, encoding="utf-8") if line.strip()]
    new = pd.DataFrame(rows)
    new["text"] = new["text"].str.strip()
    # Short answers repeat across batches ("Good", "good"): keep one per wording.
    seen = set(_key(old["text"])) if len(old) else set()
    key = _key(new["text"])
    new = new[~key.duplicated() & ~key.isin(seen)].reset_index(drop=True)
    rng = np.random.default_rng(SEED + len(old))
    new = new.iloc[rng.permutation(len(new))].reset_index(drop=True)
    new["feelings"] = new["feelings"].map(";".join)
    new["root_causes"] = new["root_causes"].map(";".join)
    first = int(old["id"].str[1:].astype(int).max()) + 1 if len(old) else 1
    new["id"] = [f"c{i:05d}" for i in range(first, first + len(new))]
    new["site"] = rng.choice(SITES, len(new), p=[0.28, 0.22, 0.2, 0.18, 0.12])
    new["date"] = _dates(rng, new["root_causes"].str.contains("wait_time").to_numpy())
    new["split"] = "train"
    if not train_only:
        labels = pd.concat([new["polarity"].str.get_dummies(), new["feelings"].str.get_dummies(";"),
                            new["root_causes"].str.get_dummies(";")], axis=1).to_numpy()
        split = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=0.2, random_state=SEED)
        _, test_idx = next(split.split(np.zeros(len(new)), labels))
        new.loc[test_idx, "split"] = "test"
    pd.concat([old[COLUMNS], new[COLUMNS]], ignore_index=True).to_csv(OUT, index=False)
    print(f"added {len(new)} rows to {OUT} ({len(old) + len(new)} in all)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("batches", nargs="+", help="JSON Lines files: text, source, polarity, feelings, root_causes, ...")
    ap.add_argument("--train-only", action="store_true", help="put every new row in the train split")
    args = ap.parse_args()
    main(args.batches, args.train_only)
