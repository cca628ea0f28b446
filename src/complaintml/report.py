"""Explore scored comments: one self-contained HTML report and the aggregations behind it.

``build_report`` reads one or more scored files (see :func:`load_scored`) and writes ONE
HTML file for patient-experience staff: alerts first, headline counts, how common each
feeling and root cause is (with 95% Wilson intervals), monthly trends, breakdowns by site
and department, a feelings x root causes map, example comments with the evidence phrases
highlighted, a filterable and searchable comment table with CSV export, a needs-review
queue, and a footer with the model and its known limitations.

Why Plotly: the ``plotly`` Python package ships ``plotly.min.js`` inside its wheel, so the
report inlines that file once, read from disk. Charts then work with the network off (no
CDN, no download at build or view time) and we do not maintain a chart engine of our own.
The table, filters and export are a small plain-JS file (``assets/report.js``) that reads
the rows from a JSON block embedded in the page; it writes comment text with
``textContent`` only, and the JSON is escaped so no comment can close its ``<script>``.

Privacy: every count shown in a chart or a summary table that lies between 1 and
``min_cell - 1`` is hidden (shown as "<5"), as is every rate of a segment with fewer than
``min_cell`` comments; comment text is passed through :func:`complaintml.redaction.redact`.
The comment table still lists comments one by one, so the file is for staff who may read
comments. The page's Content-Security-Policy forbids every network request, so opening it
cannot send anything anywhere.

The aggregation functions (:func:`label_indicators`, :func:`prevalence`,
:func:`wilson_interval`, :func:`suppress`, :func:`suppress_table`, :func:`monthly_trend`,
:func:`breakdown`, :func:`cooccurrence`) are pure and are what ``notebooks/explore_scored.ipynb``
uses too, so the notebook and the report always agree.

Example (a month of nightly outputs in one report)::

    build_report(sorted(Path("out").glob("2024-06-*.parquet")), "out/june.html", by=("site", "department"))
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from statistics import NormalDist
from string import Template

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from .errors import InputError
from .redaction import redact
from .taxonomy import Head, Taxonomy

__all__ = [
    "SCHEMA_VERSION",
    "OKABE_ITO",
    "load_scored",
    "scored_taxonomy",
    "label_indicators",
    "wilson_interval",
    "prevalence",
    "suppress",
    "suppress_table",
    "monthly_trend",
    "breakdown",
    "cooccurrence",
    "sample_for_table",
    "evidence_spans",
    "build_report",
]

SCHEMA_VERSION = "1"
META_KEY = b"complaintml"
# Okabe & Ito (2008): distinguishable with the common colour-vision deficiencies.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
POLARITY_COLOURS = {"negative": "#D55E00", "positive": "#0072B2", "mixed": "#CC79A7", "neutral": "#8C8C8C"}
Z95 = NormalDist().inv_cdf(0.975)
NOT_RECORDED = "(not recorded)"
_ROLE_BY_HEAD_NAME = {"polarity": "polarity", "feelings": "feelings", "root_causes": "causes", "causes": "causes"}
_READABLE = (".parquet", ".pq", ".csv", ".jsonl", ".ndjson")


# --------------------------------------------------------------------------------------
# Reading scored files
# --------------------------------------------------------------------------------------
def _expand(paths) -> list[Path]:
    """One path, a list of paths, or a folder (every scored file in it, sorted by name)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.suffix.lower() in _READABLE)
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(f"{p}: scored file not found")
    if not files:
        raise InputError(f"no scored files (.parquet, .csv, .jsonl) in {', '.join(map(str, paths))}")
    return files


