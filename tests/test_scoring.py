"""The pandas batch engine and ``complaintml score``: nothing lost, nothing reordered, safe files."""

import json
import os
import signal
import subprocess
import sys
import time

import mlflow
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from complaintml.cli import app
from complaintml.scoring import predict_columns

from scoring_support import cli, sample_frame, scoring_model

pytestmark = pytest.mark.slow

LONG = "The nurse was kind but I waited for hours. " * 60  # about 2,600 characters, over max_chars (2,000)
ODD_TEXTS = {"": "empty_text", None: "empty_text", "   ": "empty_text", "12345": "not_text", "😀🙏😀": "not_text",
             LONG: "truncated", "Waited four hours and nobody told us why.": "ok"}


@pytest.fixture(scope="session")
def model(tmp_path_factory):
    return scoring_model(tmp_path_factory)


def score(*args) -> dict:
    result = CliRunner().invoke(app, ["score", *map(str, args)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def odd_frame() -> pd.DataFrame:
    """One row per odd text, with the status it must get."""
    texts = list(ODD_TEXTS)
    return pd.DataFrame({"id": [f"x{i}" for i in range(len(texts))], "text": texts, "site": "Northgate",
                         "expected": list(ODD_TEXTS.values())})


def test_rows_in_equal_rows_out_in_order_with_a_status_each(model, tmp_path):
    df = pd.concat([sample_frame(20)[["id", "text", "site"]], odd_frame()], ignore_index=True).iloc[::-1]
    expected = df.pop("expected").fillna("ok").tolist()
    df.to_parquet(tmp_path / "in.parquet", index=False)  # Parquet keeps the None as a real null
    summary = score(tmp_path / "in.parquet", "-o", tmp_path / "out.parquet", "--model", model.ref, "--chunk-size", 4)
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert summary["rows_in"] == summary["rows_out"] == len(df) == len(out)
    assert summary["chunks"] == 7
    assert out["id"].tolist() == df["id"].tolist()
    assert out["status"].tolist() == expected
    unscored = out["status"].isin(["empty_text", "not_text"]).to_numpy()
    assert out.loc[unscored, "polarity"].isna().all() and out.loc[unscored, "proba__polarity__negative"].isna().all()
    assert out.loc[~unscored, "polarity"].notna().all()
    assert (out.loc[~unscored, [c for c in out.columns if c.startswith("proba__polarity__")]].sum(axis=1) - 1).abs().max() < 1e-6
    assert summary["status_counts"] == pd.Series(expected).value_counts().to_dict()


def test_ids_are_generated_in_input_order_across_chunks_and_files(model, tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    df = sample_frame(25)[["text", "site"]]
    df.iloc[:10].to_csv(inbox / "a.csv", index=False)
    df.iloc[10:].to_csv(inbox / "b.csv", index=False)
    score(inbox, "-o", tmp_path / "out.parquet", "--model", model.ref, "--chunk-size", 4, "--no-redact")
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert out["id"].tolist() == list(range(25))
    assert out["text"].tolist() == df["text"].tolist()


def test_label_columns_are_kept_as_given_and_keep_cols_selects(model, tmp_path):
    df = sample_frame(30)
    df.to_csv(tmp_path / "in.csv", index=False)
    score(tmp_path / "in.csv", "-o", tmp_path / "all.parquet", "--model", model.ref)
    out = pd.read_parquet(tmp_path / "all.parquet")
    for col in ("polarity", "feelings", "root_causes"):
        assert out[f"{col}__given"].tolist() == df[col].tolist()
        assert col in out.columns
    assert out.columns[0] == "id"

    score(tmp_path / "in.csv", "-o", tmp_path / "kept.parquet", "--model", model.ref, "--keep-cols", "site")
    kept = pd.read_parquet(tmp_path / "kept.parquet")
    model_cols = [c for c in out.columns if c in kept.columns and c not in ("id", "text", "site")]
    assert list(kept.columns) == ["id", "text", "site", *model_cols]
    assert not any(c.endswith("__given") for c in kept.columns)


def test_csv_output_has_a_bom_and_neutralizes_formulas_but_not_numbers(model, tmp_path):
    notes = ["=1+2", "+cmd|' /C calc'!A0", "-x", "@SUM(A1)", "\tTAB", "\rCR", "-3", "+44", "12.5", "plain"]
    df = pd.DataFrame({"id": [f"n{i}" for i in range(len(notes))], "note": notes,
                       "text": ["=HYPERLINK(\"http://x\") the nurse was rude"] + ["the nurse was kind"] * (len(notes) - 1)})
    df.to_parquet(tmp_path / "in.parquet", index=False)
    score(tmp_path / "in.parquet", "-o", tmp_path / "out.csv", "--model", model.ref, "--no-redact")
    raw = (tmp_path / "out.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert out["note"].tolist() == ["'=1+2", "'+cmd|' /C calc'!A0", "'-x", "'@SUM(A1)", "'\tTAB", "'\rCR",
                                    "-3", "+44", "12.5", "plain"]
    assert out["text"].iloc[0].startswith("'=HYPERLINK")


def test_resume_after_kill_9_gives_the_uninterrupted_output(model, tmp_path):
    sample_frame(3000)[["id", "text", "site"]].to_csv(tmp_path / "in.csv", index=False)
    out, parts = tmp_path / "out.parquet", tmp_path / "out.parquet.parts"
    proc = cli("score", str(tmp_path / "in.csv"), "-o", str(out), "--model", model.ref, "--chunk-size", "20")
    deadline = time.time() + 180
    while len(list(parts.glob("chunk-*.parquet"))) < 3:
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "no chunk written in time"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert not out.exists() and not list(tmp_path.glob(".out.parquet*"))  # no partial file under any output name
    done = len(list(parts.glob("chunk-*.parquet")))
    assert (tmp_path / "out.parquet.lock").exists()  # left by the killed job; its pid is dead, so it is taken over

    summary = score(tmp_path / "in.csv", "-o", out, "--model", model.ref, "--chunk-size", 20, "--resume")
    assert summary["chunks_resumed"] >= done >= 3 and summary["rows_out"] == 3000
    assert not parts.exists() and not (tmp_path / "out.parquet.lock").exists()
    score(tmp_path / "in.csv", "-o", tmp_path / "ref.parquet", "--model", model.ref, "--chunk-size", 20)
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(tmp_path / "ref.parquet"))


def test_a_second_writer_to_the_same_output_is_refused(model, tmp_path):
    sample_frame(20).to_csv(tmp_path / "in.csv", index=False)
    out = tmp_path / "out.parquet"
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "out.parquet.lock").write_text(str(writer.pid))  # as a running job holds it
        result = CliRunner().invoke(app, ["score", str(tmp_path / "in.csv"), "-o", str(out), "--model", model.ref])
        assert result.exit_code == 2 and f"another job (pid {writer.pid})" in result.output
        assert not out.exists()
    finally:
        writer.kill()
        writer.wait()
    score(tmp_path / "in.csv", "-o", out, "--model", model.ref)  # its owner is gone: the lock is taken over
    assert len(pd.read_parquet(out)) == 20


def test_two_jobs_give_the_same_file_as_one(model, tmp_path):
    sample_frame(1500).to_csv(tmp_path / "in.csv", index=False)
    one = score(tmp_path / "in.csv", "-o", tmp_path / "one.csv", "--model", model.ref, "--chunk-size", 250)
    two = score(tmp_path / "in.csv", "-o", tmp_path / "two.csv", "--model", model.ref, "--chunk-size", 250, "--jobs", 2)
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()
    assert one["status_counts"] == two["status_counts"] and two["rows_out"] == 1500


def _read(path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def test_csv_parquet_and_jsonl_round_trip(model, tmp_path):
    df = pd.concat([sample_frame(40)[["id", "text", "site"]], odd_frame().drop(columns="expected").dropna()],
                   ignore_index=True)
    df.to_csv(tmp_path / "in.csv", index=False)
    df.to_parquet(tmp_path / "in.parquet", index=False)
    df.to_json(tmp_path / "in.jsonl", orient="records", lines=True, force_ascii=False)
    outputs = {}
    for src in ("csv", "parquet", "jsonl"):
        for dst in ("csv", "parquet", "jsonl"):
            path = tmp_path / f"{src}_to_{dst}.{dst}"
            score(tmp_path / f"in.{src}", "-o", path, "--model", model.ref, "--chunk-size", 16)
            outputs[src, dst] = _read(path)
    base = outputs["parquet", "parquet"]
    probas = [c for c in base.columns if c.startswith("proba__")]
    text_cols = ["id", "text", "site", "polarity", "feelings", "root_causes", "evidence", "status", "alert_reason"]
    for (src, dst), got in outputs.items():
        assert len(got) == len(df), (src, dst)
        for col in text_cols:
            assert got[col].fillna("").astype(str).tolist() == base[col].fillna("").astype(str).tolist(), (src, dst, col)
        values = got[probas].replace("", np.nan).astype(float).to_numpy()
        np.testing.assert_allclose(values, base[probas].to_numpy(), atol=1e-9, equal_nan=True, err_msg=f"{src}->{dst}")
        assert got["needs_review"].astype(str).str.lower().tolist() == base["needs_review"].astype(str).str.lower().tolist()
    assert json.loads((tmp_path / "csv_to_csv.csv.meta.json").read_text())["schema_version"] == "1"
    assert b"complaintml" in pq.read_schema(tmp_path / "csv_to_parquet.parquet").metadata


def test_mlflow_pyfunc_predicts_what_predict_columns_gives(model):
    texts = pd.concat([sample_frame(50)["text"], pd.Series([t for t in ODD_TEXTS if t is not None])], ignore_index=True)
    via_pyfunc = mlflow.pyfunc.load_model(model.ref).predict(pd.DataFrame({"text": texts}))
    pd.testing.assert_frame_equal(via_pyfunc, predict_columns(model.bundle, texts))


@pytest.mark.parametrize("case", ["bad_input", "bad_model", "rows_lost", "interrupted"])
def test_documented_exit_codes(model, tmp_path, monkeypatch, case):
    import shutil

    import complaintml.scoring as scoring

    sample_frame(10).to_csv(tmp_path / "in.csv", index=False)
    args = ["score", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.parquet"), "--model", model.ref]
    expected = {"bad_input": 2, "bad_model": 3, "rows_lost": 4, "interrupted": 130}[case]
    if case == "bad_input":
        args += ["--text-col", "comment"]
    elif case == "bad_model":
        shutil.copytree(model.model_dir, tmp_path / "model")
        (tmp_path / "model" / "MODEL_CARD.md").write_text("edited")
        args[-1] = str(tmp_path / "model")
    elif case == "rows_lost":  # a part file that lost its last row
        real = scoring._write_part
        monkeypatch.setattr(scoring, "_write_part", lambda df, path: real(df.iloc[:-1], path))
    else:
        def stop(*a, **k):
            raise KeyboardInterrupt
        monkeypatch.setattr(scoring, "score_file", stop)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == expected, result.output
    assert result.output.startswith(("error: ", "interrupted")) and "Traceback" not in result.output
    assert not (tmp_path / "out.parquet").exists()


def test_spark_engine_refuses_threshold_overrides_before_starting_spark(model, tmp_path):
    sample_frame(5).to_csv(tmp_path / "in.csv", index=False)
    result = CliRunner().invoke(app, ["score", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.parquet"),
                                      "--model", model.ref, "--engine", "spark", "--threshold", "wait_time=0.3"])
    assert result.exit_code == 2 and "--threshold is not supported by --engine spark" in result.output
