"""Fold corrected label files (from ``suggest`` or ``audit-labels``) back into the labeled data.

Each corrected file is checked against the taxonomy first (the same check as training
data), then its rows are matched to the labeled data by id:

* a new id is appended (its ``split`` set to ``train`` by default, so the frozen test split
  stays frozen);
* an id already present with the same labels and text is left as it is;
* an id present with other labels or another text is a conflict. Conflicts are never
  resolved silently: without ``prefer`` they are returned for the caller to report, with
  ``prefer="new"`` the later file wins, with ``prefer="old"`` the earlier labels stay.

Columns that only help the annotator (``uncertainty``, ``least_sure``, ...) are dropped;
every row gets provenance columns ``annotator``, ``labeled_at`` and ``source_file``.

Example::

    >>> result = merge_labels(read_table("labeled.csv"), [("batch1.csv", read_table("batch1.csv"))], tax)  # doctest: +SKIP
    >>> result.conflicts.empty                                                                            # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .active import PROVENANCE_COLUMNS, normalize_text
from .dataset import validate_labeled
from .errors import InputError
from .io import CSV_FORMULA_PREFIXES

__all__ = ["MergeResult", "merge_labels", "unguard_formulas", "PREFER"]

PREFER = ("new", "old")
CONFLICT_COLUMNS = ["id", "field", "current", "incoming", "current_source", "incoming_source", "resolution"]


@dataclass
class MergeResult:
    frame: pd.DataFrame
    conflicts: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=CONFLICT_COLUMNS))
    added: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def unresolved(self) -> int:
        return int((self.conflicts["resolution"] == "unresolved").sum()) if len(self.conflicts) else 0

    def summary(self) -> dict:
        return {"rows": len(self.frame), "added": self.added, "updated": self.updated, "unchanged": self.unchanged,
                "conflicts": len(self.conflicts), "unresolved": self.unresolved}


def unguard_formulas(values: pd.Series) -> pd.Series:
    """Undo :func:`complaintml.io.neutralize_formulas` (the quote CSV output puts before ``=``, ``-``...)."""
    def fix(v):
        if isinstance(v, str) and len(v) > 1 and v[0] == "'" and v[1:].startswith(CSV_FORMULA_PREFIXES):
            return v[1:]
        return v
    return values.map(fix)


def _shown(head, encoded, i: int) -> str:
    if not head.is_multilabel:
        return str(encoded[i])
    return ";".join(lab for lab, on in zip(head.label_names, encoded[i]) if on)


def _differences(tax, cur: pd.DataFrame, inc: pd.DataFrame) -> list[list[tuple[str, str, str]]]:
    """For each aligned row pair: (field, current, incoming) of every head or text that differs."""
    out: list[list] = [[] for _ in range(len(cur))]
    for head in tax.heads:
        a, b = head.encode(cur), head.encode(inc)
        differ = (a != b).any(1) if head.is_multilabel else (a != b)
        for i in np.flatnonzero(differ):
            out[i].append((head.name, _shown(head, a, i), _shown(head, b, i)))
    ta, tb = cur[tax.text_column].map(normalize_text), inc[tax.text_column].map(normalize_text)
    for i in np.flatnonzero((ta != tb).to_numpy()):
        out[i].append(("text", "(text differs)", "(text differs)"))
    return out


def merge_labels(labeled: pd.DataFrame, corrected: list[tuple[str, pd.DataFrame]], tax, *, prefer: str | None = None,
                 annotator: str | None = None, split: str = "train", labeled_name: str = "labeled",
                 now: str | None = None) -> MergeResult:
    """Merge ``corrected`` files (name, table), in order, into ``labeled``; see the module docstring.

    ``annotator`` fills rows whose ``annotator`` cell is empty; ``now`` (ISO time, default
    the current UTC time) fills empty ``labeled_at`` cells. All columns come back as text.
    """
    if prefer not in (None, *PREFER):
        raise InputError(f"--prefer must be one of {', '.join(PREFER)}, got '{prefer}'")
    if split not in ("train", "test"):
        raise InputError(f"--split must be train or test, got '{split}'")
    idc, textc = tax.id_column, tax.text_column
    if idc not in labeled.columns:
        raise InputError(f"{labeled_name}: id column '{idc}' is missing; merging needs ids (use --id-col)")
    validate_labeled(labeled, tax, labeled_name)
    now = now or datetime.now(timezone.utc).isoformat(timespec="seconds")
    base = labeled.astype("string").reset_index(drop=True)
    base[textc] = unguard_formulas(base[textc])
    for col in PROVENANCE_COLUMNS:
        if col not in base.columns:
            base[col] = pd.array([pd.NA] * len(base), dtype="string")
    base["source_file"] = base["source_file"].fillna(Path(labeled_name).name)
    result = MergeResult(base)
    conflicts = []
    for name, df in corrected:
        if idc not in df.columns:
            raise InputError(f"{name}: id column '{idc}' is missing; merging needs ids")
        df = df.astype("string").reset_index(drop=True)
        if textc in df.columns:
            df[textc] = unguard_formulas(df[textc])
        keep = [c for c in df.columns if c in base.columns and c != "split"]
        inc = validate_labeled(df[keep], tax, name)
        for col in PROVENANCE_COLUMNS:
            if col not in inc.columns:
                inc[col] = pd.array([pd.NA] * len(inc), dtype="string")
        inc["annotator"] = inc["annotator"].replace("", pd.NA)
        if annotator:
            inc["annotator"] = inc["annotator"].fillna(annotator)
        inc["labeled_at"] = inc["labeled_at"].replace("", pd.NA).fillna(now)
        inc["source_file"] = Path(name).name

        position = {v: i for i, v in enumerate(result.frame[idc].tolist())}
        known = inc[idc].map(position)
        seen = known.notna().to_numpy()
        old_rows = result.frame.iloc[known[seen].astype(int).to_numpy()].reset_index(drop=True)
        diffs = _differences(tax, old_rows, inc[seen].reset_index(drop=True))
        for k, (i, d) in enumerate(zip(np.flatnonzero(seen), diffs)):
            if not d:
                result.unchanged += 1
                continue
            resolution = {"new": "took incoming", "old": "kept current"}.get(prefer, "unresolved")
            pos = int(known.iloc[i])
            for fld, cur, new in d:
                conflicts.append({"id": inc.at[i, idc], "field": fld, "current": cur, "incoming": new,
                                  "current_source": result.frame.at[pos, "source_file"], "incoming_source": Path(name).name,
                                  "resolution": resolution})
            if prefer == "new":
                cols = [c for c in inc.columns if c != idc]
                result.frame.loc[pos, cols] = inc.loc[i, cols].to_numpy()
                result.updated += 1
        fresh = inc[~seen].copy()
        if "split" in result.frame.columns:
            fresh["split"] = split
        result.added += len(fresh)
        result.frame = pd.concat([result.frame, fresh.astype("string")], ignore_index=True)
    result.frame = result.frame.astype("string")
    result.conflicts = pd.DataFrame(conflicts, columns=CONFLICT_COLUMNS)
    validate_labeled(result.frame, tax, "merged labels")
    return result