def _sidecar(path: Path) -> dict | None:
    side = Path(str(path) + ".meta.json")
    if not side.is_file():
        return None
    try:
        return json.loads(side.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{side}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def _read_one(path: Path) -> tuple[pd.DataFrame, dict | None]:
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            table = pq.read_table(path)
            raw = (table.schema.metadata or {}).get(META_KEY)
            meta = json.loads(raw) if raw else _sidecar(path)
            return table.to_pandas(), meta
        meta = _sidecar(path)
        id_col = (meta or {}).get("id_column", "id")
        if suffix == ".csv":
            # ids stay text ("007" is not 7) so files of different formats line up.
            df = pd.read_csv(path, dtype={id_col: str}, encoding="utf-8-sig")
            return df.apply(_unguard), meta
        if suffix in (".jsonl", ".ndjson"):
            return pd.read_json(path, lines=True, dtype=False), meta
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read scored file ({exc})") from None
    raise InputError(f"{path}: unknown file type '{suffix}'; expected .parquet, .csv or .jsonl")


def _as_bool(values: pd.Series) -> pd.Series:
    """True/False from bools, 0/1 or the strings a CSV round trip produces; null is False."""
    if values.dtype == bool:
        return values
    text = values.astype("string").str.strip().str.lower()
    return text.isin(["true", "1", "1.0", "yes", "y", "t"]).fillna(False).astype(bool)


def _as_dates(values: pd.Series) -> pd.Series:
    """Naive datetimes from datetimes or text; what does not parse becomes NaT.

    Time zones are dropped keeping local wall time, so a comment falls in the month it was
    written in. Text dates (the scorer passes input columns through as text) are read as
    ISO 8601 when they look like it; otherwise as day/month/year, unless a second field
    above 12 shows the file is month/day/year.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        out = values
    elif pd.api.types.is_numeric_dtype(values):
        out = pd.Series(pd.NaT, index=values.index)
    else:
        text = values.astype("string").str.strip().replace("", pd.NA)
        if text.str.match(r"\d{4}-\d{2}-\d{2}").fillna(False).sum() >= text.notna().sum() / 2:
            try:
                out = pd.to_datetime(text, errors="coerce", format="ISO8601")
            except ValueError:  # mixed time zones: the calendar day is all a report needs
                out = pd.to_datetime(text.str.slice(0, 10), errors="coerce", format="%Y-%m-%d")
        else:
            second = pd.to_numeric(text.str.extract(r"^\d{1,2}[/.-](\d{1,2})[/.-]", expand=False), errors="coerce")
            out = pd.to_datetime(text, errors="coerce", format="mixed", dayfirst=not (second > 12).any())
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_localize(None)
    return out.astype("datetime64[ns]")


def _unguard(values: pd.Series) -> pd.Series:
    """Undo the scorer's CSV formula guard (a ' put before = + - @), so text reads as written."""
    if not (values.dtype == object or pd.api.types.is_string_dtype(values)):
        return values
    guarded = values.astype("string").str.match(r"'[=+\-@\t\r]").fillna(False)
    return values.mask(guarded, values.astype("string").str.slice(1)) if guarded.any() else values


def _infer_taxonomy(columns: Iterable[str]) -> dict:
    """Heads from ``proba__<head>__<label>`` columns when a file carries no metadata."""
    heads: dict[str, list[str]] = {}
    for col in columns:
        parts = str(col).split("__", 2)
        if len(parts) == 3 and parts[0] == "proba":
            heads.setdefault(parts[1], []).append(parts[2])
    if not heads:
        raise InputError("no complaintml metadata and no proba__<head>__<label> columns: is this a scored file?")
    cols = set(columns)
    spec = []
    for name, labels in heads.items():
        head = {"name": name, "labels": labels}
        if name == "polarity":
            head.update(kind="multiclass", column=name)
        elif name not in cols and all(lab in cols for lab in labels):
            head.update(kind="multilabel", encoding="onehot")
        else:
            head.update(kind="multilabel", column=name)
        if name in _ROLE_BY_HEAD_NAME:
            head["role"] = _ROLE_BY_HEAD_NAME[name]
        spec.append(head)
    return {"name": "inferred", "heads": spec}


def load_scored(paths, date_col: str | None = "date") -> tuple[pd.DataFrame, dict]:
    """Read scored files (Parquet, CSV or JSONL; a folder means every such file in it).

    Returns the rows of all files as one DataFrame and a metadata dict with the keys of the
    scored schema (``schema_version``, ``model_name``, ``model_version``, ``taxonomy``,
    ``text_column``, ``id_column``, ``limitations``) plus ``files``, ``models`` (each
    distinct model with its row count), ``inferred`` (True when no file had metadata and the
    heads were read from the ``proba__`` column names) and ``duplicates_dropped``.

    A comment id found in a later file replaces the same id in earlier files, so a night
    that was scored twice counts once. ``needs_review`` and ``alert`` become bools and
    ``date_col`` (when present) becomes a datetime column. Raises InputError when files
    were scored with different taxonomies or a newer schema.
    """
    files = _expand(paths)
    frames, metas = [], []
    for path in files:
        df, meta = _read_one(path)
        if meta is not None:
            version = str(meta.get("schema_version", ""))
            if version != SCHEMA_VERSION:
                raise InputError(f"{path}: scored schema version '{version}' is not supported "
                                 f"(this version reads '{SCHEMA_VERSION}')")
        frames.append(df)
        metas.append(meta)

    known = [(p, m) for p, m in zip(files, metas) if m is not None]
    if known:
        first_path, first = known[0]
        for path, meta in known[1:]:
            if json.dumps(meta.get("taxonomy"), sort_keys=True) != json.dumps(first.get("taxonomy"), sort_keys=True):
                raise InputError(f"{path} and {first_path} were scored with different taxonomies; report on them separately")
        spec = first.get("taxonomy") or _infer_taxonomy([c for f in frames for c in f.columns])
    else:
        first = {}
        spec = _infer_taxonomy([c for f in frames for c in f.columns])
    tax = Taxonomy.from_dict(spec, where="scored metadata taxonomy")
    id_col = first.get("id_column") or tax.id_column
    text_col = first.get("text_column") or tax.text_column

    for df in frames:
        if id_col in df.columns:
            df[id_col] = df[id_col].astype("string")
        if date_col and date_col in df.columns:
            df[date_col] = _as_dates(df[date_col])
        for col in ("needs_review", "alert"):
            if col in df.columns:
                df[col] = _as_bool(df[col])

    # Walk files newest-last backwards: ids already seen in a later file are dropped.
    dropped, seen, kept = 0, set(), []
    for df in reversed(frames):
        if id_col in df.columns:
            again = df[id_col].isin(seen) & df[id_col].notna()
            dropped += int(again.sum())
            seen.update(df[id_col].dropna())
            df = df[~again]
        kept.append(df)
    data = pd.concat([f for f in reversed(kept)], ignore_index=True) if len(kept) > 1 else kept[0].reset_index(drop=True)

    models = []
    if {"model_name", "model_version"} <= set(data.columns):
        counts = data.groupby(["model_name", "model_version"], dropna=False, sort=False).size()
        models = [{"model_name": "" if pd.isna(n) else str(n), "model_version": "" if pd.isna(v) else str(v), "rows": int(c)}
                  for (n, v), c in counts.items()]
    elif known:
        models = [{"model_name": m.get("model_name", ""), "model_version": m.get("model_version", ""), "rows": None}
                  for _, m in known]
    limitations: list[str] = []
    for _, meta in known:
        limitations += [str(x) for x in meta.get("limitations") or [] if str(x) not in limitations]
    last = known[-1][1] if known else {}
    return data, {
        "schema_version": SCHEMA_VERSION,
        "model_name": last.get("model_name", models[-1]["model_name"] if models else ""),
        "model_version": last.get("model_version", models[-1]["model_version"] if models else ""),
        "taxonomy": tax.to_dict(),
        "text_column": text_col,
        "id_column": id_col,
        "limitations": limitations,
        "files": [str(p) for p in files],
        "models": models,
        "inferred": not known,
        "duplicates_dropped": dropped,
        # True when the scorer already redacted the text (its default); None when not recorded.
        "redacted": all(m.get("redacted") for _, m in known) if any("redacted" in m for _, m in known) else None,
    }


def scored_taxonomy(meta: dict) -> Taxonomy:
    """The :class:`Taxonomy` described by ``meta["taxonomy"]`` (from :func:`load_scored`)."""
    return Taxonomy.from_dict(meta["taxonomy"], where="scored metadata taxonomy")


# --------------------------------------------------------------------------------------
# Pure aggregations
# --------------------------------------------------------------------------------------
def label_indicators(df: pd.DataFrame, head: Head) -> pd.DataFrame:
    """One nullable-boolean column per label of ``head``: True when the row has the label.

    Rows that were not scored (all of the head's ``proba__`` columns null; without those
    columns, a null label column) are NA, so ``.sum()`` counts labelled rows and
    ``.count()`` counts scored rows. A multiclass head gives one column per class.
    """
    for col in head.output_columns:
        if col not in df.columns:
            raise InputError(f"scored data has no column '{col}' for head '{head.name}'")
    probas = [head.proba_column(lab) for lab in head.label_names if head.proba_column(lab) in df.columns]
    # A CSV cannot tell an empty label list from a null one; the probabilities can.
    scored = df[probas].notna().any(axis=1) if probas else df[head.output_columns].notna().all(axis=1)
    if head.kind == "multiclass":
        values = df[head.column].astype("string").str.strip()
        flags = pd.DataFrame({lab: (values == lab).fillna(False) for lab in head.label_names}, index=df.index)
    elif head.encoding == "onehot":
        flags = pd.DataFrame({lab: pd.to_numeric(df[lab], errors="coerce") == 1 for lab in head.label_names}, index=df.index)
    else:
        sep = re.escape(head.separator)
        tidy = df[head.column].astype("string").fillna("")
        tidy = tidy.str.replace(rf"\s*{sep}\s*", head.separator, regex=True).str.strip()
        dummies = tidy.str.get_dummies(sep=head.separator)
        flags = dummies.reindex(columns=head.label_names, fill_value=0).astype(bool)
    return flags.astype("boolean").mask(~scored)


def wilson_interval(count, n, z: float = Z95):
    """Wilson score interval for a proportion ``count / n``; NaN where ``n`` is 0.

    Works on scalars or arrays. Unlike the normal approximation it stays inside [0, 1] and
    is sensible for small counts, e.g. 0 of 10 gives (0, 0.278).
    """
    def as_float(x):
        return x.to_numpy(dtype=float, na_value=np.nan) if hasattr(x, "to_numpy") else np.asarray(x, dtype=float)

    k, m = as_float(count), as_float(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / m
        denom = 1 + z**2 / m
        centre = (p + z**2 / (2 * m)) / denom
        half = z * np.sqrt(p * (1 - p) / m + z**2 / (4 * m**2)) / denom
        # At 0 of n and n of n the bound is exactly 0 or 1; say so rather than 1e-17.
        lo = np.where(m > 0, np.where(k == 0, 0.0, np.clip(centre - half, 0, 1)), np.nan)
        hi = np.where(m > 0, np.where(k == m, 1.0, np.clip(centre + half, 0, 1)), np.nan)
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


def _rates(count: pd.Series, n: pd.Series, z: float) -> pd.DataFrame:
    out = pd.DataFrame({"count": count.astype("int64"), "n": n.astype("int64")})
    with np.errstate(divide="ignore", invalid="ignore"):
        out["share"] = np.where(out["n"] > 0, out["count"] / out["n"].where(out["n"] > 0), np.nan)
    out["lo"], out["hi"] = wilson_interval(out["count"], out["n"], z)
    return out


def prevalence(indicators: pd.DataFrame, z: float = Z95) -> pd.DataFrame:
    """Per label: ``count`` of scored rows with it, ``n`` scored rows, ``share`` and its
    Wilson interval ``lo``-``hi``. Indexed by label, in taxonomy order."""
    out = _rates(indicators.fillna(False).astype(int).sum(), indicators.notna().sum(), z)
    out.index.name = "label"
    return out


def _grouped(indicators: pd.DataFrame, key: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    count = indicators.fillna(False).astype(int).groupby(key).sum()
    n = indicators.notna().groupby(key).sum()
    return count, n


def _long(count: pd.DataFrame, n: pd.DataFrame, name: str, z: float) -> pd.DataFrame:
    count.index.name, n.index.name = name, name
    count.columns.name, n.columns.name = "label", "label"
    out = _rates(count.stack(), n.stack(), z).reset_index()
    return out[[name, "label", "count", "n", "share", "lo", "hi"]]


def monthly_trend(indicators: pd.DataFrame, dates: pd.Series, z: float = Z95) -> pd.DataFrame:
    """Long table ``month, label, count, n, share, lo, hi``: one row per calendar month and
    label, months without comments included (n = 0) so charts show the gap. Rows without a
    date are left out. ``month`` is the first day of the month."""
    month = pd.to_datetime(dates, errors="coerce").dt.to_period("M")
    count, n = _grouped(indicators, month)
    if count.empty:
        empty = pd.DataFrame(columns=["month", "label", "count", "n", "share", "lo", "hi"])
        return empty.astype({"count": "int64", "n": "int64", "share": float, "lo": float, "hi": float})
    full = pd.period_range(count.index.min(), count.index.max(), freq="M")
    count, n = count.reindex(full, fill_value=0), n.reindex(full, fill_value=0)
    count.index = n.index = full.to_timestamp()
    return _long(count, n, "month", z)


def breakdown(indicators: pd.DataFrame, segments: pd.Series, z: float = Z95) -> pd.DataFrame:
    """Long table ``segment, label, count, n, share, lo, hi`` per value of ``segments``
    (e.g. each site). Missing segment values are grouped as "(not recorded)"; segments are
    ordered by number of comments, largest first."""
    key = segments.astype("string").str.strip().replace("", pd.NA).fillna(NOT_RECORDED)
    count, n = _grouped(indicators, key.rename("segment"))
    order = key.value_counts().index  # by rows, largest first, ties by first appearance
    count, n = count.reindex(order), n.reindex(order)
    return _long(count, n, "segment", z)


def cooccurrence(rows: pd.DataFrame, cols: pd.DataFrame) -> pd.DataFrame:
    """Counts of comments with both labels: rows = labels of ``rows`` (e.g. feelings),
    columns = labels of ``cols`` (e.g. root causes). Unscored rows count as neither."""
    a = rows.fillna(False).astype(int)
    b = cols.fillna(False).astype(int)
    return a.T.dot(b)


def suppress(counts, min_cell: int = 5):
    """Hide small counts: values from 1 to ``min_cell - 1`` become NA (nullable Int64).

    Zero stays visible: it identifies nobody, and hiding it would blank most of a sparse
    map. Works on a Series or DataFrame of counts.
    """
    counts = counts.astype("Int64")
    return counts.mask((counts > 0) & (counts < min_cell))


def suppress_table(table: pd.DataFrame, min_cell: int = 5, count: str = "count", n: str = "n",
                   derived: Iterable[str] = ("share", "lo", "hi")) -> pd.DataFrame:
    """Apply small-number suppression to a long table from :func:`prevalence`,
    :func:`monthly_trend` or :func:`breakdown`.

    A row whose ``count`` is 1 to ``min_cell - 1`` loses its count and rates (a rate and
    ``n`` would give the count back). A row whose ``n`` (the segment or month) is below
    ``min_cell`` loses everything, ``n`` included. Adds a bool column ``suppressed``.
    """
    out = table.copy()
    small_n = (out[n] > 0) & (out[n] < min_cell)
    hide = small_n | ((out[count] > 0) & (out[count] < min_cell))
    out[count] = out[count].astype("Int64").mask(hide)
    out[n] = out[n].astype("Int64").mask(small_n)
    for col in derived:
        if col in out.columns:
            out[col] = out[col].mask(hide)
    out["suppressed"] = hide.astype(bool)
    return out


def sample_for_table(strata: pd.DataFrame, max_rows: int, seed: int = 0) -> np.ndarray:
    """Positions of at most ``max_rows`` rows to list, so that every stratum keeps examples.

    ``strata`` holds one bool column per stratum (each label, needs review, alert). Half
    the places are shared out equally between strata, rarest first, and the rest are a
    plain random sample, so common labels keep their usual weight. All rows when they fit.
    """
    total = len(strata)
    if total <= max_rows:
        return np.arange(total)
    rng = np.random.default_rng(seed)
    flags = strata.fillna(False).to_numpy(dtype=bool)
    chosen = np.zeros(total, dtype=bool)
    quota = max(1, max_rows // (2 * max(1, flags.shape[1])))
    for j in np.argsort(flags.sum(axis=0), kind="stable"):
        members = np.flatnonzero(flags[:, j])
        need = min(quota - int(chosen[members].sum()), max_rows - int(chosen.sum()))
        free = members[~chosen[members]]
        if need > 0 and len(free):
            chosen[rng.choice(free, size=min(need, len(free)), replace=False)] = True
    rest = np.flatnonzero(~chosen)
    extra = max_rows - int(chosen.sum())
    if extra > 0:
        chosen[rng.choice(rest, size=extra, replace=False)] = True
    return np.flatnonzero(chosen)


def evidence_spans(text: str, phrases: Iterable[str]) -> list[tuple[int, int]]:
    """``(start, end)`` of every case-insensitive, whole-word occurrence of each phrase in
    ``text``, sorted, with overlapping spans merged ("it" is not found inside "with")."""
    if not isinstance(text, str) or not text:
        return []
    spans = []
    for phrase in phrases:
        phrase = str(phrase).strip()
        if not phrase:
            continue
        # Word boundaries only where the phrase starts or ends with a word character, so "'s" still matches "Mum's".
        left = r"(?<!\w)" if re.match(r"\w", phrase) else ""
        right = r"(?!\w)" if re.search(r"\w$", phrase) else ""
        pattern = left + re.escape(phrase) + right
        spans += [m.span() for m in re.finditer(pattern, text, flags=re.IGNORECASE)]
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


# --------------------------------------------------------------------------------------
# Formatting helpers
# --------------------------------------------------------------------------------------
def _esc(value) -> str:
    return html.escape("" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value), quote=True)


def _display(name: str) -> str:
    """'staff_attitude' -> 'staff attitude': label names as staff read them."""
    return str(name).replace("_", " ")


def _head_title(head: Head) -> str:
    text = _display(head.name)
    return text[:1].upper() + text[1:]


def _count(value, min_cell: int) -> str:
    """A count as shown: hidden (NA) or from 1 to min_cell - 1 becomes '<min_cell' (same rule as suppress)."""
    if value is None or pd.isna(value) or 0 < int(value) < min_cell:
        return f"<{min_cell}"
    return f"{int(value):,}"


def _pct(value) -> str:
    if value is None or pd.isna(value):
        return "–"
    pct = 100 * float(value)
    return f"{pct:.1f}%" if 0 < pct < 10 else f"{pct:.0f}%"


def _interval(lo, hi) -> str:
    if lo is None or pd.isna(lo):
        return "–"
    return f"{_pct(lo)}–{_pct(hi)}"


def _day(value) -> str:
    return "" if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d")


def _month_name(value) -> str:
    return pd.Timestamp(value).strftime("%b %Y")


def _html_table(header: list[str], rows: list[list[str]], caption: str, row_headers: bool = True) -> str:
    head = "".join(f'<th scope="col">{_esc(h)}</th>' for h in header)
    body = []
    for row in rows:
        cells = [f'<th scope="row">{_esc(row[0])}</th>' if row_headers else f"<td>{_esc(row[0])}</td>"]
        cells += [f'<td class="num">{_esc(v)}</td>' for v in row[1:]]
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (f'<div class="table-wrap"><table class="numbers"><caption>{_esc(caption)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def _marked_html(text: str, spans: list[tuple[int, int]]) -> str:
    out, pos = [], 0
    for start, end in spans:
        out += [_esc(text[pos:start]), f"<mark>{_esc(text[start:end])}</mark>"]
        pos = end
    out.append(_esc(text[pos:]))
    return "".join(out)


def _parts(text: str, spans: list[tuple[int, int]]) -> list[str]:
    """Text split at the spans: even items plain, odd items highlighted. Sending pieces
    rather than offsets avoids Python (code point) vs JavaScript (UTF-16) index mismatch."""
    out, pos = [], 0
    for start, end in spans:
        out += [text[pos:start], text[start:end]]
        pos = end
    out.append(text[pos:])
    return out


def _json_for_script(obj) -> str:
    """JSON safe inside <script>: '<', '>' and '&' become \\u escapes, so text such as
    '</script>' cannot end the element; U+2028/2029 are escaped for older parsers."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, code)
    return text


