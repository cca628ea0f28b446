"""One tiny model shared by the batch-scoring tests (test_scoring, test_spark, test_batch_job).

It is trained once per test session through ``complaintml.pipeline.run_training`` on 300
rows of the shipped sample (2 CV folds), with its own MLflow store in a temporary folder.
Test modules use it through their own session fixtures::

    @pytest.fixture(scope="session")
    def model(tmp_path_factory):
        return scoring_model(tmp_path_factory)
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT, SAMPLE

CONFIG = """\
[model]
cv_folds = 2
max_char_features = 5000
[evaluation]
bootstrap = 20
[scoring]
max_chars = 2000
alerts = "{alerts}"
"""


@dataclass
class ScoringModel:
    root: Path
    model_dir: Path
    tracking_uri: str
    bundle: object

    @property
    def ref(self) -> str:
        return str(self.model_dir)


_CACHE: dict[str, ScoringModel] = {}


def scoring_model(tmp_path_factory) -> ScoringModel:
    """Train the session's model once and load it."""
    if "model" in _CACHE:
        return _CACHE["model"]
    import mlflow
    from mlflow.tracking._tracking_service import utils as mlflow_uri

    from complaintml.bundle import load_bundle
    from complaintml.pipeline import run_training
    from complaintml.taxonomy import load_taxonomy

    root = tmp_path_factory.mktemp("scoring_model")
    data = root / "train.csv"
    pd.read_csv(SAMPLE, dtype=str, keep_default_na=False).head(300).to_csv(data, index=False)
    config = root / "tiny.toml"
    config.write_text(CONFIG.format(alerts=(ROOT / "configs" / "alerts.yaml").as_posix()))
    uri = f"sqlite:///{root / 'mlflow.db'}"
    previous = mlflow_uri._tracking_uri
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        try:
            run_training(data, load_taxonomy(ROOT / "configs" / "taxonomy" / "default.yaml"), config,
                         model_out=root / "model", register="scoring-tiny")
        finally:
            mlflow.set_tracking_uri(previous)
    _CACHE["model"] = ScoringModel(root=root, model_dir=root / "model", tracking_uri=uri,
                                   bundle=load_bundle(root / "model"))
    return _CACHE["model"]


def sample_frame(n: int = 200) -> pd.DataFrame:
    """``n`` rows of the shipped sample (ids, text, label and segment columns), cycled when n > its size."""
    df = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    df = pd.concat([df] * (n // len(df) + 1), ignore_index=True).head(n)
    df["id"] = [f"r{i:06d}" for i in range(n)]
    return df


def cli(*args: str, env: dict | None = None, **popen) -> subprocess.Popen:
    """Start ``complaintml ARGS`` as a separate process."""
    full_env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", **(env or {})}
    return subprocess.Popen([sys.executable, "-c", "from complaintml.cli import app; app()", *args], env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
