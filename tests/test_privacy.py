"""No comment text leaves the data files: not in MLflow (database or artifacts), not in logs.

The session's model was trained on data holding invented sentinel comments, and here a batch
of comments holding other sentinels is scored through the registry. Every byte that MLflow
stored, every exported model file (pickles decompressed), every log record and everything
printed is then searched for the sentinels' sentences and for their made-up words (each used
in one comment only, so no legitimate feature can contain them).
"""

import pickle
from pathlib import Path

import joblib
import pandas as pd
import pytest
from typer.testing import CliRunner

from complaintml.cli import app

from conftest import SAMPLE
from hardening_support import RARE_WORDS, SCORE_SENTINELS, TRAIN_SENTINELS, capture_logs, in_store, tiny_model

SENTENCES = TRAIN_SENTINELS + SCORE_SENTINELS
NEEDLES = [s.encode() for s in SENTENCES] + [w.lower().encode() for w in RARE_WORDS]
# Identifiers added to the scored sentinels: they must be masked in the scored file too.
PHI = {"07700 900123": "[PHONE]", "tessa.orrowbeck@example.org": "[EMAIL]", "Dr Quimbolt": "Dr [NAME]"}


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    return tiny_model(tmp_path_factory)


@pytest.fixture(scope="module")
def scoring_run(tiny, tmp_path_factory):
    """Score sentinel comments through models:/NAME/N; keep console output and every log record."""
    d = tmp_path_factory.mktemp("privacy")
    df = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False).head(30)[["id", "text", "site"]]
    sentinels = [SCORE_SENTINELS[0] + " Call me on 07700 900123 or tessa.orrowbeck@example.org.",
                 SCORE_SENTINELS[1] + " Dr Quimbolt never came."]
    df = pd.concat([df, pd.DataFrame({"id": ["s1", "s2"], "text": sentinels, "site": "X"})], ignore_index=True)
    df.to_csv(d / "in.csv", index=False)
    # The same sentinels in broken files: the errors must name rows, not quote them.
    (d / "ragged.csv").write_text(f"id,text\n1,fine\n2,{SCORE_SENTINELS[0]},extra\n", encoding="utf-8")
    (d / "unclosed.csv").write_text(f'id,text\n1,fine\n2,"{SCORE_SENTINELS[1]}\n3,more\n', encoding="utf-8")
    runner = CliRunner()
    with in_store(tiny), capture_logs() as lines:
        ok = runner.invoke(app, ["score", str(d / "in.csv"), "-o", str(d / "out.csv"), "--model", tiny.registry_uri])
        bad = [runner.invoke(app, ["score", str(d / name), "-o", str(d / "bad.csv"), "--model", str(tiny.model_dir)])
               for name in ("ragged.csv", "unclosed.csv")]
    assert ok.exit_code == 0, ok.output
    assert [r.exit_code for r in bad] == [2, 2]
    console = "\n".join(r.output + (r.stderr or "") for r in [ok, *bad])
    return d, console, "\n".join(lines)


def _store_files(tiny) -> list[Path]:
    """Everything MLflow wrote (database and its journals, artifact folder) and the exported model."""
    files = [p for p in tiny.root.glob("mlflow.db*") if p.is_file()]
    files += [p for p in (tiny.root / "mlruns").rglob("*") if p.is_file()]
    files += [p for p in tiny.model_dir.rglob("*") if p.is_file()]
    return files


def _readable_bytes(path: Path) -> bytes:
    """The file's bytes; for a (compressed) joblib pickle, the uncompressed pickle as well."""
    data = path.read_bytes()
    if path.suffix == ".joblib":
        data += pickle.dumps(joblib.load(path))  # our own model: safe to load
    return data


def _leaks(text_or_bytes) -> list[str]:
    data = text_or_bytes.encode() if isinstance(text_or_bytes, str) else text_or_bytes
    low = data.lower()
    return [n.decode() for n in NEEDLES if n in data or n.lower() in low]


def test_mlflow_store_and_exported_model_hold_no_comment_text(tiny, scoring_run):
    """After training and scoring, no sentinel sentence or word is in mlflow.db, mlruns/ or the exported model."""
    files = _store_files(tiny)
    assert any(p.name == "mlflow.db" for p in files) and any(p.suffix == ".joblib" for p in files)
    found = {str(p.relative_to(tiny.root)): hits for p in files if (hits := _leaks(_readable_bytes(p)))}
    assert found == {}


def test_sentinels_are_really_in_the_training_data(tiny):
    """Control: the sentinels were in the data the model was trained on (so their absence above means something)."""
    data = tiny.train_csv.read_text(encoding="utf-8")
    assert all(s in data for s in TRAIN_SENTINELS)
    assert tiny.train_result.n_train > 200


def test_training_logs_and_console_hold_no_comment_text(tiny):
    """Every log record and everything `complaintml train` printed: no sentinel sentence or word."""
    assert tiny.log_text and tiny.console
    assert _leaks(tiny.log_text) == [] and _leaks(tiny.console) == []


def test_scoring_logs_console_and_errors_hold_no_comment_text(scoring_run):
    """Scoring logs and output, and the errors about broken rows, name rows but never quote comment text."""
    _, console, logs = scoring_run
    assert "row 2" in console  # the errors did name the row
    assert _leaks(console) == [] and _leaks(logs) == []


def test_scored_file_masks_identifiers_by_default(scoring_run):
    """The scored file keeps the comment (it is the product) but with identifiers masked."""
    d, _, _ = scoring_run
    out = pd.read_csv(d / "out.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    text = "\n".join(out["text"])
    for raw, tag in PHI.items():
        assert raw not in text and tag in text


def test_registered_model_pickle_has_no_rare_training_words(tiny):
    """Words used in one training comment only (below min_df) do not survive into any stored estimator."""
    pickles = [p for p in _store_files(tiny) if p.suffix == ".joblib"]
    assert len(pickles) >= 2  # the registered copy in mlruns/ and the exported one
    for path in pickles:
        body = pickle.dumps(joblib.load(path)).lower()
        assert [w for w in RARE_WORDS if w.lower().encode() in body] == [], path