def _asset(name: str) -> str:
    return resources.files("complaintml").joinpath("assets", name).read_text(encoding="utf-8")


def _parse_evidence(value) -> dict:
    if not isinstance(value, str) or not value.strip():
        return {}
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {str(k): [str(p) for p in (v if isinstance(v, list) else [v]) if p] for k, v in parsed.items()}


# --------------------------------------------------------------------------------------
# Charts (Plotly figure specs, drawn by plotly.js in the page)
# --------------------------------------------------------------------------------------
_FONT = dict(family="system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif", size=15, color="#1a1a1a")


def _layout(**extra) -> dict:
    base = dict(template="plotly_white", font=_FONT, colorway=OKABE_ITO, margin=dict(l=10, r=20, t=30, b=40),
                hoverlabel=dict(font_size=15), separators=".,")
    base.update(extra)
    return base


def _figure_dict(fig) -> dict:
    return json.loads(fig.to_json(validate=False))


class _Page:
    """Collects figure specs and hands out element ids."""

    def __init__(self, min_cell: int):
        self.min_cell = min_cell
        self.figures: dict[str, dict] = {}

    def figure(self, fig, caption: str, numbers_html: str, title: str, min_width: int = 0) -> str:
        """``min_width`` (px) keeps wide charts legible on narrow screens: they scroll sideways."""
        fid = f"fig-{len(self.figures) + 1}"
        self.figures[fid] = _figure_dict(fig)
        style = f' style="min-width:{min_width}px"' if min_width else ""
        return (f'<figure class="chart"><h3 class="chart-title">{_esc(title)}</h3>'
                f'<div class="plot-scroll"><div class="plot" id="{fid}" role="img" aria-label="{_esc(caption)}"{style}>'
                "</div></div>"
                f"<figcaption>{_esc(caption)}</figcaption>"
                f"<details><summary>Numbers behind this chart</summary>{numbers_html}</details></figure>")


