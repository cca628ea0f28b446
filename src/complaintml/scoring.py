"""Scoring: from comment texts to the scored columns, and the batch engine around it.

``predict_columns`` is the single definition of a model's output; the command line, the
MLflow pyfunc and Spark's ``spark_udf`` all call it, so they give the same rows.

``score_file`` streams an input (file, folder or glob) in chunks, writes each scored chunk
to a part file in ``<output>.parts/``, and assembles the output with a temporary file and
a rename, so an interrupted job leaves no partial output and ``resume=True`` continues
from the last completed chunk.

Output schema version 1 (see the README): input columns (text redacted by default), one
column set per head in the training data's encoding, ``proba__<head>__<label>``,
``evidence``, ``needs_review``, ``alert``, ``alert_reason``, ``status``, ``model_name``,
``model_version``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .alerts import compile_rules, find_alerts
from .errors import InputError, RowCountError
from .io import atomic_path, file_format, iter_chunks, list_inputs, neutralize_formulas
from .redaction import redact_series

__all__ = ["SCHEMA_VERSION", "predict_columns", "output_schema", "score_file", "ScoreSummary", "parse_thresholds"]

SCHEMA_VERSION = "1"
log = logging.getLogger(__name__)
STATUSES = ("ok", "truncated", "empty_text", "not_text")
SCORED = STATUSES[:2]  # rows with these statuses get model output; the others get nulls


def _status(value, max_chars: int) -> tuple[str, str]:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "empty_text", ""
    if not isinstance(value, str):
        return "not_text", ""
    text = value.replace("\x00", "")
    if not text.strip():
        return "empty_text", ""
    if not any(ch.isalpha() for ch in text):
        return "not_text", ""
    if len(text) > max_chars:
        return "truncated", text[:max_chars]
    return "ok", text


def predict_columns(bundle, texts, thresholds: dict | None = None, context: pd.DataFrame | None = None) -> pd.DataFrame:
    """Model output for each text: head columns, probabilities, evidence, flags, status.

    ``context``: a frame, row-aligned with ``texts``, holding the taxonomy's context columns (if any).

    Rows whose status is not ``ok``/``truncated`` get empty heads and null probabilities.
    ``truncated`` rows are scored on their first ``max_chars`` characters.
    """
    est, tax = bundle.estimator, bundle.taxonomy
    max_chars = int(bundle.scoring.get("max_chars", 10000))
    margin = float(bundle.scoring.get("review_margin", 0.1))
    checked = [_status(v, max_chars) for v in (texts.tolist() if hasattr(texts, "tolist") else list(texts))]
    status = np.array([s for s, _ in checked], dtype=object)
    clean = [t for _, t in checked]
    n = len(clean)
    valid = np.isin(status, SCORED)
    idx = np.flatnonzero(valid)
    sub = [clean[i] for i in idx]

    if len(idx):
        X = sub
        if tax.context_columns and context is not None:
            X = context.iloc[idx].reset_index(drop=True).assign(**{est.text_column: sub})
        Xf, tokens = est.features_and_tokens(X)
        proba_sub = est.proba_from_features(Xf)
        dec_sub = est.decide(proba_sub, thresholds)
        evidence_sub = est.evidence(sub, Xf, dec_sub, tokens=tokens)
    cols: dict[str, object] = {}
    review = np.zeros(n, dtype=bool)
    proba_full: dict[str, np.ndarray] = {}
    for head in tax.heads:
        L = len(head.labels)
        full = np.full((n, L), np.nan)
        if head.is_multilabel:
            dec = np.zeros((n, L), dtype=np.int8)
        else:
            dec = np.array([head.labels[0].name] * n, dtype=object)
        if len(idx):
            full[idx] = proba_sub[head.name]
            dec[idx] = dec_sub[head.name]
        proba_full[head.name] = full
        for col, values in head.decode(dec, valid).items():
            cols[col] = values.to_numpy()
        for j, lab in enumerate(head.label_names):
            cols[head.proba_column(lab)] = full[:, j]
        if len(idx):
            if head.is_multilabel:
                th = np.array([(thresholds or {}).get(head.name, {}).get(lab, est.thresholds_[head.name][lab])
                               for lab in head.label_names])
                near = np.abs(np.nan_to_num(proba_sub[head.name], nan=-9) - th[None, :]) < margin
                review[idx] |= near.any(1)
            else:
                review[idx] |= proba_sub[head.name].max(1) < 0.5
    evidence = np.array(["{}"] * n, dtype=object)
    encode = json.JSONEncoder(ensure_ascii=False).encode  # what json.dumps(..., ensure_ascii=False) builds per call
    for k, i in enumerate(idx):
        evidence[i] = encode(evidence_sub[k])
    label_index = {(h.name, lab): j for h in tax.heads for j, lab in enumerate(h.label_names)}
    reasons = find_alerts(clean, bundle.compiled_alerts, proba_full, label_index)
    out = pd.DataFrame(cols)
    out["evidence"] = evidence
    out["needs_review"] = review
    out["alert"] = np.array([bool(r) for r in reasons])
    out["alert_reason"] = reasons
    out["status"] = status
    out["model_name"] = bundle.name
    out["model_version"] = str(bundle.version)
    return out


def output_schema(tax) -> list[tuple[str, str]]:
    """(column, type) of the model columns, in order; types are Spark SQL names."""
    cols = []
    for head in tax.heads:
        kind = "int" if (head.is_multilabel and head.encoding == "onehot") else "string"
        cols += [(c, kind) for c in head.output_columns]
        cols += [(head.proba_column(lab), "double") for lab in head.label_names]
    cols += [("evidence", "string"), ("needs_review", "boolean"), ("alert", "boolean"), ("alert_reason", "string"),
             ("status", "string"), ("model_name", "string"), ("model_version", "string")]
    return cols


def parse_thresholds(items: list[str], tax) -> dict:
    """``["wait_time=0.4", "feelings.anxious=0.3"]`` -> {head: {label: value}}."""
    out: dict[str, dict[str, float]] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"--threshold '{item}': expected LABEL=VALUE")
        head_name, _, label = key.rpartition(".")
        matches = [h for h in tax.heads if h.is_multilabel and label in h.label_names and (not head_name or h.name == head_name)]
        if len(matches) != 1:
            raise InputError(f"--threshold '{item}': no single multilabel head has label '{label}'")
        try:
            v = float(value)
        except ValueError:
            raise InputError(f"--threshold '{item}': '{value}' is not a number") from None
        if not 0 < v < 1:
            raise InputError(f"--threshold '{item}': value must be between 0 and 1")
        out.setdefault(matches[0].name, {})[label] = v
    return out


# -- the batch engine ------------------------------------------------------------------
@dataclass
class ScoreSummary:
    rows_in: int = 0
    rows_out: int = 0
    chunks: int = 0
    chunks_resumed: int = 0
    status_counts: Counter = field(default_factory=Counter)
    alerts: int = 0
    needs_review: int = 0
    seconds: float = 0.0
    output: str = ""

    def as_dict(self) -> dict:
        return {**{k: v for k, v in self.__dict__.items() if k != "status_counts"},
                "status_counts": dict(self.status_counts)}


def _fingerprint(inputs: list[Path], options: dict) -> str:
    h = hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode())
    for p in inputs:
        st = p.stat()
        h.update(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


class _Lock:
    """One writer per output path: an exclusive lock file holding the owner's pid."""

    def __init__(self, output: Path):
        self.output = output
        self.path = output.with_name(output.name + ".lock")

    def __enter__(self):
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            pid = self.path.read_text().strip() or "0"
            if pid.isdigit() and _alive(int(pid)):
                raise InputError(f"{self.path.with_suffix('')}: another job (pid {pid}) is writing this output; refused") from None
            self.path.unlink(missing_ok=True)  # the previous owner died (e.g. kill -9): take over
            if pid.isdigit() and int(pid):  # and drop the output it was half-way through writing
                atomic_path(self.output, int(pid)).unlink(missing_ok=True)
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        return self

    def __exit__(self, *exc):
        self.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_WORKER_BUNDLE = None


