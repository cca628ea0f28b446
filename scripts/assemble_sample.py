"""Assemble data/labeled_sample/comments.csv from annotation batches (JSON Lines).

Run once when a batch of newly written and labeled comments is added:

    python scripts/assemble_sample.py BATCH.jsonl [BATCH.jsonl ...]

It gives each row an id, invented site and date metadata, and freezes a seeded
multilabel-stratified train/test split (80/20). Dates spread over 18 months; comments
about waiting are drawn more often in winter months, as real services see.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

OUT = Path(__file__).resolve().parents[1] / "data" / "labeled_sample" / "comments.csv"
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


def main(paths: list[str]) -> None:
    rows = [json.loads(line) for p in paths for line in open(p, encoding="utf-8") if line.strip()]
    df = pd.DataFrame(rows)
    df["text"] = df["text"].str.strip()
    # Short answers repeat across batches ("Good", "good"): keep one per wording, ignoring case and punctuation.
    key = df["text"].str.lower().str.replace(r"[^\w\s]", "", regex=True).str.split().str.join(" ")
    df = df[~key.duplicated()].reset_index(drop=True)
    rng = np.random.default_rng(SEED)
    df = df.iloc[rng.permutation(len(df))].reset_index(drop=True)
    df["feelings"] = df["feelings"].map(lambda x: ";".join(x))
    df["root_causes"] = df["root_causes"].map(lambda x: ";".join(x))
    df["id"] = [f"c{i:05d}" for i in range(1, len(df) + 1)]
    df["site"] = rng.choice(SITES, len(df), p=[0.28, 0.22, 0.2, 0.18, 0.12])
    df["date"] = _dates(rng, df["root_causes"].str.contains("wait_time").to_numpy())
    labels = pd.concat([df["polarity"].str.get_dummies(), df["feelings"].str.get_dummies(";"),
                        df["root_causes"].str.get_dummies(";")], axis=1).to_numpy()
    split = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=0.2, random_state=SEED)
    _, test_idx = next(split.split(np.zeros(len(df)), labels))
    df["split"] = "train"
    df.loc[test_idx, "split"] = "test"
    cols = ["id", "text", "source", "polarity", "feelings", "root_causes", "site", "department", "question", "date", "split"]
    df[cols].to_csv(OUT, index=False)
    print(f"wrote {len(df)} rows to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1:])
