"""Model integrity: a model that was changed after training is refused before anything is unpickled.

Every test replaces joblib's loader with a spy, so "refused before unpickling" is checked, not
assumed: a refused model must leave the spy untouched. The trust model these tests pin down
is written up in docs/TRUST_MODEL.md.
"""

import json
import shutil
from pathlib import Path

import joblib
import joblib.numpy_pickle
import pytest
from typer.testing import CliRunner

from complaintml.bundle import load_bundle
from complaintml.cli import app
from complaintml.errors import ModelError

from hardening_support import in_store, tiny_model

ESTIMATOR = Path("artifacts") / "bundle" / "estimator.joblib"


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    return tiny_model(tmp_path_factory)


@pytest.fixture
def unpickles(monkeypatch):
    """Calls that reached joblib's unpickler (they still go through, so an accepted model loads)."""
    calls = []
    real_load = joblib.load
    real_unpickle = joblib.numpy_pickle.NumpyUnpickler.load

    def spy_load(*args, **kwargs):
        calls.append("joblib.load")
        return real_load(*args, **kwargs)

    def spy_unpickle(self):
        calls.append("NumpyUnpickler.load")
        return real_unpickle(self)

    monkeypatch.setattr(joblib, "load", spy_load)
    monkeypatch.setattr(joblib.numpy_pickle.NumpyUnpickler, "load", spy_unpickle)
    return calls


@pytest.fixture
def model_copy(tiny, tmp_path):
    dest = tmp_path / "model"
    shutil.copytree(tiny.model_dir, dest)
    return dest


def _flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if offset is None else offset
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def test_untouched_copy_loads_and_the_spy_sees_it(model_copy, unpickles):
    """Control: an untouched exported model loads, and the unpickling spy records it."""
    bundle = load_bundle(model_copy)
    assert bundle.name == "hardening-tiny"
    assert "joblib.load" in unpickles


def test_flipped_byte_in_estimator_is_refused_before_unpickling(model_copy, unpickles):
    """One flipped bit in estimator.joblib: refused (sha256 mismatch), nothing unpickled."""
    _flip_byte(model_copy / ESTIMATOR)
    with pytest.raises(ModelError, match="estimator.joblib does not match its recorded sha256"):
        load_bundle(model_copy)
    assert unpickles == []


@pytest.mark.parametrize("name", ["MLmodel", "pyfunc.py", "artifacts/bundle/bundle.json", "MODEL_CARD.md"])
def test_changed_side_file_is_refused(model_copy, unpickles, name):
    """Any changed file of the model folder (code, metadata, card) is refused, not only the estimator."""
    (model_copy / name).write_bytes((model_copy / name).read_bytes() + b"\n# appended\n")
    with pytest.raises(ModelError, match="does not match its recorded sha256"):
        load_bundle(model_copy)
    assert unpickles == []


@pytest.mark.parametrize("extra", ["evil.pkl", "artifacts/bundle/extra.joblib", "artifacts/notes.txt"])
def test_unknown_extra_file_is_refused(model_copy, unpickles, extra):
    """A file that the manifest does not list (anywhere in the folder) is refused."""
    target = model_copy / extra
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"cos\nsystem\n(S'echo owned'\ntR.")
    with pytest.raises(ModelError, match="not in the manifest"):
        load_bundle(model_copy)
    assert unpickles == []


def test_missing_manifest_is_refused(model_copy, unpickles):
    """No manifest.json: the folder cannot be verified, so it is refused."""
    (model_copy / "manifest.json").unlink()
    with pytest.raises(ModelError, match="no manifest.json"):
        load_bundle(model_copy)
    assert unpickles == []


def test_file_listed_but_missing_is_refused(model_copy, unpickles):
    """A file that the manifest lists but the folder lacks (a partial copy) is refused."""
    (model_copy / "MODEL_CARD.md").unlink()
    with pytest.raises(ModelError, match="MODEL_CARD.md is missing"):
        load_bundle(model_copy)
    assert unpickles == []


def test_estimator_swapped_for_another_model_is_refused(model_copy, tiny, unpickles):
    """A different (valid) pickle put in place of the estimator is refused: only the recorded bytes load."""
    joblib.dump({"not": "the trained model"}, model_copy / ESTIMATOR)
    unpickles.clear()
    with pytest.raises(ModelError, match="does not match its recorded sha256"):
        load_bundle(model_copy)
    assert unpickles == []


def test_cli_refuses_tampered_model_with_exit_code_3(model_copy, tmp_path, unpickles):
    """`complaintml score` on a tampered model: one line, exit code 3, no traceback, no output file."""
    _flip_byte(model_copy / ESTIMATOR)
    data = tmp_path / "in.csv"
    data.write_text("id,text\n1,the wait was long\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["score", str(data), "-o", str(tmp_path / "out.csv"), "--model", str(model_copy)])
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    assert result.output.strip().count("\n") == 0 and result.output.startswith("error:")
    assert "sha256" in result.output
    assert not (tmp_path / "out.csv").exists()
    assert unpickles == []


def _registry_estimator(tiny) -> Path:
    """The estimator file of the registered model version inside the MLflow artifact store."""
    from mlflow import MlflowClient

    with in_store(tiny):
        source = MlflowClient().get_model_version("hardening-tiny", tiny.version).source  # models:/m-<id>
    model_id = source.rsplit("/", 1)[-1]
    found = [p for p in (tiny.root / "mlruns").rglob("MLmodel") if model_id in p.parts]
    assert len(found) == 1, f"registered model {source} not found in the artifact store"
    return found[0].parent / ESTIMATOR


def test_registry_model_whose_estimator_differs_from_model_config_is_refused(tiny, unpickles):
    """models:/NAME/N whose estimator.joblib no longer matches model_config's sha256: refused, nothing unpickled."""
    import yaml

    path = _registry_estimator(tiny)
    recorded = yaml.safe_load((path.parents[2] / "MLmodel").read_text())["flavors"]["python_function"]["config"]
    original = path.read_bytes()
    try:
        _flip_byte(path)
        with in_store(tiny):
            with pytest.raises(ModelError, match="sha256 does not match"):
                load_bundle(tiny.registry_uri)
        assert unpickles == []
    finally:
        path.write_bytes(original)
    assert recorded["estimator_sha256"]
    with in_store(tiny):  # restored: loads again, through the spy
        assert load_bundle(tiny.registry_uri).name == "hardening-tiny"
    assert unpickles


def test_manifest_records_every_file_and_the_estimator_hash(tiny):
    """The manifest lists every file of the export with its sha256, and the estimator hash it was trained with."""
    manifest = json.loads((tiny.model_dir / "manifest.json").read_text())
    on_disk = {str(p.relative_to(tiny.model_dir)) for p in tiny.model_dir.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(manifest["files"]) == on_disk
    assert manifest["files"][str(ESTIMATOR)] == manifest["estimator_sha256"]


def test_manifest_hash_matches_the_independent_record_in_the_tracking_database(tiny):
    """The exported estimator's hash equals the run tag complaintml.estimator_sha256 in the MLflow database."""
    from mlflow import MlflowClient

    manifest = json.loads((tiny.model_dir / "manifest.json").read_text())
    with in_store(tiny):
        run = MlflowClient().get_run(manifest["mlflow_run_id"])
    assert run.data.tags["complaintml.estimator_sha256"] == manifest["estimator_sha256"]