def _prevalence_figure(table: pd.DataFrame, head: Head, min_cell: int):
    import plotly.graph_objects as go

    if head.role != "polarity":  # largest first; polarity keeps its natural order
        table = table.sort_values("share", ascending=False, na_position="last", kind="stable")
    shown = table.iloc[::-1]  # plotly draws the first bar at the bottom
    names = [_display(x) for x in shown.index]
    share = [None if pd.isna(v) else 100 * v for v in shown["share"]]
    plus = [None if pd.isna(h) else 100 * (h - s) for h, s in zip(shown["hi"], shown["share"])]
    minus = [None if pd.isna(lo) else 100 * (s - lo) for lo, s in zip(shown["lo"], shown["share"])]
    text = [f"<{min_cell}" if pd.isna(c) else f"{_pct(s)} ({int(c):,})" for c, s in zip(shown["count"], shown["share"])]
    colours = [POLARITY_COLOURS.get(x, OKABE_ITO[0]) if head.role == "polarity" else OKABE_ITO[0] for x in shown.index]
    fig = go.Figure(go.Bar(
        x=share, y=names, orientation="h", marker_color=colours, customdata=text,
        error_x=dict(type="data", array=plus, arrayminus=minus, color="#333", thickness=1.5, width=5),
        hovertemplate="%{y}: %{customdata}<extra></extra>",
    ))
    # Labels sit just right of the interval's upper end, so they never cross the whisker.
    ends = [0 if h is None else 100 * h for h in [None if pd.isna(v) else v for v in shown["hi"]]]
    fig.add_trace(go.Scatter(x=ends, y=names, mode="text", text=text, textposition="middle right",
                             textfont=dict(size=15), hoverinfo="skip", cliponaxis=False))
    top = max(ends + [1])
    fig.update_layout(**_layout(height=70 + 40 * len(names), showlegend=False, bargap=0.25,
                                xaxis=dict(title="% of scored comments (bar) with 95% interval (whisker)",
                                           range=[0, min(100, top * 1.3 + 3)], ticksuffix="%", fixedrange=True),
                                yaxis=dict(automargin=True, fixedrange=True)))
    return fig


def _trend_figures(trend: pd.DataFrame, head: Head):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    labels = head.label_names
    cols = 2 if len(labels) <= 4 else 3
    rows = -(-len(labels) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[_display(x) for x in labels],
                        vertical_spacing=min(0.14, 0.45 / rows), horizontal_spacing=0.07)
    for i, label in enumerate(labels):
        part = trend[trend["label"] == label]
        x = [_day(m) for m in part["month"]]
        pct = [None if pd.isna(v) else round(100 * v, 2) for v in part["share"]]
        up = [None if pd.isna(h) else round(100 * (h - v), 2) for h, v in zip(part["hi"], part["share"])]
        down = [None if pd.isna(lo) else round(100 * (v - lo), 2) for lo, v in zip(part["lo"], part["share"])]
        colour = POLARITY_COLOURS.get(label, OKABE_ITO[0]) if head.role == "polarity" else OKABE_ITO[0]
        # Error bars rather than a shaded band: a band cannot be drawn across suppressed months.
        fig.add_trace(go.Scatter(
            x=x, y=pct, mode="lines+markers", line=dict(color=colour, width=2.5), marker=dict(size=7),
            error_y=dict(type="data", array=up, arrayminus=down, color="rgba(60,60,60,0.45)", thickness=1.2, width=0),
            name=_display(label), showlegend=False,
            hovertemplate=f"{_esc(_display(label))} %{{x|%b %Y}}: %{{y:.1f}}%<extra></extra>"), i // cols + 1, i % cols + 1)
    first, last = trend["month"].min(), trend["month"].max()
    # Same time range on every panel, and every panel keeps its own date labels.
    fig.update_xaxes(range=[_day(first - pd.Timedelta(days=20)), _day(last + pd.Timedelta(days=20))],
                     tickformat="%b %Y", nticks=5, showticklabels=True)
    fig.update_yaxes(ticksuffix="%", rangemode="tozero")
    fig.update_layout(**_layout(height=90 + 230 * rows, margin=dict(l=10, r=20, t=40, b=30)))
    return fig


def _volume_figure(month_n: pd.Series, min_cell: int):
    import plotly.graph_objects as go

    x = [_day(m) for m in month_n.index]
    y = [None if 0 < v < min_cell else int(v) for v in month_n]
    fig = go.Figure(go.Bar(x=x, y=y, marker_color=OKABE_ITO[0], hovertemplate="%{x|%b %Y}: %{y:,} comments<extra></extra>"))
    fig.update_layout(**_layout(height=300, xaxis=dict(tickformat="%b %Y"), yaxis=dict(title="Comments")))
    return fig


def _heatmap(z, text, x, y, colour_title: str, height: int, zmax=None):
    import plotly.graph_objects as go

    fig = go.Figure(go.Heatmap(
        z=z, x=x, y=y, text=text, texttemplate="%{text}", textfont=dict(size=14), hoverongaps=False,
        colorscale=[[0, "#f7fbff"], [0.5, "#6baed6"], [1, "#08306b"]], zmin=0, zmax=zmax,
        colorbar=dict(title=dict(text=colour_title), ticksuffix="%"), xgap=2, ygap=2,
        hovertemplate="%{y} / %{x}: %{text}<extra></extra>",
    ))
    fig.update_layout(**_layout(height=height, xaxis=dict(side="top", tickangle=-30, automargin=True, showgrid=False),
                                yaxis=dict(autorange="reversed", automargin=True, showgrid=False), plot_bgcolor="#ffffff"))
    return fig


# --------------------------------------------------------------------------------------
# Page sections
# --------------------------------------------------------------------------------------
class _Context:
    """The data one report is built from, and how its comment text is shown."""

    def __init__(self, df: pd.DataFrame, meta: dict, by: list[str], date_col: str | None, min_cell: int,
                 redact_text: bool):
        self.df, self.meta, self.by, self.date_col, self.min_cell = df, meta, by, date_col, min_cell
        self.tax = scored_taxonomy(meta)
        self.heads = list(self.tax.heads)
        self.multi = [h for h in self.heads if h.is_multilabel]
        self.polarity = self.tax.head_by_role("polarity")
        self.inds = {h.name: label_indicators(df, h) for h in self.heads}
        self.id_col = meta["id_column"] if meta["id_column"] in df.columns else None
        text_col = meta["text_column"] if meta["text_column"] in df.columns else None
        self.texts = df[text_col] if text_col else pd.Series("", index=df.index)
        self.redactor = redact if redact_text else str
        self._shown: dict = {}

    def text(self, key) -> str:
        """Comment text as shown: redacted once, and only for comments that are shown."""
        if key not in self._shown:
            raw = self.texts.at[key]
            self._shown[key] = self.redactor(raw) if isinstance(raw, str) else ""
        return self._shown[key]

    def phrases(self, key, label: str | None = None) -> list[str]:
        """Evidence phrases of one label (or all labels), redacted like the text they are found in."""
        evidence = _parse_evidence(self.df.at[key, "evidence"])
        chosen = evidence.get(label, []) if label else [p for v in evidence.values() for p in v]
        return [self.redactor(p) for p in chosen]

    def count(self, value) -> str:
        return _count(value, self.min_cell)

    def cell(self, suppressed: bool, share, count) -> str:
        """One cell of a numbers table: '23% (45)', or '<5' when hidden."""
        if suppressed:
            return f"<{self.min_cell}"
        return "–" if pd.isna(share) else f"{_pct(share)} ({int(count):,})"


def _section(sid: str, title: str, body: str, intro: str = "") -> str:
    intro_html = f'<p class="intro">{intro}</p>' if intro else ""
    return (f'<section id="{sid}" aria-labelledby="{sid}-h"><h2 id="{sid}-h">{_esc(title)}</h2>'
            f"{intro_html}{body}</section>")


def _comment_card(ctx: _Context, key, extra: str = "", label: str | None = None, marks: bool = True) -> str:
    row = ctx.df.loc[key]
    text = ctx.text(key)
    spans = evidence_spans(text, ctx.phrases(key, label)) if marks else []
    where = [f"{_esc(_display(c))}: {_esc(row[c])}" for c in ctx.by]
    meta = [_day(row[ctx.date_col]) if ctx.date_col else "", *where, f"id {_esc(row[ctx.id_col])}" if ctx.id_col else ""]
    quote = _marked_html(text, spans) or "<em>(no text)</em>"
    return (f'<article class="comment">{extra}<blockquote>{quote}</blockquote>'
            f'<p class="meta">{" · ".join(m for m in meta if m)}</p></article>')


def _newest_first(ctx: _Context, frame: pd.DataFrame) -> pd.DataFrame:
    if not ctx.date_col:
        return frame
    return frame.sort_values(ctx.date_col, ascending=False, na_position="last", kind="stable")


def build_report(
    paths,
    output,
    by=("site", "department"),
    date_col: str | None = "date",
    title: str | None = None,
    max_table_rows: int = 20000,
    min_cell: int = 5,
    redact_text: bool = True,
) -> Path:
    """Write one self-contained HTML report on the scored file(s) ``paths`` to ``output``.

    ``by`` names the columns to break results down by (those missing from the data are
    noted and skipped); ``date_col`` drives the monthly trends and the date filter. Counts
    and charts use every row; the comment table lists at most ``max_table_rows`` comments,
    sampled so every label keeps examples. Counts from 1 to ``min_cell - 1`` are shown as
    "<min_cell". With ``redact_text`` comment text and evidence go through
    :func:`complaintml.redaction.redact`. Returns the path written.
    """
    if int(min_cell) < 1:
        raise InputError(f"min_cell must be at least 1, got {min_cell}")
    if int(max_table_rows) < 1:
        raise InputError(f"max_table_rows must be at least 1, got {max_table_rows}")
    by = [by] if isinstance(by, str) else list(by or [])
    df, meta = load_scored(paths, date_col=date_col)

    notes = []
    missing = [c for c in by if c not in df.columns]
    if missing:
        notes.append(f"No column {', '.join(repr(c) for c in missing)} in the data, so no breakdown by it.")
    by = [c for c in by if c in df.columns]
    for col in by:
        df[col] = df[col].astype("string").str.strip().replace("", pd.NA).fillna(NOT_RECORDED)
    if date_col and date_col not in df.columns:
        notes.append(f"No date column '{date_col}' in the data, so no trends or date filter.")
        date_col = None
    if meta["text_column"] not in df.columns:
        notes.append(f"No text column '{meta['text_column']}' in the data, so comments cannot be shown.")
    # Optional columns of the scored schema: absent means nothing flagged.
    for col, empty in (("evidence", ""), ("needs_review", False), ("alert", False), ("alert_reason", "")):
        if col not in df.columns:
            df[col] = empty

    ctx = _Context(df, meta, by, date_col, int(min_cell), redact_text)
    page = _Page(ctx.min_cell)
    table_html, table_data = _table_section(ctx, int(max_table_rows))
    sections = [
        _alerts_section(ctx),
        _summary_section(ctx, notes),
        _prevalence_section(ctx, page),
        _trend_section(ctx, page),
        _breakdown_section(ctx, page),
        _cooccurrence_section(ctx, page),
        _examples_section(ctx),
        table_html,
        _review_section(ctx),
    ]

    dates = df[date_col].dropna() if date_col else pd.Series(dtype="datetime64[ns]")
    span = f"{dates.min():%-d %b %Y} to {dates.max():%-d %b %Y}" if len(dates) else "dates not recorded"
    files = len(meta["files"])
    nav = "".join(f'<li><a href="#{sid}">{_esc(name)}</a></li>' for sid, name in [
        ("alerts", "Alerts"), ("summary", "Summary"), ("prevalence", "How common"), ("trends", "Trends"),
        ("breakdown", "Breakdown"), ("cooccurrence", "Feelings × causes"), ("examples", "Examples"),
        ("comments", "Comments"), ("review", "Needs review"), ("about", "About")])
    plot_config = {"responsive": True, "displaylogo": False,
                   "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"],
                   "toImageButtonOptions": {"format": "png", "scale": 2}}
    data = {"figures": page.figures, "plotConfig": plot_config, "table": table_data}
    html_text = Template(_asset("report.html")).substitute(
        title=_esc(title or "Patient comments explorer"),
        subtitle=_esc(f"{len(df):,} comments · {span} · {files} file{'s' if files != 1 else ''}"),
        nav=nav,
        sections="\n".join(sections),
        footer=_footer(meta, ctx.min_cell, redact_text),
        css=_asset("report.css"),
        data=_json_for_script(data),
        # plotly.min.js has no "</script"; the replace keeps that true for any future release.
        plotly_js=_plotly_js().replace("</script", "<\\/script"),
        report_js=_asset("report.js"),
    )
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(html_text, encoding="utf-8")
    return output


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _alerts_section(ctx: _Context, limit: int = 200) -> str:
    alerts = _newest_first(ctx, ctx.df[ctx.df["alert"]])
    if alerts.empty:
        return _section("alerts", "Alerts", '<p class="ok">No comments were flagged for urgent attention.</p>')
    cards = []
    for key, reason in alerts["alert_reason"].head(limit).items():
        reason = _display(reason) if isinstance(reason, str) and reason else "flagged"  # self_harm -> self harm
        # No evidence marks here: they explain labels, not why the comment was flagged.
        extra = f'<p class="reason"><strong>Reason:</strong> {_esc(reason)}</p>'
        cards.append(_comment_card(ctx, key, extra=extra, marks=False))
    more = (f"<p>Showing the newest {limit} of {len(alerts):,}; tick “Alerts only” in the comment table for "
            "the rest.</p>") if len(alerts) > limit else ""
    intro = (f"<strong>{len(alerts):,} comment{'s' if len(alerts) != 1 else ''}</strong> flagged for urgent "
             "attention (for example a safety or safeguarding concern). Newest first; please follow your local process.")
    return _section("alerts", "Alerts", f'<div class="alerts">{"".join(cards)}</div>{more}', intro)