def _worker_init(model_ref: str):
    global _WORKER_BUNDLE
    from .bundle import load_bundle

    _WORKER_BUNDLE = load_bundle(model_ref)


def _score_chunk_worker(args):
    chunk, opts = args
    return _score_chunk(_WORKER_BUNDLE, chunk, opts)


def _score_chunk(bundle, chunk: pd.DataFrame, opts: dict) -> pd.DataFrame:
    """One input chunk -> one output chunk (same rows, same order)."""
    text_col, id_col = opts["text_col"], opts["id_col"]
    model_cols = predict_columns(bundle, chunk[text_col], opts["thresholds"], context=chunk)
    passthrough = chunk if opts["keep_cols"] is None else chunk[[c for c in chunk.columns if c in opts["keep_cols"]]]
    passthrough = passthrough.reset_index(drop=True).copy()
    # Given labels keep their values under a new name, so a scored file compares with a labeled one.
    clash = [c for c in passthrough.columns if c in model_cols.columns]
    passthrough = passthrough.rename(columns={c: f"{c}__given" for c in clash})
    if text_col in passthrough.columns and opts["redact"]:
        # Back to "string": an all-null chunk would otherwise become an untyped column that later chunks cannot join.
        passthrough[text_col] = redact_series(passthrough[text_col].astype("object")).astype("string")
    front = [id_col] if id_col in passthrough.columns else []
    passthrough = passthrough[front + [c for c in passthrough.columns if c not in front]]
    return pd.concat([passthrough, model_cols.reset_index(drop=True)], axis=1)


def _prepare_chunk(chunk: pd.DataFrame, start: int, opts: dict, source: str) -> pd.DataFrame:
    if opts["text_col"] not in chunk.columns:
        raise InputError(f"{source}: no text column '{opts['text_col']}' (columns: {', '.join(map(str, chunk.columns[:20]))}); "
                         f"use --text-col")
    generated = opts["id_col"] not in chunk.columns
    if generated:
        chunk = chunk.copy()
        chunk.insert(0, opts["id_col"], np.arange(start, start + len(chunk)))
    # Every passthrough column, a given id included, is kept as text, so a column whose type changes
    # between chunks (numbers in one, text in the next) cannot break the output schema.
    return chunk.astype({c: "string" for c in chunk.columns if not (generated and c == opts["id_col"])})


def _warn_missing_context(tax, columns, source: str) -> None:
    """Scoring without a context column the model learned from still works, less well: say so."""
    missing = [c for c in tax.context_columns if c not in columns]
    if missing:
        log.warning("%s: context column(s) %s are missing; scored as if empty (the model learned from them)",
                    source, ", ".join(repr(c) for c in missing))


def _write_part(df: pd.DataFrame, path: Path) -> None:
    tmp = atomic_path(path)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)
    os.replace(tmp, path)


def _assemble(parts: list[Path], output: Path, fmt: str, metadata: dict, rows_in: int) -> int:
    """Concatenate part files into the output, streaming, via a temporary file that becomes the
    output only when it holds ``rows_in`` rows."""
    tmp = atomic_path(output)
    rows = 0
    try:
        if fmt == "parquet":
            writer = None
            if parts:
                # A chunk whose rows were all unscorable has untyped (null) label columns: widen them to the others' types.
                schema = pa.unify_schemas([pq.read_schema(p) for p in parts], promote_options="permissive")
                schema = schema.with_metadata({b"complaintml": json.dumps(metadata).encode()})
                writer = pq.ParquetWriter(tmp, schema)
            for part in parts:
                table = pq.read_table(part)
                writer.write_table(table.cast(schema))
                rows += table.num_rows
            if writer:
                writer.close()
        else:
            with open(tmp, "w", encoding="utf-8-sig" if fmt == "csv" else "utf-8", newline="") as fh:
                for k, part in enumerate(parts):
                    df = pq.read_table(part).to_pandas()
                    rows += len(df)
                    if fmt == "csv":
                        for col in df.columns:
                            if pd.api.types.is_string_dtype(df[col]) or df[col].dtype == object:
                                df[col] = neutralize_formulas(df[col])
                        # CRLF rows (RFC 4180): Python's csv module quotes a value holding a bare CR only when
                        # CR is part of the line terminator, and an unquoted CR splits the row in every reader.
                        df.to_csv(fh, index=False, header=(k == 0), lineterminator="\r\n")
                    else:
                        df.to_json(fh, orient="records", lines=True, force_ascii=False)
                        if len(df):
                            fh.write("\n") if not fh.tell() else None
        if rows != rows_in:
            raise RowCountError(f"rows in {rows_in} != rows out {rows}; output not written")
        if fmt != "parquet":
            (output.with_name(output.name + ".meta.json")).write_text(json.dumps(metadata, indent=2), encoding="utf-8")
        os.replace(tmp, output)
    finally:
        if tmp.exists():
            tmp.unlink()
    return rows


def _destination(output, fmt: str | None, inputs) -> tuple[Path, str, list[Path]]:
    """Check the output folder and format and list the inputs, before any work (both engines)."""
    output = Path(output)
    if not output.parent.exists():
        raise InputError(f"{output}: output folder {output.parent} does not exist")
    return output, file_format(output, fmt), list_inputs(inputs)


def _options(tax, text_col, id_col, keep_cols, thresholds, redact) -> dict:
    """The per-chunk options shared by both engines."""
    text_col, id_col = text_col or tax.text_column, id_col or tax.id_column
    return {"text_col": text_col, "id_col": id_col, "keep_cols": set(keep_cols) | {text_col, id_col} if keep_cols else None,
            "thresholds": thresholds or {}, "redact": redact}


def _metadata(bundle, opts: dict) -> dict:
    return {"schema_version": SCHEMA_VERSION, "model_name": bundle.name, "model_version": str(bundle.version),
            "taxonomy": bundle.taxonomy.to_dict(), "text_column": opts["text_col"], "id_column": opts["id_col"],
            "limitations": bundle.limitations, "redacted": opts["redact"]}


