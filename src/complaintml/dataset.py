"""A validated labeled dataset: texts, label columns and the frozen train/test split.

Validation happens before any work and stops at the first problem with one line that
names the file, the column and the row(s).

Example::

    >>> ds = load_dataset("data/labeled_sample/comments.csv", tax)   # doctest: +SKIP
    >>> len(ds.train), len(ds.test)                                   # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import InputError
from .io import read_table
from .taxonomy import Taxonomy, _rows

__all__ = ["Dataset", "load_dataset", "validate_labeled"]

log = logging.getLogger(__name__)


@dataclass
class Dataset:
    frame: pd.DataFrame
    taxonomy: Taxonomy
    source: str
    digest: str
    dropped_empty: int = 0

    @property
    def has_split(self) -> bool:
        return "split" in self.frame.columns

    @property
    def train(self) -> pd.DataFrame:
        return self.frame[self.frame["split"] == "train"] if self.has_split else self.frame

    @property
    def test(self) -> pd.DataFrame:
        return self.frame[self.frame["split"] == "test"] if self.has_split else self.frame.iloc[0:0]


def validate_labeled(df: pd.DataFrame, tax: Taxonomy, source: str) -> pd.DataFrame:
    """Check a labeled table against the taxonomy; return it with blank-text rows removed."""
    if df.shape[1] == 0 or len(df) == 0:
        raise InputError(f"{source}: no data rows" + (" (header only)" if df.shape[1] else " (empty file)"))
    if tax.text_column not in df.columns:
        hint = f"; columns are: {', '.join(map(str, df.columns[:15]))}"
        raise InputError(f"{source}: text column '{tax.text_column}' is missing{hint} (use --text-col)")
    if tax.id_column in df.columns:
        ids = df[tax.id_column].astype("string")
        dup = ids.duplicated(keep=False) & ids.notna()
        if dup.any():
            rows = df.index[dup.to_numpy()]
            raise InputError(f"{source}: column '{tax.id_column}' has duplicate ids at row(s) {_rows(rows)}: '{ids[dup].iloc[0]}'")
    for head in tax.heads:
        head.encode(df, source)
    if "split" in df.columns:
        bad = ~df["split"].isin(["train", "test"])
        if bad.any():
            raise InputError(f"{source}: column 'split' must be train or test; bad value at row(s) {_rows(df.index[bad.to_numpy()])}")
        if not (df["split"] == "train").any():
            raise InputError(f"{source}: column 'split' has no train rows")
    missing = [c for c in tax.context_columns if c not in df.columns]
    if missing:
        raise InputError(f"{source}: context column(s) {', '.join(repr(c) for c in missing)} named by the taxonomy are missing")
    # NUL bytes are damage from the export, never part of a comment.
    text = df[tax.text_column].map(lambda v: v.replace("\x00", "") if isinstance(v, str) else v)
    df = df.assign(**{tax.text_column: text})
    empty = text.isna() | (text.astype("string").str.strip().fillna("") == "")
    if empty.all():
        raise InputError(f"{source}: column '{tax.text_column}' is empty in every row")
    if empty.any():
        log.warning("%s: %d row(s) with empty text are not used for training: row(s) %s", source, int(empty.sum()),
                    _rows(df.index[empty.to_numpy()]))
    return df[~empty.to_numpy()].reset_index(drop=True)


def _digest(df: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(df.astype("string"), index=False)
    return hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()[:16]


def load_dataset(path: str | Path, tax: Taxonomy) -> Dataset:
    df = read_table(path)
    clean = validate_labeled(df, tax, str(path))
    return Dataset(clean, tax, str(path), _digest(df), dropped_empty=len(df) - len(clean))