def _summary_section(ctx: _Context, notes: list[str]) -> str:
    df = ctx.df
    scored = pd.concat([ind.notna().any(axis=1) for ind in ctx.inds.values()], axis=1).any(axis=1)
    cards = [("Comments", ctx.count(len(df)), "all rows in the file(s)"),
             ("Scored", ctx.count(int(scored.sum())), "tagged by the model"),
             ("Needs review", ctx.count(int(df["needs_review"].sum())), "model unsure; a person should check"),
             ("Alerts", f"{int(df['alert'].sum()):,}", "listed above")]
    if ctx.polarity is not None:
        prev = suppress_table(prevalence(ctx.inds[ctx.polarity.name]), ctx.min_cell)
        for label, row in prev.iterrows():
            share = "" if row["suppressed"] else f"{_pct(row['share'])} "
            cards.append((_display(label).capitalize(), ctx.count(row["count"]), share + "of scored comments"))
    cards_html = "".join(f'<div class="card"><p class="card-label">{_esc(a)}</p><p class="card-value">{_esc(b)}</p>'
                         f'<p class="card-note">{_esc(c)}</p></div>' for a, b, c in cards)
    extra = []
    if "status" in df.columns:
        words = {"empty_text": "empty comments", "not_text": "not text (numbers, codes…)",
                 "truncated": "long comments scored on their start only"}
        counts = df["status"].astype("string").fillna("ok").value_counts()
        bits = [f"{ctx.count(n)} {words.get(k, k)}" for k, n in counts.items() if k != "ok"]
        if bits:
            extra.append("Not scored or partly scored: " + "; ".join(bits) + ".")
    if ctx.date_col and df[ctx.date_col].isna().any():
        undated = int(df[ctx.date_col].isna().sum())
        extra.append(f"{ctx.count(undated)} comments have no date and are left out of the trends.")
    notes_html = "".join(f"<p>{_esc(x)}</p>" for x in extra + notes)
    return _section("summary", "Summary", f'<div class="cards">{cards_html}</div>{notes_html}')


def _prevalence_section(ctx: _Context, page: _Page) -> str:
    blocks = []
    for head in ctx.heads:
        prev = prevalence(ctx.inds[head.name])
        shown = suppress_table(prev, ctx.min_cell)
        n = int(prev["n"].max()) if len(prev) else 0
        visible = shown.dropna(subset=["share"]).sort_values("share", ascending=False)
        if len(visible):
            top, low = visible.iloc[0], visible.iloc[-1]
            caption = (f"Bar chart: share of the {n:,} scored comments tagged with each {_display(head.name)} label. "
                       f"Most common: {_display(top.name)} ({_pct(top['share'])}, 95% interval "
                       f"{_interval(top['lo'], top['hi'])}). "
                       f"Least common shown: {_display(low.name)} ({_pct(low['share'])}).")
        else:
            caption = f"All counts for {_display(head.name)} are below {ctx.min_cell} and hidden."
        rows = [[_display(lab), ctx.count(r["count"]), _pct(r["share"]), _interval(r["lo"], r["hi"])]
                for lab, r in shown.iterrows()]
        numbers = _html_table(["Label", "Comments", "Share", "95% interval"], rows,
                              f"{_head_title(head)}: comments per label")
        blocks.append(page.figure(_prevalence_figure(shown, head, ctx.min_cell), caption, numbers, _head_title(head)))
    intro = ("How often each label was given, out of all scored comments. A comment can have several feelings and "
             "several causes. The whisker on each bar is the 95% interval: the true share is very likely inside it.")
    return _section("prevalence", "How common is each feeling and cause?", "".join(blocks), intro)


def _trend_section(ctx: _Context, page: _Page) -> str:
    date_col = ctx.date_col
    if not date_col or ctx.df[date_col].notna().sum() == 0:
        return _section("trends", "Monthly trends", "<p>No dates in the data, so no trends.</p>")
    months = ctx.df[date_col].dropna().dt.to_period("M")
    per_month = months.value_counts().reindex(pd.period_range(months.min(), months.max(), freq="M"), fill_value=0)
    per_month.index = per_month.index.to_timestamp()
    busiest = per_month.idxmax()
    caption = (f"Bar chart: comments per month, {_month_name(per_month.index[0])} to "
               f"{_month_name(per_month.index[-1])}. Busiest month: {_month_name(busiest)} with "
               f"{ctx.count(per_month[busiest])} comments.")
    numbers = _html_table(["Month", "Comments"], [[_month_name(m), ctx.count(v)] for m, v in per_month.items()],
                          "Comments per month")
    blocks = [page.figure(_volume_figure(per_month, ctx.min_cell), caption, numbers, "Comments per month")]
    for head in ctx.heads:
        trend = suppress_table(monthly_trend(ctx.inds[head.name], ctx.df[date_col]), ctx.min_cell)
        last_month = trend["month"].max()
        last = trend[trend["month"] == last_month].dropna(subset=["share"]).sort_values("share", ascending=False)
        latest = (f" In {_month_name(last_month)} the most common was {_display(last.iloc[0]['label'])} "
                  f"({_pct(last.iloc[0]['share'])}).") if len(last) else ""
        caption = (f"Small line charts, one per {_display(head.name)} label: monthly share of scored comments with "
                   f"the label, with its 95% interval as a vertical line. Months with fewer than {ctx.min_cell} "
                   f"such comments are left out.{latest}")
        trend["cell"] = [ctx.cell(*v) for v in zip(trend["suppressed"], trend["share"], trend["count"])]
        wide = trend.pivot(index="month", columns="label", values="cell")[head.label_names]
        numbers = _html_table(["Month"] + [_display(x) for x in head.label_names],
                              [[_month_name(m), *r] for m, r in wide.iterrows()],
                              f"{_head_title(head)}: share of comments per month (count)")
        blocks.append(page.figure(_trend_figures(trend, head), caption, numbers, f"{_head_title(head)} by month"))
    intro = ("Share of each month's scored comments with each label. A long vertical line (the 95% interval) "
             "means few comments that month; a missing point means too few comments to show.")
    return _section("trends", "Monthly trends", "".join(blocks), intro)


def _breakdown_section(ctx: _Context, page: _Page, max_segments: int = 30) -> str:
    if not ctx.by:
        return _section("breakdown", "Breakdown", "<p>No segment columns (such as site or department) in the data.</p>")
    blocks = []
    for col in ctx.by:
        for head in ctx.heads:
            table = suppress_table(breakdown(ctx.inds[head.name], ctx.df[col]), ctx.min_cell)
            table["short"] = [f"<{ctx.min_cell}" if s else _pct(v) for s, v in zip(table["suppressed"], table["share"])]
            table["cell"] = [ctx.cell(*v) for v in zip(table["suppressed"], table["share"], table["count"])]
            order = list(dict.fromkeys(table["segment"]))  # largest segment first
            sizes = table.groupby("segment", sort=False)["n"].first()
            names = [f"{seg} ({ctx.count(sizes[seg])})" for seg in order]
            wide = table.pivot(index="segment", columns="label", values=["share", "short", "cell"])
            wide = wide.loc[order]
            charted = order[:max_segments]
            share = (wide["share"].loc[charted, head.label_names].astype(float) * 100).round(1)
            fig = _heatmap(share.where(share.notna(), None).to_numpy().tolist(),
                           wide["short"].loc[charted, head.label_names].to_numpy().tolist(),
                           [_display(x) for x in head.label_names], names[:max_segments], "% of comments",
                           height=max(260, 130 + 42 * len(charted)))
            best = table.dropna(subset=["share"]).sort_values("share", ascending=False)
            highest = (f" Highest: {best.iloc[0]['segment']}, {_display(best.iloc[0]['label'])} "
                       f"({_pct(best.iloc[0]['share'])}).") if len(best) else ""
            cut = (f" The chart shows the {max_segments} largest of {len(order)}; the table has all."
                   if len(order) > max_segments else "")
            caption = (f"Heat map: share of each {_display(col)}'s scored comments with each {_display(head.name)} "
                       f"label (darker = more). Cells and {_display(col)}s with fewer than {ctx.min_cell} comments "
                       f"show <{ctx.min_cell}.{highest}{cut}")
            numbers = _html_table([f"{_display(col).capitalize()} (comments)"] + [_display(x) for x in head.label_names],
                                  [[name, *r] for name, r in zip(names, wide["cell"][head.label_names].to_numpy().tolist())],
                                  f"{_head_title(head)} by {_display(col)}: share (count)")
            blocks.append(page.figure(fig, caption, numbers, f"{_head_title(head)} by {_display(col)}",
                                      min_width=220 + 70 * len(head.label_names)))
    intro = ("Each row is a segment (its number of comments in brackets); each cell the share of its scored "
             "comments with the label.")
    return _section("breakdown", "Breakdown by " + " and ".join(_display(c) for c in ctx.by), "".join(blocks), intro)