def _finish(parts: list[Path], output: Path, fmt: str, metadata: dict, summary: ScoreSummary) -> None:
    """Count statuses and flags over the part files, assemble the output, check that no row was lost."""
    for part in parts:
        counts = pq.read_table(part, columns=["status", "alert", "needs_review"]).to_pandas()
        summary.status_counts.update(counts["status"].tolist())
        summary.alerts += int(counts["alert"].sum())
        summary.needs_review += int(counts["needs_review"].sum())
    summary.rows_out = _assemble(parts, output, fmt, metadata, summary.rows_in)


def score_file(bundle, model_ref: str, inputs: str, output: str | Path, *, text_col: str | None = None,
               id_col: str | None = None, keep_cols: list[str] | None = None, chunk_size: int = 10000,
               jobs: int = 1, resume: bool = False, fmt: str | None = None, thresholds: dict | None = None,
               redact: bool = True, progress: bool | None = None) -> ScoreSummary:
    """Score every row of ``inputs`` into ``output``; see the module docstring."""
    start_time = time.time()
    output, fmt, files = _destination(output, fmt, inputs)
    tax = bundle.taxonomy
    opts = _options(tax, text_col, id_col, keep_cols, thresholds, redact)
    fingerprint = _fingerprint(files, {**opts, "keep_cols": sorted(opts["keep_cols"] or []), "chunk_size": chunk_size,
                                       "model": f"{bundle.name}/{bundle.version}/{bundle.digest}", "fmt": fmt})
    parts_dir = output.with_name(output.name + ".parts")
    summary = ScoreSummary(output=str(output))
    with _Lock(output):
        state_file = parts_dir / "state.json"
        if parts_dir.exists():
            state = json.loads(state_file.read_text()) if state_file.exists() else {}
            if not resume or state.get("fingerprint") != fingerprint:
                if resume:
                    log.warning("previous run used other inputs or options; starting again")
                shutil.rmtree(parts_dir)
        parts_dir.mkdir(exist_ok=True)
        state_file.write_text(json.dumps({"fingerprint": fingerprint}))
        show = sys.stderr.isatty() if progress is None else progress
        parts: list[Path] = []
        pool = ProcessPoolExecutor(jobs, initializer=_worker_init, initargs=(model_ref,)) if jobs > 1 else None
        pending: list[tuple[Path, object]] = []
        bar = _Progress(show, _known_rows(files) if show else None)
        try:
            for k, chunk in enumerate(iter_chunks(inputs, chunk_size)):
                chunk = _prepare_chunk(chunk, summary.rows_in, opts, str(inputs))
                if k == 0:
                    _warn_missing_context(tax, chunk, str(inputs))
                summary.rows_in += len(chunk)
                part = parts_dir / f"chunk-{k:06d}.parquet"
                parts.append(part)
                summary.chunks += 1
                if part.exists():
                    summary.chunks_resumed += 1
                    continue
                if pool is None:
                    _write_part(_score_chunk(bundle, chunk, opts), part)
                else:
                    pending.append((part, pool.submit(_score_chunk_worker, (chunk, opts))))
                    # Bounded look-ahead keeps memory flat: at most 2 chunks per worker in flight.
                    while len(pending) >= 2 * jobs:
                        p, fut = pending.pop(0)
                        _write_part(fut.result(), p)
                bar.update(summary.rows_in)
            for p, fut in pending:
                _write_part(fut.result(), p)
        finally:
            bar.close()
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        if summary.rows_in == 0:
            raise InputError(f"{inputs}: no data rows (header only?)")
        _finish(parts, output, fmt, _metadata(bundle, opts), summary)
        shutil.rmtree(parts_dir)
    summary.seconds = round(time.time() - start_time, 2)
    return summary


def _known_rows(files: list[Path]) -> int | None:
    """The total row count when it is cheap to know (Parquet footers), else None."""
    if any(file_format(f) != "parquet" for f in files):
        return None
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


class _Progress:
    """Rows/s progress: a live bar on a terminal (with an ETA when the total is known), else a log line
    every 100k rows, so job logs stay readable."""

    def __init__(self, show: bool, total: int | None = None):
        self.started = time.time()
        self.logged = 0
        self.bar = None
        if show:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            count = "{task.completed:,} of {task.total:,} rows" if total else "{task.completed:,} rows"
            self.bar = Progress(TextColumn("scoring"), BarColumn(), TextColumn(count), TextColumn("{task.fields[rate]}"),
                                TimeRemainingColumn() if total else TimeElapsedColumn(), console=Console(stderr=True))
            self.task = self.bar.add_task("scoring", total=total, rate="")
            self.bar.start()

    def update(self, rows: int) -> None:
        rate = rows / max(time.time() - self.started, 1e-9)
        if self.bar is not None:
            self.bar.update(self.task, completed=rows, rate=f"{rate:,.0f} rows/s")
        elif rows - self.logged >= 100_000:
            self.logged = rows
            log.info("scored %d rows (%.0f rows/s)", rows, rate)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


