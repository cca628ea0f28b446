"""Regenerate the tables of data/labeled_sample/DATASHEET.md from the data.

    python scripts/datasheet.py          # rewrite the generated section
    python scripts/datasheet.py --check  # exit 1 if the datasheet is out of date

Only the part between the GENERATED markers is written; the prose around it is kept.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "labeled_sample" / "comments.csv"
SHEET = ROOT / "data" / "labeled_sample" / "DATASHEET.md"
BEGIN, END = "<!-- GENERATED:BEGIN -->", "<!-- GENERATED:END -->"


def _table(df: pd.DataFrame) -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def render(path: Path = DATA) -> str:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    words = df["text"].str.split().str.len()
    feel = df["feelings"].str.get_dummies(";").drop(columns="", errors="ignore")
    cause = df["root_causes"].str.get_dummies(";").drop(columns="", errors="ignore")
    parts = [f"Rows: {len(df)} ({(df['split'] == 'train').sum()} train, {(df['split'] == 'test').sum()} test).", ""]
    src = df.groupby("source").agg(rows=("id", "size")).assign(
        median_words=words.groupby(df["source"]).median().astype(int),
        min_words=words.groupby(df["source"]).min(), max_words=words.groupby(df["source"]).max()).reset_index()
    parts += ["### Sources", "", _table(src), ""]
    pol = df["polarity"].value_counts().rename_axis("polarity").reset_index(name="rows")
    pol["share"] = (pol["rows"] / len(df)).map("{:.1%}".format)
    parts += ["### Polarity", "", _table(pol), ""]
    for title, frame in (("Feelings", feel), ("Root causes", cause)):
        counts = pd.DataFrame({"label": frame.columns, "rows": frame.sum().to_numpy(),
                               "train": frame[df["split"] == "train"].sum().to_numpy(),
                               "test": frame[df["split"] == "test"].sum().to_numpy()})
        parts += [f"### {title}", "", _table(counts.sort_values("rows", ascending=False)),
                  f"\nRows with none: {int((frame.sum(axis=1) == 0).sum())}.", ""]
    co = (feel.T @ cause).reset_index().rename(columns={"index": "feeling \\ cause"})
    parts += ["### Feelings x root causes (rows with both)", "", _table(co), ""]
    dept = df["department"].value_counts().rename_axis("department").reset_index(name="rows")
    parts += ["### Departments", "", _table(dept), ""]
    month = pd.to_datetime(df["date"]).dt.to_period("M").astype(str)
    wait = cause["wait_time"] if "wait_time" in cause else 0
    trend = pd.DataFrame({"month": month, "wait": wait}).groupby("month").agg(rows=("wait", "size"), wait_time=("wait", "sum"))
    trend["wait_time_share"] = (trend["wait_time"] / trend["rows"]).map("{:.0%}".format)
    parts += ["### Comments per month and share about waiting", "", _table(trend.reset_index()), ""]
    return "\n".join(parts)


def updated_sheet() -> str:
    text = SHEET.read_text(encoding="utf-8")
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{render()}\n{END}{tail}"


if __name__ == "__main__":
    new = updated_sheet()
    if "--check" in sys.argv:
        sys.exit(0 if new == SHEET.read_text(encoding="utf-8") else 1)
    SHEET.write_text(new, encoding="utf-8")
    print(f"updated {SHEET}")
