"""Reading and writing comment tables: CSV, Parquet, JSONL, or a folder/glob of them.

Reading is chunked with pyarrow so memory stays flat whatever the input size. CSV is
read with every column as text (types guessed from the first block would break on a
later block), its delimiter sniffed, and its encoding detected: UTF-8 (with or without
BOM) and UTF-16 with BOM are read as such; other bytes fall back to Windows-1252 with a
warning, because such files are nearly always Excel exports.
"""

from __future__ import annotations

import csv
import glob
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .errors import InputError

__all__ = ["read_table", "iter_chunks", "list_inputs", "detect_encoding", "sniff_delimiter", "csv_dialect", "file_format",
           "write_table", "atomic_path", "CSV_FORMULA_PREFIXES", "neutralize_formulas"]

log = logging.getLogger(__name__)
FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
           ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
CSV_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_SAMPLE = 1 << 16


def file_format(path: str | Path, given: str | None = None) -> str:
    if given:
        if given not in ("csv", "parquet", "jsonl"):
            raise InputError(f"unknown format '{given}': use csv, parquet or jsonl")
        return given
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise InputError(f"{path}: cannot tell the format from the extension; use .csv, .parquet or .jsonl")
    return fmt


def list_inputs(spec: str | Path) -> list[Path]:
    """A file, a folder (its supported files, sorted) or a glob pattern."""
    p = Path(spec)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in FORMATS)
    elif any(ch in str(spec) for ch in "*?["):
        files = sorted(Path(f) for f in glob.glob(str(spec)) if Path(f).suffix.lower() in FORMATS)
    else:
        if not p.exists():
            raise InputError(f"{p}: file not found")
        files = [p]
    if not files:
        raise InputError(f"{spec}: no .csv, .parquet or .jsonl files found")
    return files


def detect_encoding(path: Path) -> str:
    head = path.open("rb").read(_SAMPLE)
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    # UTF-16 without a BOM: mostly-ASCII text leaves every other byte NUL.
    odd, even = head[1::2], head[0::2]
    if len(head) >= 8 and odd.count(0) > 0.6 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if len(head) >= 8 and even.count(0) > 0.6 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a multi-byte character cut by the sample's end
            log.warning("%s is not UTF-8; reading it as Windows-1252 (re-save as UTF-8 to avoid this)", path)
            return "cp1252"
    return "utf-8"


def _sample_text(path: Path, encoding: str) -> str:
    with path.open("r", encoding=encoding, errors="replace", newline="") as fh:
        return fh.read(_SAMPLE)


def sniff_delimiter(sample: str) -> str:
    first = sample.splitlines()[0] if sample else ""
    try:
        return csv.Sniffer().sniff(sample[:20000], delimiters=",;\t|").delimiter
    except csv.Error:
        # A one-column file has no delimiter to find; pick the most frequent candidate or comma.
        counts = {d: first.count(d) for d in ",;\t|"}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def _csv_header(path: Path, encoding: str, delimiter: str) -> list[str]:
    with path.open("r", encoding=encoding, errors="replace", newline="") as fh:
        header = next(csv.reader(fh, delimiter=delimiter), None)
    if not header:
        raise InputError(f"{path}: empty file (no header row)")
    names = [h.replace("\x00", "").strip() for h in header]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"{path}: duplicate column name(s) {dup}")
    return names


def csv_dialect(path: Path) -> tuple[str, str, list[str]]:
    """(encoding, delimiter, column names) of a CSV file, as every reader of it must see them."""
    encoding = detect_encoding(path)
    delimiter = sniff_delimiter(_sample_text(path, encoding))
    return encoding, delimiter, _csv_header(path, encoding, delimiter)


def _iter_csv(path: Path, chunk_size: int) -> Iterator[pd.DataFrame]:
    encoding, delimiter, names = csv_dialect(path)
    arrow_encoding = {"utf-8-sig": "utf8", "utf-8": "utf8"}.get(encoding, encoding)
    # Single-threaded parsing numbers the rows, so an error can name the row (and it is as fast here).
    read = pacsv.ReadOptions(encoding=arrow_encoding, column_names=names, skip_rows=1, block_size=1 << 22,
                             use_threads=False)
    bad: list = []
    parse = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                               invalid_row_handler=lambda row: bad.append(row) or "error")
    convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False,
                                   quoted_strings_can_be_null=False)
    rows, last = 0, None
    try:
        reader = pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert)
        for frame in _rebatch((b for b in reader), chunk_size):
            rows += len(frame)
            last = frame.iloc[-1, -1]
            yield frame
    except pa.ArrowInvalid as exc:
        if bad:  # the row's text is left out of the message: it may be a patient's comment
            where = f"row {bad[0].number - 1}" if bad[0].number else "a row"
            raise InputError(f"{path}: {where} has {bad[0].actual_columns} fields, expected {bad[0].expected_columns} "
                             f"(check the delimiter '{delimiter}' and the quotes in that row)") from None
        raise InputError(f"{path}: cannot parse as CSV ({_short(exc)})") from None
    except StopIteration:
        return
    # A quote that is never closed swallows every later line into the last row's last value.
    if rows and isinstance(last, str) and ("\n" in last or "\r" in last) and not _ends_with_quote(path):
        raise InputError(f"{path}: row {rows} opens a quote that is never closed, so every later line would be read "
                         f"into it; fix the quoting")


def _ends_with_quote(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - 64))
        tail = fh.read().rstrip(b" \t\r\n\x00")
    return tail.endswith(b'"')


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200]


