"""Shared test settings: telemetry off, and paths to the shipped sample and shared benchmarks."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "labeled_sample" / "comments.csv"
DEFAULT_TAXONOMY = ROOT / "configs" / "taxonomy" / "default.yaml"
SHARED_BENCH = ROOT.parent / "shared" / "benchmarks"


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    """A private MLflow store for one test, in a temporary working directory."""
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri
