"""Context columns: a taxonomy may name columns (e.g. the survey question) read beside the text."""

import json
import logging

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from complaintml.bundle import load_bundle
from complaintml.cli import app
from complaintml.errors import InputError, TaxonomyError
from complaintml.model import ComplaintClassifier
from complaintml.taxonomy import Taxonomy

GOOD, IMPROVE = "What was good?", "How could we improve?"
ANSWERS = ["Nothing", "The staff", "Everything", "The waiting", "All of it", "Not sure", "The phone line", "The food"]
SPEC = {"name": "survey", "text_column": "answer", "id_column": "id", "context_columns": ["question"],
        "heads": [{"name": "kind", "kind": "multiclass", "labels": ["praise", "suggestion"]}]}


def _frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    # The answers are drawn alike under both questions: only the question tells the label.
    rng = np.random.default_rng(seed)
    question = np.where(rng.random(n) < 0.5, GOOD, IMPROVE)
    return pd.DataFrame({"id": range(n), "answer": rng.choice(ANSWERS, n), "question": question,
                         "kind": np.where(question == GOOD, "praise", "suggestion")})


def test_taxonomy_reads_and_checks_context_columns():
    assert Taxonomy.from_dict(SPEC).context_columns == ("question",)
    assert Taxonomy.from_dict(SPEC).to_dict()["context_columns"] == ["question"]
    with pytest.raises(TaxonomyError, match="context_columns"):
        Taxonomy.from_dict({**SPEC, "context_columns": "question"})


def test_the_model_learns_from_the_context_column():
    train, test = _frame(), _frame(seed=1)
    est = ComplaintClassifier(taxonomy=SPEC, text_column="answer", cv_folds=3, use_char=False).fit(train, train)
    assert (est.predict(test)["kind"] == test["kind"]).mean() == 1.0
    # Without the question (a list of texts), the same answers cannot be told apart.
    blind = est.predict(test["answer"].tolist())["kind"]
    assert (blind == test["kind"]).mean() < 0.8
    # Case and spacing of the question do not matter.
    shouty = test.assign(question=test["question"].str.upper().str.replace(" ", "  "))
    assert est.predict(shouty)["kind"].tolist() == est.predict(test)["kind"].tolist()


def test_training_data_without_a_context_column_is_refused(tmp_path):
    (tmp_path / "tax.yaml").write_text(json.dumps(SPEC))
    _frame().drop(columns="question").to_csv(tmp_path / "train.csv", index=False)
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "train.csv"), "--taxonomy", str(tmp_path / "tax.yaml"),
                                      "--no-tracking", "--model-out", str(tmp_path / "m")])
    assert result.exit_code == InputError.exit_code
    assert "'question'" in result.output and "train.csv" in result.output


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("context")
    (tmp / "tax.yaml").write_text(json.dumps(SPEC))
    (tmp / "fast.toml").write_text("[model]\ncv_folds = 3\nuse_char = false\n[evaluation]\nbootstrap = 0\n")
    _frame().to_csv(tmp / "train.csv", index=False)
    result = CliRunner().invoke(app, ["train", "--data", str(tmp / "train.csv"), "--taxonomy", str(tmp / "tax.yaml"),
                                      "--config", str(tmp / "fast.toml"), "--no-tracking", "--model-out", str(tmp / "m")])
    assert result.exit_code == 0, result.output
    return tmp / "m"


def test_model_card_names_the_context_columns(model_dir):
    assert "`question`" in (model_dir / "MODEL_CARD.md").read_text(encoding="utf-8")


def test_scoring_reads_the_context_and_pyfunc_agrees(model_dir, tmp_path):
    test = _frame(seed=2)
    test.drop(columns="kind").to_csv(tmp_path / "in.csv", index=False)
    result = CliRunner().invoke(app, ["score", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.parquet"),
                                      "--model", str(model_dir)])
    assert result.exit_code == 0, result.output
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert out["kind"].tolist() == test["kind"].tolist()
    pyfunc = mlflow.pyfunc.load_model(str(model_dir)).predict(test[["answer", "question"]])
    assert pyfunc["kind"].tolist() == test["kind"].tolist()
    assert load_bundle(model_dir).predict_columns(test["answer"], context=test)["kind"].tolist() == test["kind"].tolist()


def test_scoring_without_the_context_column_warns_and_keeps_every_row(model_dir, tmp_path, caplog):
    _frame(seed=3)[["id", "answer"]].to_csv(tmp_path / "in.csv", index=False)
    with caplog.at_level(logging.WARNING):
        result = CliRunner().invoke(app, ["score", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.csv"),
                                          "--model", str(model_dir)])
    assert result.exit_code == 0, result.output
    assert "'question'" in caplog.text + result.output
    assert len(pd.read_csv(tmp_path / "out.csv", encoding="utf-8-sig")) == 240
