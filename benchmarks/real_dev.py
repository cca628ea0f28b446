"""Real-text dev set: train on the invented labeled sample, score 300 real NHS comments.

``real_dev_labels.csv`` holds, per comment, the file and 0-based row in
``../shared/benchmarks/`` (the text itself is never copied into this repository), the
first 12 hex digits of the SHA-1 of its text, and its polarity, feelings and root causes
labeled with the default taxonomy. Loading checks every hash and stops on a mismatch.

Run::

    .venv/bin/python benchmarks/real_dev.py                    # every available model
    .venv/bin/python benchmarks/real_dev.py --models complaintml,minilm_lr

It prints, per model, macro-F1 per head and F1 per label on the real comments; the
same figures are part of ``benchmarks/quality.py``'s RESULTS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import pandas as pd

import _peers
from complaintml.dataset import load_dataset
from complaintml.taxonomy import load_taxonomy

__all__ = ["load_real_dev", "fit_on_sample", "score_real_dev", "SHARED", "TEXT_COLUMNS"]

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "benchmarks"
LABELS = ROOT / "benchmarks" / "real_dev_labels.csv"
SAMPLE = ROOT / "data" / "labeled_sample" / "comments.csv"
TAXONOMY = ROOT / "configs" / "taxonomy" / "default.yaml"
TEXT_COLUMNS = {"nhs_fft_phase1/comments.csv": "feedback", "nhs_fft_2020/comments.csv": "text"}


def load_real_dev(shared: Path = SHARED) -> pd.DataFrame:
    """The 300 labeled real comments (column ``text`` plus the label columns), hashes checked."""
    labels = pd.read_csv(LABELS, dtype=str, keep_default_na=False)
    texts = []
    for name, group in labels.groupby("file", sort=False):
        if name not in TEXT_COLUMNS:
            raise SystemExit(f"{LABELS}: unknown file {name!r}")
        source = pd.read_csv(shared / name, dtype=str, keep_default_na=False)[TEXT_COLUMNS[name]]
        for idx, row, sha in zip(group.index, group["row"].astype(int), group["text_sha1"]):
            text = source.iloc[row]
            if hashlib.sha1(text.encode("utf-8")).hexdigest()[:12] != sha:
                raise SystemExit(f"{LABELS}: text of {name} row {row} does not match its sha1 {sha}; "
                                 "the shared file changed or the row index is off")
            texts.append((idx, text))
    out = labels.drop(columns=["file", "row", "text_sha1"])
    out.insert(0, "text", pd.Series(dict(texts)))
    return out


def fit_on_sample(name: str, quick: bool = False, cache=None, params: dict | None = None):
    """Train candidate ``name`` on the labeled sample's train split; return (model, dataset)."""
    ds = load_dataset(SAMPLE, load_taxonomy(TAXONOMY))
    train = ds.train.reset_index(drop=True)
    model = _peers.make(name, quick, cache, params).fit(train["text"].tolist(), train, ds.taxonomy)
    return model, ds


def score_real_dev(model, tax, real: pd.DataFrame) -> dict:
    """{head: {"macro_f1", "micro_f1", "labels": {label: f1}, "support": {label: n}}} on the real comments."""
    decisions = model.predict(real["text"].tolist())
    return {h.name: _peers.score_head(h, h.encode(real, "real_dev"), decisions[h.name]) for h in tax.heads}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(_peers.MODELS), help="comma-separated: " + ",".join(_peers.MODELS))
    ap.add_argument("--quick", action="store_true", help="fewer spaCy epochs (smoke run)")
    args = ap.parse_args(argv)
    if not (SHARED / "nhs_fft_2020").is_dir():
        raise SystemExit(f"{SHARED} is missing: the real comments are read from there")
    real = load_real_dev()
    cache = _peers.EmbeddingCache()
    scores = {}
    for name in args.models.split(","):
        if not _peers.available(name):
            print(f"skipping {name}: the 'embeddings' extra is not installed", file=sys.stderr)
            continue
        model, ds = fit_on_sample(name, args.quick, cache)
        scores[name] = score_real_dev(model, ds.taxonomy, real)
        print(f"{name}: " + ", ".join(f"{h} {s['macro_f1']:.3f}" for h, s in scores[name].items()), file=sys.stderr)
    print("\n".join(per_label_table(scores)))


def per_label_table(scores: dict) -> list[str]:
    """Markdown: one row per head and label, one F1 column per model (macro-F1 rows per head)."""
    names = list(scores)
    if not names:
        return []
    lines = ["| head | label | support | " + " | ".join(names) + " |", "|---|---|---|" + "---|" * len(names)]
    first = scores[names[0]]
    for head, s in first.items():
        lines.append(f"| **{head}** | **macro-F1** | | "
                     + " | ".join(f"**{scores[n][head]['macro_f1']:.3f}**" for n in names) + " |")
        for label, support in s["support"].items():
            cells = [f"{scores[n][head]['labels'][label]:.3f}" if support else "-" for n in names]
            lines.append(f"| {head} | {label} | {support} | " + " | ".join(cells) + " |")
    return lines


if __name__ == "__main__":
    main()
