"""Saving, verifying and loading trained models (the only module that unpickles).

A model is exported as an MLflow pyfunc directory with, beside MLflow's own files:

* ``artifacts/bundle/estimator.joblib``: the fitted :class:`ComplaintClassifier`;
* ``artifacts/bundle/bundle.json``: name, version, scoring settings, alert rules, metrics;
* ``manifest.json``: labels, thresholds, versions, hashes and the sha256 of every file;
* ``MODEL_CARD.md``.

Trust model: joblib files can run code when loaded, so nothing is unpickled before its
sha256 matches the one recorded at training time (in the manifest for a directory, and in
the MLflow model's ``model_config`` for a registry URI, which the MLflow run also records).
A file that was changed, or a directory without a manifest, is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import joblib

from .alerts import compile_rules
from .errors import ModelError
from .model import ComplaintClassifier
from .taxonomy import Taxonomy

__all__ = ["ModelBundle", "save_bundle_files", "export_model", "load_bundle", "verify_dir", "sha256_file",
           "PYFUNC_CODE", "pip_requirements"]

PYFUNC_CODE = Path(__file__).with_name("pyfunc.py")
ESTIMATOR_FILE = "estimator.joblib"
META_FILE = "bundle.json"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class ModelBundle:
    """A fitted estimator plus what is needed to score with it and to describe it."""

    estimator: ComplaintClassifier
    name: str
    version: str = "local"
    scoring: dict = field(default_factory=dict)
    alert_rules: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    @cached_property
    def taxonomy(self) -> Taxonomy:
        return Taxonomy.from_dict(self.estimator.taxonomy_)

    @cached_property
    def compiled_alerts(self) -> dict:
        return compile_rules(self.alert_rules)

    @property
    def limitations(self) -> list[str]:
        return list(self.info.get("limitations", []))

    @property
    def digest(self) -> str:
        return str(self.info.get("estimator_sha256", ""))[:16]

    def predict_columns(self, texts, thresholds: dict | None = None, context=None):
        from .scoring import predict_columns

        return predict_columns(self, texts, thresholds, context)


def pip_requirements() -> list[str]:
    from importlib.metadata import version

    pkgs = ["scikit-learn", "spacy", "pandas", "numpy", "scipy", "joblib", "pyarrow", "pyyaml", "iterative-stratification",
            "mlflow"]
    return [f"{p}=={version(p)}" for p in pkgs]


def save_bundle_files(bundle: ModelBundle, folder: Path) -> dict:
    """Write estimator + metadata into ``folder``; return the metadata with the estimator's sha256."""
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(bundle.estimator, folder / ESTIMATOR_FILE, compress=3)
    sha = sha256_file(folder / ESTIMATOR_FILE)
    bundle.info["estimator_sha256"] = sha
    meta = {"name": bundle.name, "version": str(bundle.version), "scoring": bundle.scoring,
            "alert_rules": bundle.alert_rules, "info": bundle.info}
    (folder / META_FILE).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    return meta


def _input_example(tax):
    import pandas as pd

    # Invented, not patient text: the example is stored with the model. Its columns become the
    # model's input signature: the text column and any context columns.
    example = {tax.text_column: ["Example comment: the wait was long but the nurse explained everything."]}
    return pd.DataFrame({**example, **{c: ["example"] for c in tax.context_columns}})


def export_model(bundle: ModelBundle, out_dir: Path, model_card: str = "") -> Path:
    """Write an MLflow pyfunc directory + manifest + model card at ``out_dir`` (replacing it)."""
    import mlflow

    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        meta = save_bundle_files(bundle, Path(tmp) / "bundle")
        staged = Path(tmp) / "model"
        mlflow.pyfunc.save_model(path=staged, python_model=str(PYFUNC_CODE), artifacts={"bundle": str(Path(tmp) / "bundle")},
                                 model_config={"estimator_sha256": meta["info"]["estimator_sha256"]},
                                 pip_requirements=pip_requirements(), input_example=_input_example(bundle.taxonomy))
        if model_card:
            (staged / "MODEL_CARD.md").write_text(model_card, encoding="utf-8")
        files = {str(p.relative_to(staged)): sha256_file(p) for p in sorted(staged.rglob("*")) if p.is_file()}
        manifest = {
            "name": bundle.name, "version": str(bundle.version), "taxonomy": bundle.estimator.taxonomy_,
            "labels": {h.name: h.label_names for h in bundle.taxonomy.heads},
            "thresholds": bundle.estimator.thresholds_, "untrained_labels": bundle.estimator.untrained_labels_,
            "params": bundle.estimator.get_params(), "versions": _versions(), **bundle.info, "files": files,
        }
        (staged / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staged), out_dir)
    return out_dir


