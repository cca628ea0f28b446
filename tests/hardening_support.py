"""One tiny trained model shared by the hardening tests (bad inputs, properties, crashes, integrity, privacy).

Training takes seconds, so it happens once per test session, through the real command line
(``complaintml train``), into a temporary folder with its own MLflow store. The training data
is 300 rows of the shipped sample plus a few invented sentinel comments, so the privacy tests
can look for those sentences in everything the run left behind. Logs and console output of
the run are kept for the same reason.

Test modules use it through their own session fixtures::

    @pytest.fixture(scope="session")
    def tiny(tmp_path_factory):
        return tiny_model(tmp_path_factory)
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT, SAMPLE

MODEL_NAME = "hardening-tiny"
# Invented comments with made-up words: none of them can occur anywhere by chance.
TRAIN_SENTINELS = [
    "Quorbelline Vantrassek told me my scan showed glimmering zephyrquats near the marrow.",
    "The porter Dravonelle Ispwick left me by the fluttermoss trolley for three hours.",
    "Nobody explained why the brumblewick infusion stung like frozen quandaline.",
]
SCORE_SENTINELS = [
    "Tessaline Orrowbeck whispered that the snorvaquin tablets were mislabelled again.",
    "My neighbour Halvreth Quimbolt saw the splindergate ward left unlocked all night.",
]
# Words that appear in exactly one comment each: below min_df, so they must not reach the model.
RARE_WORDS = ["Quorbelline", "Vantrassek", "zephyrquats", "Dravonelle", "Ispwick", "fluttermoss",
              "brumblewick", "quandaline", "Tessaline", "Orrowbeck", "snorvaquin", "Halvreth", "Quimbolt",
              "splindergate"]
TRAIN_CONFIG = """\
[model]
cv_folds = 2
max_char_features = 5000
min_positive = 3
[evaluation]
bootstrap = 20
[scoring]
alerts = "{alerts}"
"""


@dataclass
class TinyModel:
    """Where the session's model and its MLflow store live, and what its training run printed."""

    root: Path            # working directory of the training run (holds mlflow.db and mlruns/)
    model_dir: Path       # the exported, verified model folder
    tracking_uri: str
    version: str
    train_csv: Path
    config: Path
    train_result: object  # training.TrainResult of the run (reused by tests that stub the fit)
    console: str          # stdout + stderr of `complaintml train`
    log_text: str         # every log record emitted during training, formatted

    @property
    def registry_uri(self) -> str:
        return f"models:/{MODEL_NAME}/{self.version}"


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


@contextlib.contextmanager
def capture_logs():
    """Collect every log record (DEBUG and up) into a list of formatted lines."""
    handler = _Collect()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


@contextlib.contextmanager
def in_store(tiny: TinyModel):
    """Point MLflow at the tiny model's store (and cwd at its folder), then restore both exactly."""
    import mlflow
    from mlflow.tracking._tracking_service import utils as mlflow_uri

    previous = mlflow_uri._tracking_uri  # None when unset: set_tracking_uri(None) unsets it again
    mp = pytest.MonkeyPatch()
    mp.chdir(tiny.root)
    mp.setenv("MLFLOW_TRACKING_URI", tiny.tracking_uri)
    mlflow.set_tracking_uri(tiny.tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)
        mp.undo()


def training_frame() -> pd.DataFrame:
    """300 sample rows plus the sentinel comments (labeled like ordinary complaints)."""
    df = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False).head(300)
    extra = pd.DataFrame({"id": [f"sentinel{i}" for i in range(len(TRAIN_SENTINELS))], "text": TRAIN_SENTINELS,
                          "polarity": "negative", "feelings": "anxious", "root_causes": "communication",
                          "split": "train"})
    return pd.concat([df, extra], ignore_index=True).fillna("")


_CACHE: dict[str, TinyModel] = {}


def tiny_model(tmp_path_factory) -> TinyModel:
    """Train the session's model once (about 15 s) and return where everything is."""
    if "model" in _CACHE:
        return _CACHE["model"]
    from typer.testing import CliRunner

    import complaintml.pipeline as pipeline
    from complaintml.cli import app

    root = tmp_path_factory.mktemp("tiny_model")
    train_csv = root / "train.csv"
    training_frame().to_csv(train_csv, index=False)
    config = root / "tiny.toml"
    config.write_text(TRAIN_CONFIG.format(alerts=(ROOT / "configs" / "alerts.yaml").as_posix()))
    tiny = TinyModel(root=root, model_dir=root / "not" / "yet" / "there" / "model",
                     tracking_uri=f"sqlite:///{root / 'mlflow.db'}", version="", train_csv=train_csv, config=config,
                     train_result=None, console="", log_text="")
    results = []
    real_train = pipeline.train

    def keep_result(ds, cfg):
        results.append(real_train(ds, cfg))
        return results[-1]

    with in_store(tiny), capture_logs() as lines, pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "train", keep_result)
        # The export folder's parents do not exist yet: `train` must create them.
        result = CliRunner().invoke(app, ["train", "--data", str(train_csv), "--config", str(config),
                                          "--model-out", str(tiny.model_dir), "--register", MODEL_NAME])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    tiny.version = str(summary["version"])
    tiny.train_result = results[0]
    tiny.console = result.output + (result.stderr or "")
    tiny.log_text = "\n".join(lines)
    _CACHE["model"] = tiny
    return tiny