def _rebatch(batches, chunk_size: int) -> Iterator[pd.DataFrame]:
    """Regroup arrow record batches into DataFrames of exactly ``chunk_size`` rows (last may be short)."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        while batch.num_rows:
            take = min(chunk_size - count, batch.num_rows)
            pending.append(batch.slice(0, take))
            count += take
            batch = batch.slice(take)
            if count == chunk_size:
                yield pa.Table.from_batches(pending).to_pandas(types_mapper=_types)
                pending, count = [], 0
    if count:
        yield pa.Table.from_batches(pending).to_pandas(types_mapper=_types)


def _types(t: pa.DataType):
    # Keep text as pandas' nullable string dtype, so a missing value is NA, not "nan".
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pd.StringDtype()
    return None


def _iter_parquet(path: Path, chunk_size: int) -> Iterator[pd.DataFrame]:
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({_short(exc)})") from None
    yield from _rebatch(pf.iter_batches(batch_size=chunk_size), chunk_size)


def _iter_jsonl(path: Path, chunk_size: int) -> Iterator[pd.DataFrame]:
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file")
    try:
        for frame in pd.read_json(path, lines=True, chunksize=chunk_size, dtype=False, encoding="utf-8"):
            yield frame
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON Lines ({_short(exc)})") from None


def iter_chunks(spec: str | Path, chunk_size: int = 10000) -> Iterator[pd.DataFrame]:
    """Yield DataFrames of ``chunk_size`` rows from a file, folder or glob, in order.

    Every chunk has the first chunk's columns in the first chunk's order (files and JSON Lines
    chunks are matched by column name, never by position). A JSON Lines chunk without a key
    gets nulls; a CSV/Parquet file without a column, or a column the first chunk lacks, is an error.
    """
    if chunk_size < 1:
        raise InputError("chunk size must be at least 1")
    columns = None
    for path in list_inputs(spec):
        if path.stat().st_size == 0:
            raise InputError(f"{path}: empty file")
        fmt = file_format(path)
        reader = {"csv": _iter_csv, "parquet": _iter_parquet, "jsonl": _iter_jsonl}[fmt]
        start = 0
        for chunk in reader(path, chunk_size):
            if columns is None:
                columns = list(chunk.columns)
            elif list(chunk.columns) != columns:
                chunk = _align(chunk, columns, path, fmt, start)
            start += len(chunk)
            yield chunk


def _align(chunk: pd.DataFrame, columns: list, path: Path, fmt: str, start: int) -> pd.DataFrame:
    missing = [c for c in columns if c not in chunk.columns]
    if missing and fmt != "jsonl":
        raise InputError(f"{path}: column(s) {', '.join(map(repr, missing))} missing; every file needs the columns "
                         f"of the first: {', '.join(map(str, columns[:15]))}")
    extra = [c for c in chunk.columns if c not in columns]
    if extra:
        row = start + int(chunk[extra[0]].notna().to_numpy().argmax()) + 1
        raise InputError(f"{path}: column '{extra[0]}' first appears in row {row}, but the columns were fixed by the "
                         f"first chunk ({', '.join(map(str, columns[:15]))}); put it in the first row or file "
                         f"(null is fine) or use a larger --chunk-size")
    return chunk.reindex(columns=columns)


def read_table(spec: str | Path) -> pd.DataFrame:
    """Read a whole table (for training data, which fits in memory)."""
    frames = list(iter_chunks(spec, chunk_size=100_000))
    if not frames:
        paths = list_inputs(spec)
        if len(paths) == 1 and file_format(paths[0]) == "csv":
            enc = detect_encoding(paths[0])
            return pd.DataFrame(columns=_csv_header(paths[0], enc, sniff_delimiter(_sample_text(paths[0], enc))))
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def neutralize_formulas(values: pd.Series) -> pd.Series:
    """Prefix text cells that a spreadsheet would run as a formula with a quote.

    Numbers such as "-3" or "+44 20 7946 0000"-like phone numbers are left alone only when
    they parse as a number; everything else starting with = + - @ tab or CR gets a leading '.
    """
    def fix(v):
        if isinstance(v, str) and v.startswith(CSV_FORMULA_PREFIXES):
            try:
                float(v)
                return v
            except ValueError:
                return "'" + v
        return v
    return values.map(fix)


def atomic_path(path: Path, pid: int | None = None) -> Path:
    """The temporary sibling path that process ``pid`` (default: this one) writes before renaming onto ``path``."""
    return path.with_name(f".{path.name}.{pid or os.getpid()}.tmp")


def write_table(df: pd.DataFrame, path: str | Path, fmt: str | None = None, metadata: dict | None = None) -> Path:
    """Write ``df`` atomically (temporary file, then rename). CSV gets a BOM and formula guards."""
    path = Path(path)
    if not path.parent.exists():
        raise InputError(f"{path}: output folder {path.parent} does not exist")
    fmt = file_format(path, fmt)
    tmp = atomic_path(path)
    try:
        if fmt == "parquet":
            table = pa.Table.from_pandas(df, preserve_index=False)
            if metadata is not None:
                table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                                       b"complaintml": json.dumps(metadata).encode()})
            pq.write_table(table, tmp)
        elif fmt == "csv":
            out = df.copy()
            for col in out.columns:
                if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
                    out[col] = neutralize_formulas(out[col])
            # CRLF rows: only then does the csv module quote a value holding a bare CR (see scoring._assemble).
            out.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\r\n")
        else:
            df.to_json(tmp, orient="records", lines=True, force_ascii=False)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    if metadata is not None and fmt != "parquet":
        sidecar = path.with_name(path.name + ".meta.json")
        sidecar.write_text(json.dumps(metadata, indent=2), encoding="utf-8")
    return path