def _versions() -> dict:
    from importlib.metadata import version

    return {"python": platform.python_version(),
            **{p: version(p) for p in ("complaintml", "scikit-learn", "spacy", "mlflow", "pandas") if _has(p)}}


def _has(pkg: str) -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        version(pkg)
        return True
    except PackageNotFoundError:
        return False


def verify_dir(model_dir: Path) -> dict:
    """Check every file against ``manifest.json``; return the manifest or raise ModelError."""
    manifest_path = model_dir / "manifest.json"
    if not manifest_path.is_file():
        raise ModelError(f"{model_dir}: no manifest.json; refusing to load an unverified model")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    recorded = manifest.get("files", {})
    present = {str(p.relative_to(model_dir)) for p in model_dir.rglob("*") if p.is_file()} - {"manifest.json"}
    unknown = sorted(present - set(recorded))
    if unknown:
        raise ModelError(f"{model_dir}: file(s) not in the manifest: {', '.join(unknown[:3])}; refusing to load")
    for rel, sha in recorded.items():
        path = model_dir / rel
        if not path.is_file():
            raise ModelError(f"{model_dir}: {rel} is missing")
        if sha256_file(path) != sha:
            raise ModelError(f"{model_dir}: {rel} does not match its recorded sha256 (changed or corrupt); refusing to load")
    return manifest


def load_bundle_files(folder: Path, expected_sha: str, version: str | None = None) -> ModelBundle:
    """Load from an artifacts folder after checking the estimator's sha256 (called by the pyfunc)."""
    est_path = Path(folder) / ESTIMATOR_FILE
    if not est_path.is_file():
        raise ModelError(f"{folder}: {ESTIMATOR_FILE} missing")
    if not expected_sha or sha256_file(est_path) != expected_sha:
        raise ModelError(f"{est_path}: sha256 does not match the model's record; refusing to unpickle")
    meta = json.loads((Path(folder) / META_FILE).read_text(encoding="utf-8"))
    estimator = joblib.load(est_path)
    return ModelBundle(estimator=estimator, name=meta["name"], version=version or meta["version"],
                       scoring=meta["scoring"], alert_rules=meta["alert_rules"], info=meta["info"])


def _resolve_uri(uri: str) -> tuple[str, str | None]:
    """(run id, registered version or None) behind a models:/ or runs:/ URI."""
    from mlflow import MlflowClient

    client = MlflowClient()
    if uri.startswith("runs:/"):
        return uri[len("runs:/"):].split("/", 1)[0], None
    body = uri[len("models:/"):]
    if "@" in body:
        name, alias = body.split("@", 1)
        mv = client.get_model_version_by_alias(name, alias)
    else:
        name, _, ver = body.rpartition("/")
        mv = client.get_model_version(name, ver)
    return mv.run_id, str(mv.version)


def _load_from_store(uri: str) -> ModelBundle:
    """Download a logged model, check it against its run's record, then load it.

    The check uses the sha256 tag written on the training run (outside the artifact store)
    and compares the model's code file with this package's, so neither a swapped estimator
    nor swapped loader code runs; MLflow's own loader is never called on unverified files.
    """
    import mlflow  # here only: a model folder loads without it (saves each scoring worker ~100 MiB)
    from mlflow import MlflowClient

    run_id, version = _resolve_uri(uri)
    expected = MlflowClient().get_run(run_id).data.tags.get("complaintml.estimator_sha256", "")
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    code = local / PYFUNC_CODE.name
    if not code.is_file() or code.read_bytes() != PYFUNC_CODE.read_bytes():
        raise ModelError(f"{uri}: the model's loader code differs from this complaintml's; refusing to load")
    return load_bundle_files(local / "artifacts" / "bundle", expected, version)


def load_bundle(ref: str | os.PathLike) -> ModelBundle:
    """Load a model from a directory (verified against its manifest) or an MLflow URI."""
    ref = str(ref)
    try:
        if ref.startswith(("models:/", "runs:/")):
            return _load_from_store(ref)
    except ModelError:
        raise
    except Exception as exc:  # MLflow raises many types for "not found"
        raise ModelError(f"{ref}: cannot load model ({str(exc).splitlines()[0][:200]})") from None
    path = Path(ref)
    if not path.is_dir():
        raise ModelError(f"{ref}: no such model directory or MLflow model URI")
    manifest = verify_dir(path)
    return load_bundle_files(path / "artifacts" / "bundle", manifest.get("estimator_sha256", ""), manifest.get("version"))
