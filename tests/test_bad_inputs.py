"""Bad input to `complaintml train` and `complaintml score`: every case has one expected outcome.

The outcome is either a one-line error that names the file, column or row, with a documented
exit code (2 bad input, 3 model problem), or a normal run in which every input row comes out
(flagged by ``status`` when its text cannot be scored). Never a traceback, never a lost row.

``CASES`` drives the tests and the table in docs/RELIABILITY.md; after changing a case,
rewrite the table with::

    python tests/test_bad_inputs.py

`train` cases stop short of the model fit: the input is read and validated for real, then the
fit is replaced by the session's already trained result (fitting is tested elsewhere), and the
rest of the command (model card, export) runs as usual.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from conftest import ROOT, SAMPLE

DOC = ROOT / "docs" / "RELIABILITY.md"
STATUSES = {"ok", "truncated", "empty_text", "not_text"}


def sample(n: int = 12) -> pd.DataFrame:
    """The first ``n`` shipped sample rows: valid labels, texts with commas, quotes and newlines."""
    return pd.read_csv(SAMPLE, dtype=str, keep_default_na=False).head(n).copy()


def jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


@dataclass
class Input:
    """What a case wrote: the command-line arguments and what the run must preserve."""

    args: list[str]
    rows: int | None = None        # data rows written (None: the run must fail)
    texts: list | None = None      # the text column as written, to compare with what was read
    ids: list | None = None


@dataclass(frozen=True)
class Case:
    id: str
    command: str                                  # "train" or "score"
    case: str                                     # the input, in words
    behaviour: str                                # the outcome, in words
    make: Callable[[Path], Input]
    exit_code: int = 0
    says: tuple[str, ...] = ()                    # in the error line (failures) or the log (successes)
    check: Callable[[pd.DataFrame], None] | None = None  # extra checks on the scored or validated rows

    @property
    def test_name(self) -> str:
        return f"test_bad_input[{self.id}]"


# -- inputs ------------------------------------------------------------------------------
def _csv(df: pd.DataFrame, name: str = "in.csv", out: str | None = None, **kw) -> Callable[[Path], Input]:
    def make(d: Path) -> Input:
        df.to_csv(d / name, index=False, **kw)
        return Input([str(d / name)] + (["-o", str(d / out)] if out else []), len(df),
                     df["text"].tolist() if "text" in df else None, df["id"].tolist() if "id" in df else None)
    return make


def _raw(content: bytes, name: str = "in.csv", rows: int | None = None) -> Callable[[Path], Input]:
    def make(d: Path) -> Input:
        (d / name).write_bytes(content)
        return Input([str(d / name)], rows)
    return make


def _with_text(values: list, n: int = 12) -> pd.DataFrame:
    df = sample(n)
    df.loc[: len(values) - 1, "text"] = values
    return df


LATIN = ["Café staff charged £40 for parking, très cher", "naïve señor façade"]
NASTY = ["", "NaN", "None", "12345", "3.5", "   "]
HTML = ["<p>The <b>nurse</b> was <script>alert(1)</script> rude 😡😡</p>", "🙂🙂🙂",
        '=HYPERLINK("http://x","y")',
        "Great care 👍🏽 but parking €€€ &amp; food 🤢"]
FOREIGN = ["El personal fue muy amable pero la espera fue larga", "医生很好，但是等了三个小时",
           "كان الطاقم لطيفا جدا", "Roedd y nyrs yn garedig iawn",
           "Персонал был грубым"]
BIG = ("The nurse was kind but the wait was long. " * 25000)[:1_000_000]


def _nul(d: Path) -> Input:
    df = _with_text(["waited\x00 3 hours\x00 in A&E", "\x00\x00", "rude\x00 staff"])
    df.loc[3, "site"] = "North\x00gate"
    df.to_csv(d / "in.csv", index=False)
    return Input([str(d / "in.csv")], len(df), df["text"].tolist(), df["id"].tolist())


def _jsonl_nasty(d: Path) -> Input:
    base = sample(8)
    values = [None, float("nan"), 42, 3.5, "the wait was long", "", "ok then", 7]
    rows = [{**r, "text": v} for r, v in zip(base.to_dict("records"), values)]
    with open(d / "in.jsonl", "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")  # NaN is written as the bare token NaN, as pandas and Python do
    return Input([str(d / "in.jsonl")], len(rows), values, base["id"].tolist())


def _parquet_numeric_text(d: Path) -> Input:
    table = pa.table({"id": [f"p{i}" for i in range(6)], "text": pa.array([1, 2, None, 4, 5, 6], pa.int64())})
    pq.write_table(table, d / "in.parquet")
    return Input([str(d / "in.parquet")], 6, None, [f"p{i}" for i in range(6)])


def _schema_change(d: Path) -> Input:
    rows = [{"id": i, "text": "rude staff" if i % 2 else 17, "site": i, "score": i} for i in range(6)]
    rows += [{"id": f"x{i}", "text": "the nurse was lovely", "site": "Northgate", "score": None} for i in range(6, 12)]
    jsonl(d / "in.jsonl", rows)
    return Input([str(d / "in.jsonl"), "--chunk-size", "4", "-o", str(d / "out.parquet")], 12, None,
                 [str(r["id"]) for r in rows])


def _key_order(d: Path) -> Input:
    rows = [{"id": f"a{i}", "text": "rude nurse on the ward", "site": "S1"} for i in range(4)]
    rows += [{"site": "S2", "text": "the wait was long", "id": f"a{i}"} for i in range(4, 8)]
    jsonl(d / "in.jsonl", rows)
    return Input([str(d / "in.jsonl"), "--chunk-size", "4", "-o", str(d / "out.csv")], 8, None, [r["id"] for r in rows])


def _new_key(d: Path) -> Input:
    rows = [{"id": f"a{i}", "text": "rude nurse"} for i in range(4)]
    rows += [{"id": f"a{i}", "text": "long wait", "ward": "W7"} for i in range(4, 8)]
    jsonl(d / "in.jsonl", rows)
    return Input([str(d / "in.jsonl"), "--chunk-size", "4"])


def _missing_key(d: Path) -> Input:
    rows = [{"id": f"a{i}", "text": "rude nurse", "ward": "W7"} for i in range(4)]
    rows += [{"id": f"a{i}", "text": "long wait"} for i in range(4, 8)]
    jsonl(d / "in.jsonl", rows)
    return Input([str(d / "in.jsonl"), "--chunk-size", "4", "-o", str(d / "out.csv")], 8, None, [r["id"] for r in rows])


def _folder_reordered(d: Path) -> Input:
    (d / "in").mkdir()
    a, b = sample(6), sample(12).tail(6)
    a[["id", "text", "site"]].to_csv(d / "in" / "a.csv", index=False)
    b[["site", "id", "text"]].to_csv(d / "in" / "b.csv", index=False)
    return Input([str(d / "in"), "--chunk-size", "4", "-o", str(d / "out.csv")], 12, None,
                 a["id"].tolist() + b["id"].tolist())


def _folder_missing_text(d: Path) -> Input:
    (d / "in").mkdir()
    sample(6)[["id", "text"]].to_csv(d / "in" / "a.csv", index=False)
    sample(6)[["id", "site"]].to_csv(d / "in" / "b.csv", index=False)
    return Input([str(d / "in")])


def _empty_chunk(d: Path) -> Input:
    df = _with_text(["", " ", "", "\t"], n=10)
    df.to_csv(d / "in.csv", index=False)
    return Input([str(d / "in.csv"), "--chunk-size", "4", "-o", str(d / "out.parquet")], len(df), None,
                 df["id"].tolist())


def _ragged(d: Path) -> Input:
    lines = sample(6)[["id", "text", "site"]].to_csv(index=False).splitlines()
    lines[4] += ",extra,fields"
    (d / "in.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Input([str(d / "in.csv")])


def _unclosed(d: Path) -> Input:
    (d / "in.csv").write_text('id,text\n1,the nurse was kind\n2,"this quote never closes\n3,third row\n4,fourth row\n',
                              encoding="utf-8")
    return Input([str(d / "in.csv")])


def _surrogate(d: Path) -> Input:
    (d / "in.jsonl").write_text('{"id":"s1","text":"bad \\ud800 surrogate"}\n{"id":"s2","text":"the wait was long"}\n',
                                encoding="utf-8")
    return Input([str(d / "in.jsonl")], 2, None, ["s1", "s2"])


def _missing_folder(d: Path) -> Input:
    sample(4).to_csv(d / "in.csv", index=False)
    return Input([str(d / "in.csv"), "-o", str(d / "no" / "such" / "folder" / "out.parquet")])


def _train_missing_folder(d: Path) -> Input:
    df = sample(12)
    df.to_csv(d / "in.csv", index=False)
    return Input([str(d / "in.csv"), "--model-out", str(d / "no" / "such" / "folder" / "model")], len(df),
                 df["text"].tolist(), df["id"].tolist())


def _typo_taxonomy(d: Path) -> Input:
    (d / "tax.yaml").write_text("name: typo\nheads:\n  - name: polarity\n    kind: multiclass\n"
                                "    lables: [negative, positive]\n", encoding="utf-8")
    sample(12).to_csv(d / "in.csv", index=False)
    return Input([str(d / "in.csv"), "--taxonomy", str(d / "tax.yaml")])


def _jsonl_train_types(d: Path) -> Input:
    base = sample(12)
    rows = base.to_dict("records")
    for i, r in enumerate(rows):
        r["site"] = i if i < 6 else f"site {i}"
    jsonl(d / "in.jsonl", rows)
    return Input([str(d / "in.jsonl")], len(rows), base["text"].tolist(), base["id"].tolist())


def _train_nasty_jsonl(d: Path) -> Input:
    base = sample(10)
    values = [None, float("nan"), "", "  ", *base["text"].tolist()[4:]]
    rows = [{**r, "text": v} for r, v in zip(base.to_dict("records"), values)]
    with open(d / "in.jsonl", "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    return Input([str(d / "in.jsonl")], len(rows), None, base["id"].tolist())


def _text_only(d: Path) -> Input:
    df = sample(9)[["text"]]
    df.to_csv(d / "in.csv", index=False)
    return Input([str(d / "in.csv"), "--chunk-size", "4"], len(df), df["text"].tolist())


def _dup_header(d: Path) -> Input:
    (d / "in.csv").write_text("id,text,text\n1,a comment,another\n", encoding="utf-8")
    return Input([str(d / "in.csv")])


def _modify(column: str, row: int, value: str) -> pd.DataFrame:
    df = sample(12)
    df.loc[row, column] = value
    return df


# -- checks on the rows that came out ----------------------------------------------------
def _status(expected: dict[int, str]) -> Callable[[pd.DataFrame], None]:
    def check(out: pd.DataFrame) -> None:
        for row, status in expected.items():
            assert out["status"].iloc[row] == status, (row, out["status"].iloc[row])
    return check


def _texts_read_back(values: list[str]) -> Callable[[pd.DataFrame], None]:
    def check(out: pd.DataFrame) -> None:
        assert out["text"].tolist()[: len(values)] == values
    return check


def _text_scored(out: pd.DataFrame) -> None:
    assert (out["status"] == "ok").all(), out["status"].tolist()


def _no_nul(out: pd.DataFrame) -> None:
    assert not out["text"].str.contains("\x00", regex=False).any()
    assert out["text"].iloc[0] == "waited 3 hours in A&E" and "\x00\x00" not in out["text"].tolist()


def _ids_are_text(out: pd.DataFrame) -> None:
    assert out["id"].tolist() == [str(i) for i in range(6)] + [f"x{i}" for i in range(6, 12)]
    assert out["site"].tolist()[:2] == ["0", "1"] and out["site"].iloc[-1] == "Northgate"
    assert out["status"].iloc[0] == "not_text" and out["status"].iloc[1] == "ok"


def _sites_aligned(out: pd.DataFrame) -> None:
    assert out["site"].tolist() == ["S1"] * 4 + ["S2"] * 4
    assert out["text"].tolist() == ["rude nurse on the ward"] * 4 + ["the wait was long"] * 4


def _ward_nulls(out: pd.DataFrame) -> None:
    assert out["ward"].tolist()[:4] == ["W7"] * 4 and out["ward"].iloc[4:].isna().all()


def _folder_aligned(out: pd.DataFrame) -> None:
    expected = pd.concat([sample(6), sample(12).tail(6)])
    assert out["site"].tolist() == expected["site"].tolist()


def _given_labels(out: pd.DataFrame) -> None:
    assert out["polarity__given"].iloc[4] == "angry"
    assert out["root_causes__given"].iloc[2] == "wait_times;billing"


def _duplicates_kept(out: pd.DataFrame) -> None:
    assert out["id"].iloc[1] == out["id"].iloc[3]


def _formula_guarded(out: pd.DataFrame) -> None:
    assert out["text"].iloc[2].startswith("'=")
    assert out["status"].tolist()[:4] == ["ok", "not_text", "ok", "ok"]
    assert "😡😡" in out["text"].iloc[0] and "👍🏽" in out["text"].iloc[3]


def _rows_used(rows: int) -> Callable[[pd.DataFrame], None]:
    def check(frame: pd.DataFrame) -> None:
        assert len(frame) == rows
    return check


def _generated_ids(out: pd.DataFrame) -> None:
    assert out["id"].tolist() == list(range(9))


def _truncated(out: pd.DataFrame) -> None:
    assert out["status"].iloc[3] == "truncated"
    assert (out["status"].drop(index=3) == "ok").all()


SCORE = "score"
TRAIN = "train"
CASES: list[Case] = [
    # -- score ----------------------------------------------------------------------------
    Case("score-missing-text-column", SCORE, "no `text` column", "exit 2: names the file, the column and the "
         "columns found; suggests --text-col", _csv(sample(12).drop(columns=["text"])), 2,
         ("in.csv", "'text'", "--text-col")),
    Case("score-empty-file", SCORE, "0-byte file", "exit 2: `<file>: empty file`", _raw(b""), 2,
         ("in.csv", "empty file")),
    Case("score-header-only", SCORE, "header row, no data", "exit 2: `no data rows`", _raw(b"id,text,site\n"), 2,
         ("in.csv", "no data rows")),
    Case("score-semicolon", SCORE, "`;`-delimited CSV (Excel, European locale), CRLF, commas in text",
         "delimiter sniffed; every row scored; text read back unchanged",
         _csv(sample(12), sep=";", lineterminator="\r\n"),
         check=_texts_read_back(sample(12)["text"].tolist())),
    Case("score-tab", SCORE, "tab-delimited file named `.csv`", "delimiter sniffed; every row scored",
         _csv(sample(12), sep="\t"), check=_texts_read_back(sample(12)["text"].tolist())),
    Case("score-pipe", SCORE, "`|`-delimited `.txt` file", "delimiter sniffed; every row scored",
         _csv(sample(12), name="in.txt", sep="|"), check=_texts_read_back(sample(12)["text"].tolist())),
    Case("score-latin1", SCORE, "Latin-1 / Windows-1252 bytes (£, é)", "read as Windows-1252 with a warning that "
         "names the file; text decoded correctly", _csv(_with_text(LATIN), encoding="latin-1"), 0,
         ("Windows-1252",), _texts_read_back(LATIN)),
    Case("score-utf16", SCORE, "UTF-16 with BOM (Excel 'Unicode text')", "decoded; every row scored",
         _csv(_with_text(LATIN), encoding="utf-16"), check=_texts_read_back(LATIN)),
    Case("score-utf16-no-bom", SCORE, "UTF-16-LE without BOM", "recognised from its NUL pattern, decoded; every row "
         "scored", _csv(_with_text(LATIN), encoding="utf-16-le"), check=_texts_read_back(LATIN)),
    Case("score-utf8-bom", SCORE, "UTF-8 with BOM", "BOM stripped (first column is `id`, not `\\ufeffid`); ids kept",
         _csv(_with_text(LATIN), encoding="utf-8-sig"), check=_texts_read_back(LATIN)),
    Case("score-nul-bytes", SCORE, "NUL bytes inside text and other cells", "NULs ignored when scoring; a text of only "
         "NULs is `empty_text`", _nul, check=_status({0: "ok", 1: "empty_text", 2: "ok"})),
    Case("score-1mb-comment", SCORE, "one 1 MB comment", "row kept, scored on its first `max_chars` characters, status "
         "`truncated`", _csv(_with_text(["short", "short", "short", BIG], n=6)),
         check=_truncated),
    Case("score-nan-none-numbers-csv", SCORE, "empty, blank, `NaN`, `None`, `12345`, `3.5` as CSV text",
         "empty/blank -> `empty_text`; numbers -> `not_text`; the words NaN/None are text (a CSV cell is what it says)",
         _csv(_with_text(NASTY)), check=_status({0: "empty_text", 1: "ok", 2: "ok", 3: "not_text", 4: "not_text",
                                                 5: "empty_text"})),
    Case("score-null-numbers-jsonl", SCORE, "JSON null, NaN, 42, 3.5 and 7 as text", "null/NaN/empty -> `empty_text`; "
         "numbers -> `not_text`; all rows kept", _jsonl_nasty,
         check=_status({0: "empty_text", 1: "empty_text", 2: "not_text", 3: "not_text", 4: "ok", 5: "empty_text",
                        6: "ok", 7: "not_text"})),
    Case("score-parquet-numeric-text", SCORE, "Parquet whose text column is int64 with a null", "numbers -> "
         "`not_text`, null -> `empty_text`; all rows kept", _parquet_numeric_text,
         check=_status({0: "not_text", 2: "empty_text", 5: "not_text"})),
    Case("score-html-emoji", SCORE, "HTML tags, emoji, skin-tone modifiers, a spreadsheet formula", "scored as text; "
         "emoji-only -> `not_text`; formula cell prefixed with `'` in CSV output",
         _csv(_with_text(HTML), out="out.csv"),
         check=_formula_guarded),
    Case("score-non-english", SCORE, "Spanish, Chinese, Arabic, Welsh, Russian", "scored (status `ok`), never "
         "dropped; the default model learned from English only, so expect weak predictions", _csv(_with_text(FOREIGN)),
         check=_texts_read_back(FOREIGN)),
    Case("score-duplicate-ids", SCORE, "the same id on two rows", "both rows kept, in input order (ids are passed "
         "through, never used to merge rows)", _csv(_modify("id", 3, sample(12)["id"][1])), check=_duplicates_kept),
    Case("score-labels-outside-taxonomy", SCORE, "label columns with values outside the taxonomy", "ignored by the "
         "model; kept as given under `<column>__given`", _csv(_modify("polarity", 4, "angry").pipe(
             lambda df: df.assign(root_causes=df["root_causes"].where(df.index != 2, "wait_times;billing")))),
         check=_given_labels),
    Case("score-output-missing-folder", SCORE, "`-o` in a folder that does not exist", "exit 2: names the folder; "
         "nothing written", _missing_folder, 2, ("does not exist", "folder")),
    Case("score-schema-change-jsonl", SCORE, "JSONL whose id, site and text change from numbers to text after the "
         "first chunk (`--chunk-size 4`, Parquet output)", "every passthrough column and the id kept as text; all "
         "rows kept", _schema_change, check=_ids_are_text),
    Case("score-key-order-jsonl", SCORE, "JSONL whose key order changes between chunks (CSV output)", "columns "
         "aligned by name, never by position", _key_order, check=_sites_aligned),
    Case("score-missing-key-jsonl", SCORE, "JSONL whose later lines lack a key", "the missing values are null; all "
         "rows kept", _missing_key, check=_ward_nulls),
    Case("score-new-key-jsonl", SCORE, "JSONL with a key that first appears after the first chunk", "exit 2: names "
         "the file, the key and the row (the output's columns are fixed by the first chunk)", _new_key, 2,
         ("in.jsonl", "'ward'", "row 5")),
    Case("score-folder-reordered", SCORE, "folder of CSVs with the same columns in another order", "columns aligned "
         "by name; all rows kept, files in name order", _folder_reordered, check=_folder_aligned),
    Case("score-folder-missing-text", SCORE, "folder where one CSV lacks the text column", "exit 2: names that file "
         "and the missing column", _folder_missing_text, 2, ("b.csv", "text")),
    Case("score-empty-chunk", SCORE, "a whole chunk of empty texts (Parquet output)", "rows kept as `empty_text`; "
         "later chunks join the same schema", _empty_chunk, check=_status({0: "empty_text", 3: "empty_text", 4: "ok"})),
    Case("score-ragged-row", SCORE, "a row with more fields than the header", "exit 2: names the file and the row; "
         "the row's text is not echoed", _ragged, 2, ("in.csv", "row 4", "expected 3")),
    Case("score-unclosed-quote", SCORE, "a quote that is never closed (would swallow the rest of the file)",
         "exit 2: names the row where the quote opens", _unclosed, 2, ("in.csv", "row 2", "never closed")),
    Case("score-lone-surrogate", SCORE, "JSONL with a lone UTF-16 surrogate escape (`\\ud800`)", "scored; the "
         "invalid character is dropped", _surrogate, check=_texts_read_back(["bad  surrogate", "the wait was long"])),
    Case("score-text-only", SCORE, "a one-column file (just `text`, commas inside quoted comments)", "read; ids "
         "generated as row numbers from 0", _text_only, check=_generated_ids),
    Case("score-duplicate-header", SCORE, "two columns with the same name", "exit 2: names the duplicated column",
         _dup_header, 2, ("in.csv", "duplicate column", "text")),
    Case("score-unknown-extension", SCORE, "an `.xlsx` file", "exit 2: lists the supported formats",
         _raw(b"PK\x03\x04", name="in.xlsx"), 2, ("in.xlsx", ".csv")),
    Case("score-missing-input", SCORE, "input path that does not exist", "exit 2: `file not found`",
         lambda d: Input([str(d / "nope.csv")]), 2, ("nope.csv", "not found")),
    # -- train ----------------------------------------------------------------------------
    Case("train-missing-text-column", TRAIN, "no `text` column", "exit 2: names the file and the column; lists the "
         "columns found", _csv(sample(12).drop(columns=["text"])), 2, ("in.csv", "'text'", "--text-col")),
    Case("train-empty-file", TRAIN, "0-byte file", "exit 2: `empty file`", _raw(b""), 2, ("in.csv", "empty file")),
    Case("train-header-only", TRAIN, "header row, no data", "exit 2: `no data rows (header only)`",
         _raw(",".join(sample(1).columns).encode() + b"\n"), 2, ("in.csv", "header only")),
    Case("train-semicolon", TRAIN, "`;`-delimited CSV with CRLF", "delimiter sniffed; every row used",
         _csv(sample(12), sep=";", lineterminator="\r\n"), check=_texts_read_back(sample(12)["text"].tolist())),
    Case("train-tab", TRAIN, "tab-delimited `.tsv`", "delimiter sniffed; every row used",
         _csv(sample(12), name="in.tsv", sep="\t"), check=_texts_read_back(sample(12)["text"].tolist())),
    Case("train-latin1", TRAIN, "Windows-1252 bytes", "read with a warning naming the file; text decoded",
         _csv(_with_text(LATIN), encoding="cp1252"), 0, ("Windows-1252",), _texts_read_back(LATIN)),
    Case("train-utf16", TRAIN, "UTF-16 with BOM", "decoded; every row used", _csv(_with_text(LATIN), encoding="utf-16"),
         check=_texts_read_back(LATIN)),
    Case("train-utf8-bom", TRAIN, "UTF-8 with BOM", "BOM stripped; the `id` column is found (duplicate-id check "
         "works)", _csv(_with_text(LATIN), encoding="utf-8-sig"), check=_texts_read_back(LATIN)),
    Case("train-nul-bytes", TRAIN, "NUL bytes in text and other cells", "NULs removed from text; a text of only NULs "
         "counts as empty and its row is reported", _nul, 0, ("1 row(s) with empty text", "row(s) 2"), _no_nul),
    Case("train-1mb-comment", TRAIN, "one 1 MB comment", "row used", _csv(_with_text([BIG]))),
    Case("train-null-nan-jsonl", TRAIN, "JSON null, NaN, empty and blank text", "those rows are not used, and a "
         "warning names them; the rest are used", _train_nasty_jsonl, 0,
         ("4 row(s) with empty text", "row(s) 1, 2, 3, 4"),
         _rows_used(6)),
    Case("train-html-emoji", TRAIN, "HTML, emoji, a spreadsheet formula", "used as text",
         _csv(_with_text(HTML)), check=_texts_read_back(HTML)),
    Case("train-non-english", TRAIN, "non-English comments", "used as text", _csv(_with_text(FOREIGN)),
         check=_texts_read_back(FOREIGN)),
    Case("train-duplicate-ids", TRAIN, "the same id on two rows", "exit 2: names the column, both rows and the id",
         _csv(_modify("id", 3, sample(12)["id"][1])), 2,
         ("in.csv", "duplicate ids", "row(s) 2, 4", sample(12)["id"][1])),
    Case("train-label-outside-multiclass", TRAIN, "`polarity` value `angry`", "exit 2: names the column, the row, the "
         "value and the allowed labels", _csv(_modify("polarity", 4, "angry")), 2,
         ("in.csv", "'polarity'", "row(s) 5", "'angry'", "allowed")),
    Case("train-label-outside-multilabel", TRAIN, "`root_causes` value `wait_times` (typo)", "exit 2: names the "
         "column, the row, the value and suggests `wait_time`",
         _csv(_modify("root_causes", 2, "wait_times;billing")), 2,
         ("in.csv", "'root_causes'", "row(s) 3", "'wait_times'", "did you mean 'wait_time'")),
    Case("train-missing-label-column", TRAIN, "no `feelings` column", "exit 2: names the column and its head",
         _csv(sample(12).drop(columns=["feelings"])), 2, ("in.csv", "'feelings'", "missing")),
    Case("train-bad-split", TRAIN, "`split` value `validation`", "exit 2: names the column and the row",
         _csv(_modify("split", 6, "validation")), 2, ("in.csv", "'split'", "row(s) 7")),
    Case("train-taxonomy-typo", TRAIN, "taxonomy YAML with `lables:`", "exit 2: names the file and the key, "
         "suggests `labels`", _typo_taxonomy, 2, ("tax.yaml", "'lables'", "did you mean 'labels'")),
    Case("train-output-missing-folder", TRAIN, "`--model-out` in folders that do not exist", "the folders are "
         "created and the model exported there", _train_missing_folder),
    Case("train-schema-change-jsonl", TRAIN, "JSONL whose `site` is a number in some rows and text in others",
         "read; every row used", _jsonl_train_types, check=_texts_read_back(sample(12)["text"].tolist())),
    Case("train-ragged-row", TRAIN, "a row with more fields than the header", "exit 2: names the file and the row",
         _ragged, 2, ("in.csv", "row 4")),
    Case("train-unclosed-quote", TRAIN, "a quote that is never closed", "exit 2: names the row where it opens",
         _unclosed, 2, ("in.csv", "row 2", "never closed")),
    Case("train-all-text-empty", TRAIN, "every text empty", "exit 2: `empty in every row`",
         _csv(sample(12).assign(text="")), 2, ("in.csv", "empty in every row")),
    Case("train-missing-input", TRAIN, "data path that does not exist", "exit 2: `file not found`",
         lambda d: Input([str(d / "nope.csv")]), 2, ("nope.csv", "not found")),
]


# -- the test ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    from hardening_support import tiny_model

    return tiny_model(tmp_path_factory)


def _read_output(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig").replace({"": None})
    return pd.read_json(path, lines=True, dtype=False)


def run_case(case: Case, tmp_path: Path, tiny) -> tuple:
    """Run one case through the command line; return (result, log text, rows out or validated, input)."""
    import complaintml.pipeline as pipeline
    from complaintml.cli import app
    from hardening_support import capture_logs

    work = tmp_path / "case"
    work.mkdir()
    given = case.make(work)
    args = [case.command, *given.args] if case.command == SCORE else [case.command, "--data", *given.args]
    seen = []
    with capture_logs() as lines, pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        if case.command == SCORE:
            if "-o" not in args:
                args += ["-o", str(work / "out.parquet")]
            args += ["--model", str(tiny.model_dir)]
        else:
            mp.setattr(pipeline, "train", lambda ds, cfg: seen.append(ds) or tiny.train_result)
            mp.setattr(pipeline, "plot_all", lambda *a, **k: None)
            args += ["--config", str(tiny.config), "--no-tracking"]
            if "--model-out" not in args:
                args += ["--model-out", str(work / "model")]
        result = CliRunner().invoke(app, args)
    rows = None
    if case.command == SCORE and result.exit_code == 0:
        rows = _read_output(Path(args[args.index("-o") + 1]))
    elif case.command == TRAIN and seen:
        rows = seen[0].frame
        rows.attrs["dropped_empty"] = seen[0].dropped_empty
    return result, "\n".join(lines), rows, given, args


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path, tiny):
    result, logs, rows, given, args = run_case(case, tmp_path, tiny)
    output = result.output + (result.stderr or "")
    assert "Traceback" not in output and "unexpected" not in output, output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == case.exit_code, output
    if case.exit_code:
        errors = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(errors) == 1 and errors[0].startswith("error: "), result.stderr
        for fragment in case.says:
            assert fragment in errors[0], (fragment, errors[0])
        if case.command == SCORE:
            out = Path(args[args.index("-o") + 1])
            assert not out.exists()
        return
    for fragment in case.says:
        assert fragment in logs, (fragment, logs)
    assert rows is not None
    if case.command == SCORE:
        assert len(rows) == given.rows  # no row lost, none invented
        assert set(rows["status"]) <= STATUSES
        if given.ids is not None:
            assert [str(i) for i in rows["id"]] == [str(i) for i in given.ids]
        summary = json.loads(result.stdout)
        assert summary["rows_in"] == summary["rows_out"] == given.rows
    else:
        # Every row written is either used or reported as dropped: nothing disappears silently.
        assert len(rows) + rows.attrs["dropped_empty"] == given.rows
        if rows.attrs["dropped_empty"]:
            assert "row(s) with empty text" in logs
        exported = Path(args[args.index("--model-out") + 1])
        assert (exported / "manifest.json").is_file()
    if case.check:
        case.check(rows)


def test_every_case_is_unique_and_documented():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert all(c.case and c.behaviour and c.command in (SCORE, TRAIN) for c in CASES)


# -- docs/RELIABILITY.md ---------------------------------------------------------------
def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_reliability() -> str:
    """docs/RELIABILITY.md, generated from CASES and from the docstrings of the other hardening tests."""
    import importlib

    out = ["# Reliability: what happens with bad input, crashes and tampered models", "",
           "<!-- Generated by `python tests/test_bad_inputs.py` from the tests; do not edit by hand. -->", "",
           "Exit codes: 0 ok, 1 unexpected error (a bug: please report it), 2 bad input (data, taxonomy, config, "
           "options), 3 model problem (missing, unverified), 4 rows lost (output not trusted), 130 interrupted.", "",
           "Every error is one line on stderr that starts with `error:` and names the file, and where it applies the "
           "column and the row (rows are counted from 1 = the first data row). No traceback is printed unless "
           "`COMPLAINTML_DEBUG=1` is set. A scoring run never drops a row: a row whose text cannot be scored comes "
           "out with a `status` of `empty_text`, `not_text` or `truncated`.", "",
           "## Bad input", "",
           "| Command | Input | Behaviour | Test (tests/test_bad_inputs.py) |", "|---|---|---|---|"]
    for c in CASES:
        out.append(f"| `{c.command}` | {_cell(c.case)} | {_cell(c.behaviour)} | `{c.test_name}` |")
    sections = [("test_properties", "Any text (property-based tests)"), ("test_crash", "Crashes and resume"),
                ("test_integrity", "Model integrity"), ("test_redaction", "Redaction of personal identifiers"),
                ("test_privacy", "No comment text in MLflow or logs")]
    for module_name, title in sections:
        module = importlib.import_module(module_name)
        out += ["", f"## {title}", "", f"| Guarantee | Test (tests/{module_name}.py) |", "|---|---|"]
        for name, fn in vars(module).items():
            if name.startswith("test_") and callable(fn) and fn.__doc__:
                out.append(f"| {_cell(fn.__doc__.strip().splitlines()[0])} | `{name}` |")
    return "\n".join(out) + "\n"


def test_reliability_doc_is_current():
    """docs/RELIABILITY.md is exactly what the tests generate (rewrite: python tests/test_bad_inputs.py)."""
    assert DOC.read_text(encoding="utf-8") == render_reliability()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(render_reliability(), encoding="utf-8")
    print(f"wrote {DOC}")