def _cooccurrence_section(ctx: _Context, page: _Page) -> str:
    rows_head, cols_head = ctx.tax.head_by_role("feelings"), ctx.tax.head_by_role("causes")
    if rows_head is None or cols_head is None:
        rows_head, cols_head = (ctx.multi[0], ctx.multi[1]) if len(ctx.multi) >= 2 else (None, None)
    if rows_head is None:
        return _section("cooccurrence", "Feelings and causes together",
                        "<p>The taxonomy has only one set of labels, so there is no map.</p>")
    counts = cooccurrence(ctx.inds[rows_head.name], ctx.inds[cols_head.name])
    totals = ctx.inds[rows_head.name].fillna(False).sum()
    hidden = suppress(counts, ctx.min_cell).isna()
    share = counts.div(totals.where(totals > 0), axis=0)
    z = (share * 100).round(1).mask(hidden)
    text = [[ctx.cell(hidden.loc[r, c], share.loc[r, c], counts.loc[r, c]) for c in counts.columns] for r in counts.index]
    fig = _heatmap(z.where(z.notna(), None).to_numpy().tolist(), text, [_display(c) for c in counts.columns],
                   [f"{_display(r)} ({ctx.count(totals[r])})" for r in counts.index],
                   "% of the row", height=max(300, 170 + 60 * len(counts.index)))
    answers = []
    for r in counts.index:
        top = share.loc[r][~hidden.loc[r] & (counts.loc[r] > 0)].sort_values(ascending=False).head(3)
        if len(top):
            causes = ", ".join(f"{_display(c)} ({_pct(v)})" for c, v in top.items())
            answers.append(f"<li>What makes patients feel <strong>{_esc(_display(r))}</strong>? "
                           f"Most often: {_esc(causes)}.</li>")
        else:
            answers.append(f"<li><strong>{_esc(_display(r))}</strong>: too few comments to say.</li>")
    caption = (f"Heat map: for comments with each {_display(rows_head.name)} label (rows), the share that also have "
               f"each {_display(cols_head.name)} label (columns), with the count in brackets. Cells under "
               f"{ctx.min_cell} comments show <{ctx.min_cell}.")
    pair = f"{_head_title(rows_head)} × {_display(cols_head.name)}"
    numbers = _html_table([_head_title(rows_head)] + [_display(c) for c in counts.columns],
                          [[_display(r), *text[i]] for i, r in enumerate(counts.index)], f"{pair}: share of the row (count)")
    body = f'<ul class="answers">{"".join(answers)}</ul>' + page.figure(
        fig, caption, numbers, pair, min_width=260 + 95 * len(counts.columns))
    return _section("cooccurrence", f"What lies behind each {_display(rows_head.name).rstrip('s')}?", body,
                    "Read across a row: of the comments with that feeling, how many also name each cause.")


def _examples_section(ctx: _Context, per_label: int = 3) -> str:
    blocks = []
    for head in ctx.multi:
        items = []
        for lab in head.labels:
            candidates = ctx.df[ctx.inds[head.name][lab.name].fillna(False).to_numpy(dtype=bool)]
            proba = head.proba_column(lab.name)
            if proba in candidates.columns:
                candidates = candidates.sort_values(proba, ascending=False, kind="stable")
            # Prefer comments whose evidence names this label, so there is something to highlight.
            with_evidence, without = [], []
            for key in candidates.index[:40]:
                if ctx.text(key):
                    (with_evidence if ctx.phrases(key, lab.name) else without).append(key)
            # Shorter comments first (stable, so still most sure first): a card should be read at a glance.
            picked = sorted(with_evidence, key=lambda k: len(ctx.text(k)) > 500)[:per_label]
            picked = (picked + without)[:per_label]
            cards = "".join(_comment_card(ctx, key, label=lab.name) for key in picked) \
                or "<p>No comments with this label.</p>"
            desc = f'<p class="desc">{_esc(lab.description)}</p>' if lab.description else ""
            button = (f'<button type="button" class="link" data-filter-label="{_esc(f"{head.name}:{lab.name}")}">'
                      f"Show all “{_esc(_display(lab.name))}” comments in the table</button>") if len(candidates) else ""
            items.append(f'<div class="example"><h4>{_esc(_display(lab.name))}</h4>{desc}{cards}{button}</div>')
        blocks.append(f"<h3>{_esc(_head_title(head))}</h3><div class=\"examples\">{''.join(items)}</div>")
    return _section("examples", "Example comments", "".join(blocks),
                    "For each label, up to three comments the model was most sure of. <mark>Highlighted</mark> words "
                    "are the evidence the model used for that label.")


def _table_section(ctx: _Context, max_rows: int) -> tuple[str, dict]:
    df, heads = ctx.df, ctx.heads
    strata = pd.concat([ctx.inds[h.name].add_prefix(f"{h.name}:") for h in heads] + [df[["needs_review", "alert"]]],
                       axis=1)
    rows_df = _newest_first(ctx, df.iloc[sample_for_table(strata, max_rows)])
    labels = [{"key": f"{h.name}:{lab}", "head": i, "name": lab, "display": _display(lab)}
              for i, h in enumerate(heads) if h.is_multilabel for lab in h.label_names]

    # Plain lists rather than iterrows: this loop runs once per listed comment (up to max_rows).
    # Label positions index `labels`, which lists the multilabel heads' labels in the same order as `flags`.
    n = len(rows_df)
    flags = np.hstack([ctx.inds[h.name].loc[rows_df.index].fillna(False).to_numpy(dtype=bool) for h in ctx.multi]
                      or [np.zeros((n, 0), dtype=bool)])
    ids = rows_df[ctx.id_col].astype("string").fillna("").tolist() if ctx.id_col else [""] * n
    dates = rows_df[ctx.date_col].dt.strftime("%Y-%m-%d").fillna("").tolist() if ctx.date_col else [""] * n
    segments = rows_df[ctx.by].astype(str).to_numpy().tolist() if ctx.by else [[]] * n
    pols = rows_df[ctx.polarity.column].astype("string").fillna("").tolist() if ctx.polarity else [""] * n
    reasons = rows_df["alert_reason"].astype("string").fillna("").tolist()
    review, alert = rows_df["needs_review"].astype(int).tolist(), rows_df["alert"].astype(int).tolist()
    records = []
    for i, key in enumerate(rows_df.index):
        text = ctx.text(key)
        records.append([ids[i], dates[i], segments[i], pols[i], np.flatnonzero(flags[i]).tolist(), review[i], alert[i],
                        reasons[i], _parts(text, evidence_spans(text, ctx.phrases(key)))])
    multi_heads = [{"index": i, "display": _head_title(h), "column": h.column or h.name}
                   for i, h in enumerate(heads) if h.is_multilabel]
    sampled = len(df) > max_rows
    data = {"fields": ["id", "date", "segments", "polarity", "labels", "review", "alert", "reason", "parts"],
            "rows": records, "labels": labels, "heads": multi_heads, "segmentColumns": ctx.by,
            "total": len(df), "sampled": sampled, "hasId": ctx.id_col is not None,
            "hasDate": bool(ctx.date_col), "hasPolarity": ctx.polarity is not None}
    return _table_html(ctx, labels, multi_heads, len(records), sampled), data


