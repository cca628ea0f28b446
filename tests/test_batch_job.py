"""pipelines/batch_score.py: inbox -> outbox + manifest + archive, safe to run again and after a crash."""

import fcntl
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from conftest import ROOT

from scoring_support import sample_frame, scoring_model

pytestmark = pytest.mark.slow

spec = importlib.util.spec_from_file_location("batch_score", ROOT / "pipelines" / "batch_score.py")
batch_score = importlib.util.module_from_spec(spec)
spec.loader.exec_module(batch_score)


@pytest.fixture(scope="session")
def model(tmp_path_factory):
    return scoring_model(tmp_path_factory)


@pytest.fixture
def boxes(tmp_path):
    for name in ("inbox", "outbox", "archive"):
        (tmp_path / name).mkdir()
    return tmp_path


def run(boxes, model, *extra) -> tuple[int, dict]:
    code = batch_score.main(["--inbox", str(boxes / "inbox"), "--outbox", str(boxes / "outbox"),
                             "--archive", str(boxes / "archive"), "--model", model.ref, *map(str, extra)])
    manifests = sorted((boxes / "outbox" / "runs").glob("*.json"))
    return code, json.loads(manifests[-1].read_text())


def entries(manifest) -> dict:
    return {e["input"]: e for e in manifest["inputs"]}


def test_inbox_is_scored_into_the_outbox_with_a_manifest_and_archived(model, boxes):
    inbox = boxes / "inbox"
    sample_frame(30).to_csv(inbox / "monday.csv", index=False)
    sample_frame(12).drop(columns="id").to_json(inbox / "tuesday.jsonl", orient="records", lines=True)
    (inbox / "wednesday.csv.part").write_text("id,text\n1,still being written")
    (inbox / ".hidden.csv").write_text("id,text\n1,not an input")

    code, manifest = run(boxes, model)
    assert code == 0 and manifest["status"] == "ok" and manifest["exit_code"] == 0
    assert manifest["model"]["name"] == "scoring-tiny" and manifest["model"]["version"] == "1"
    got = entries(manifest)
    assert set(got) == {"monday.csv", "tuesday.jsonl"}
    for name, rows in (("monday.csv", 30), ("tuesday.jsonl", 12)):
        e = got[name]
        assert e["state"] == "scored" and e["rows_in"] == e["rows_out"] == rows
        assert sum(e["status_counts"].values()) == rows and e["seconds"] >= 0
        assert len(pd.read_parquet(boxes / "outbox" / e["output"])) == rows
        assert (boxes / "archive" / name).exists() and not (inbox / name).exists()
    assert manifest["totals"]["rows_in"] == manifest["totals"]["rows_out"] == 42
    assert sorted(p.name for p in inbox.iterdir()) == [".hidden.csv", "wednesday.csv.part"]


def test_an_input_delivered_again_is_not_scored_twice(model, boxes):
    sample_frame(20).to_csv(boxes / "inbox" / "export.csv", index=False)
    run(boxes, model)
    (output,) = (boxes / "outbox").glob("*.scored.parquet")
    first_mtime = output.stat().st_mtime_ns
    (boxes / "inbox" / "export.csv").write_bytes((boxes / "archive" / "export.csv").read_bytes())

    code, manifest = run(boxes, model)
    assert code == 0 and entries(manifest)["export.csv"]["state"] == "already processed"
    assert output.stat().st_mtime_ns == first_mtime and not (boxes / "inbox" / "export.csv").exists()
    assert len((boxes / "outbox" / "processed.jsonl").read_text().splitlines()) == 1


def test_a_job_stopped_after_scoring_but_before_recording_does_not_score_again(model, boxes, monkeypatch):
    sample_frame(20).to_csv(boxes / "inbox" / "a.csv", index=False)
    real_record = batch_score._record

    def crash(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(batch_score, "_record", crash)
    code, manifest = run(boxes, model)
    assert code == 130 and manifest["status"] == "interrupted"
    (output,) = (boxes / "outbox").glob("a-*.scored.parquet")
    mtime = output.stat().st_mtime_ns
    assert (boxes / "inbox" / "a.csv").exists()

    monkeypatch.setattr(batch_score, "_record", real_record)
    code, manifest = run(boxes, model)
    assert code == 0 and entries(manifest)["a.csv"]["state"] == "already processed"
    assert output.stat().st_mtime_ns == mtime and (boxes / "archive" / "a.csv").exists()


def test_a_killed_job_resumes_its_input_where_it_stopped(model, boxes):
    sample_frame(2000)[["id", "text"]].to_csv(boxes / "inbox" / "big.csv", index=False)
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "pipelines" / "batch_score.py"), "--inbox", str(boxes / "inbox"),
                             "--outbox", str(boxes / "outbox"), "--archive", str(boxes / "archive"),
                             "--model", model.ref, "--chunk-size", "20"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while len(list((boxes / "outbox").glob("*.parts/chunk-*.parquet"))) < 3:
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    code, manifest = run(boxes, model, "--chunk-size", 20)
    e = entries(manifest)["big.csv"]
    assert code == 0 and e["state"] == "scored" and e["chunks_resumed"] >= 3 and e["rows_out"] == 2000
    assert pd.read_parquet(boxes / "outbox" / e["output"])["id"].tolist() == sample_frame(2000)["id"].tolist()


def test_a_bad_input_stays_in_the_inbox_and_the_others_go_on(model, boxes):
    pd.DataFrame({"id": [1, 2], "comment": ["no text column", "here"]}).to_csv(boxes / "inbox" / "bad.csv", index=False)
    sample_frame(10).to_csv(boxes / "inbox" / "good.csv", index=False)
    code, manifest = run(boxes, model)
    got = entries(manifest)
    assert code == 2 and manifest["status"] == "failed"
    assert got["bad.csv"]["state"] == "failed" and "no text column" in got["bad.csv"]["error"]
    assert got["good.csv"]["state"] == "scored"
    assert (boxes / "inbox" / "bad.csv").exists() and (boxes / "archive" / "good.csv").exists()


def test_a_second_job_on_the_same_outbox_is_refused(model, boxes, capsys):
    sample_frame(5).to_csv(boxes / "inbox" / "a.csv", index=False)
    with open(boxes / "outbox" / ".batch_score.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        code = batch_score.main(["--inbox", str(boxes / "inbox"), "--outbox", str(boxes / "outbox"),
                                 "--archive", str(boxes / "archive"), "--model", model.ref])
    assert code == 2 and "another batch job is running" in capsys.readouterr().err
    assert (boxes / "inbox" / "a.csv").exists()
