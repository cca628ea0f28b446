"""Train on the shipped sample, register in MLflow, export, score: the main job, end to end."""

import json

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from complaintml.bundle import load_bundle
from complaintml.cli import app

from conftest import SAMPLE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    mp = pytest.MonkeyPatch()
    mp.chdir(tmp)
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp / 'mlflow.db'}")
    config = tmp / "fast.toml"
    config.write_text("[model]\ncv_folds = 3\n[evaluation]\nbootstrap = 50\n")
    result = CliRunner().invoke(app, ["train", "--data", str(SAMPLE), "--config", str(config),
                                      "--model-out", str(tmp / "model")])
    yield tmp, result
    mp.undo()


def test_train_registers_challenger_and_exports(trained):
    tmp, result = trained
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["version"] == "1" and summary["rows_test"] > 300
    assert summary["metrics"]["test"]["feelings"]["macro_f1"] > 0.4
    mv = MlflowClient().get_model_version_by_alias("complaintml-default", "challenger")
    assert str(mv.version) == "1"
    run = MlflowClient().get_run(summary["run_id"])
    assert "test.root_causes.macro_f1" in run.data.metrics and run.data.params["model.C"] == "4.0"
    manifest = json.loads((tmp / "model" / "manifest.json").read_text())
    assert set(manifest["labels"]) == {"polarity", "feelings", "root_causes"} and manifest["files"]
    assert "## Limitations" in (tmp / "model" / "MODEL_CARD.md").read_text()


def test_cli_registry_and_pyfunc_give_the_same_output(trained):
    tmp, _ = trained
    sample = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False).head(60)
    sample.to_csv(tmp / "new.csv", index=False)
    r = CliRunner().invoke(app, ["score", str(tmp / "new.csv"), "-o", str(tmp / "scored.parquet"),
                                 "--model", str(tmp / "model")])
    assert r.exit_code == 0, r.output
    scored = pd.read_parquet(tmp / "scored.parquet")
    assert scored["id"].tolist() == sample["id"].tolist()
    assert "polarity__given" in scored.columns
    via_registry = load_bundle("models:/complaintml-default@challenger").predict_columns(sample["text"])
    via_pyfunc = mlflow.pyfunc.load_model(str(tmp / "model")).predict(sample[["text"]])
    cols = [c for c in via_pyfunc.columns if c != "model_version"]
    pd.testing.assert_frame_equal(via_pyfunc[cols], via_registry[cols], check_dtype=False)
    pd.testing.assert_frame_equal(scored[cols].reset_index(drop=True), via_pyfunc[cols], check_dtype=False)
    assert via_registry["model_version"].iloc[0] == "1"


def test_promote_sets_champion_and_default_model_resolves(trained):
    r = CliRunner().invoke(app, ["promote", "complaintml-default", "--version", "1"])
    assert r.exit_code == 0, r.output
    assert str(MlflowClient().get_model_version_by_alias("complaintml-default", "champion").version) == "1"
    r = CliRunner().invoke(app, ["promote", "complaintml-default", "--version", "9"])
    assert r.exit_code == 3 and "no version 9" in r.output