def _table_html(ctx: _Context, labels: list[dict], multi_heads: list[dict], listed: int, sampled: bool) -> str:
    def options(values, any_text):
        return f'<option value="">{_esc(any_text)}</option>' + "".join(
            f'<option value="{_esc(v)}">{_esc(t)}</option>' for v, t in values)

    def field(fid, text, control, cls="field"):
        return f'<div class="{cls}"><label for="{fid}">{_esc(text)}</label>{control}</div>'

    groups = "".join(
        f'<optgroup label="{_esc(h["display"])}">'
        + "".join(f'<option value="{j}">{_esc(lab["display"])}</option>' for j, lab in enumerate(labels)
                  if lab["head"] == h["index"])
        + "</optgroup>" for h in multi_heads)
    controls = [field("f-search", "Search comment text", '<input type="search" id="f-search" '
                      'placeholder="e.g. parking" autocomplete="off">', "field wide"),
                field("f-label", "Label", f'<select id="f-label"><option value="">Any label</option>{groups}</select>')]
    if ctx.polarity is not None:
        values = [(x, _display(x)) for x in ctx.polarity.label_names]
        select = f'<select id="f-polarity">{options(values, "Any polarity")}</select>'
        controls.append(field("f-polarity", "Polarity", select))
    for j, col in enumerate(ctx.by):
        values = sorted(ctx.df[col].astype(str).unique(), key=lambda v: (v == NOT_RECORDED, v.lower()))
        choices = options([(v, v) for v in values], "Any " + _display(col))
        select = f'<select id="f-seg-{j}" data-segment="{j}">{choices}</select>'
        controls.append(field(f"f-seg-{j}", _display(col).capitalize(), select))
    if ctx.date_col and ctx.df[ctx.date_col].notna().any():
        lo, hi = _day(ctx.df[ctx.date_col].min()), _day(ctx.df[ctx.date_col].max())
        controls.append(field("f-from", "From date", f'<input type="date" id="f-from" min="{lo}" max="{hi}">'))
        controls.append(field("f-to", "To date", f'<input type="date" id="f-to" min="{lo}" max="{hi}">'))
    controls.append('<div class="checks"><div><input type="checkbox" id="f-review"><label for="f-review">Needs review '
                    'only</label></div><div><input type="checkbox" id="f-alert"><label for="f-alert">Alerts only</label>'
                    '</div></div><div class="buttons"><button type="button" id="f-reset">Clear filters</button>'
                    '<button type="button" id="f-export">Download matching comments (CSV)</button></div>')
    columns = (["Id"] if ctx.id_col else []) + (["Date"] if ctx.date_col else []) \
        + [_display(c).capitalize() for c in ctx.by] + (["Polarity"] if ctx.polarity is not None else []) \
        + [h["display"] for h in multi_heads] + ["Comment"]
    note = (f'<p class="notice" id="sample-note">This table holds <strong>{listed:,}</strong> of the {len(ctx.df):,} '
            "comments: a sample that keeps examples of every label, plus a random share of the rest. Counts and "
            "charts above use all comments; the download contains the matching comments in this table only.</p>"
            ) if sampled else ""
    body = (f'{note}<form class="filters" role="search" aria-label="Filter comments" onsubmit="return false">'
            f'{"".join(controls)}</form>'
            '<p id="table-count" class="count" role="status" aria-live="polite"></p>'
            '<div class="table-wrap"><table id="comment-table" class="comments">'
            '<caption class="sr-only">Comments matching the filters, newest first</caption>'
            f'<thead><tr>{"".join(f"<th scope=col>{_esc(c)}</th>" for c in columns)}</tr></thead><tbody></tbody>'
            '</table></div><button type="button" id="show-more" hidden>Show more</button>'
            "<noscript><p>The comment table needs JavaScript.</p></noscript>")
    return _section("comments", "Comments", body,
                    "Filter, search and download. Highlighted words are the model's evidence. Comments are newest first.")


def _review_section(ctx: _Context, limit: int = 100) -> str:
    queue = _newest_first(ctx, ctx.df[ctx.df["needs_review"]])
    if queue.empty:
        return _section("review", "Needs review", "<p>No comments are waiting for review.</p>")
    flags = {h.name: ctx.inds[h.name].loc[queue.index[:limit]].fillna(False) for h in ctx.multi}
    rows = []
    for key in queue.index[:limit]:
        tags = ", ".join(_display(lab) for h in ctx.multi for lab in h.label_names if flags[h.name].at[key, lab])
        text = ctx.text(key)
        cells = [f"<td>{_esc(queue.at[key, ctx.id_col])}</td>" if ctx.id_col else "",
                 f'<td class="nowrap">{_day(queue.at[key, ctx.date_col])}</td>' if ctx.date_col else "",
                 f"<td>{_marked_html(text, evidence_spans(text, ctx.phrases(key)))}</td>",
                 f"<td>{_esc(tags) or '–'}</td>"]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    head = ("<th scope=col>Id</th>" if ctx.id_col else "") + ("<th scope=col>Date</th>" if ctx.date_col else "") \
        + "<th scope=col>Comment</th><th scope=col>Model's labels</th>"
    more = f" Showing the newest {limit}." if len(queue) > limit else ""
    body = (f'<p>{len(queue):,} comments where the model was unsure.{more} '
            '<button type="button" class="link" data-show-review>Show them in the comment table</button></p>'
            '<div class="table-wrap"><table class="queue"><caption class="sr-only">Comments waiting for review, '
            f'newest first</caption><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')
    return _section("review", "Needs review", body,
                    "A person should check these labels; corrected labels make good training data for the next model.")


def _footer(meta: dict, min_cell: int, redact_text: bool) -> str:
    models = meta.get("models") or [{"model_name": meta.get("model_name", ""),
                                     "model_version": meta.get("model_version", ""), "rows": None}]
    model_items = "".join(
        f"<li>{_esc(m['model_name'] or 'unknown model')}, version {_esc(m['model_version'] or 'unknown')}"
        + (f" ({m['rows']:,} comments)" if m.get("rows") is not None else "") + "</li>" for m in models)
    limits = "".join(f"<li>{_esc(x)}</li>" for x in meta.get("limitations") or []) \
        or "<li>None recorded in the scored file.</li>"
    inferred = ("<p>The scored file(s) had no metadata; the labels were read from the column names.</p>"
                if meta.get("inferred") else "")
    dupes = (f"<p>{meta['duplicates_dropped']:,} comments appeared in more than one file and are counted once "
             "(the later file wins).</p>") if meta.get("duplicates_dropped") else ""
    if redact_text:
        privacy = ("Personal details in comment text (names after a title, phone numbers, e-mail addresses, NHS "
                   "numbers, addresses…) are replaced by tags such as [NAME]. Names without a title may remain.")
    elif meta.get("redacted"):
        privacy = "Comment text is shown as it was stored, which was redacted when the comments were scored."
    else:
        privacy = "Comment text is shown as written, without redaction."
    files = "".join(f"<li>{_esc(Path(f).name)}</li>" for f in meta.get("files", []))
    return (f'<section id="about" aria-labelledby="about-h"><h2 id="about-h">About this report</h2>'
            f"<h3>Model</h3><ul>{model_items}</ul><h3>Known limitations</h3><ul>{limits}</ul>"
            f"<h3>Privacy</h3><p>Numbers from 1 to {min_cell - 1} are shown as “&lt;{min_cell}” in counts and charts, "
            f"so small groups cannot be picked out. {privacy} The comment table lists comments one by one: share this "
            "file only with people allowed to read patient comments.</p>"
            "<h3>Reading the numbers</h3><p>Shares are out of the comments the model scored. The 95% interval "
            "(Wilson) shows how much a share could move by chance; with few comments it is wide.</p>"
            f"{inferred}{dupes}<h3>Files</h3><ul>{files}</ul>"
            f"<p class=\"meta\">Scored schema version {_esc(meta.get('schema_version', ''))} · taxonomy "
            f"{_esc(meta['taxonomy'].get('name', ''))} · generated {dt.date.today():%-d %b %Y}</p></section>")
