"""Every MLflow call of complaintml lives here.

With no ``MLFLOW_TRACKING_URI`` the embedded default is a SQLite store in the working
directory (``sqlite:///./mlflow.db``, artifacts under ``./mlruns``): no server needed.
Point ``MLFLOW_TRACKING_URI`` at a team server and nothing else changes. Promotion uses
registry aliases (``challenger`` for every new version, ``champion`` when promoted).
No comment text is ever logged: params are the resolved config, inputs are digests.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

__all__ = ["setup_tracking", "log_training", "promote", "set_alias", "alias_version", "log_decision"]

log = logging.getLogger(__name__)


def setup_tracking() -> str:
    """Use ``MLFLOW_TRACKING_URI`` if set, else the local SQLite store; telemetry off."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    import mlflow

    uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    return uri


def _flat_params(cfg: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat_params(v, key + "."))
        else:
            out[key] = json.dumps(v) if isinstance(v, (list, tuple)) else v
    return out


def log_training(*, result, bundle, cfg, tax, dataset, model_card: str, plots_dir: Path, register: str) -> tuple[str, str]:
    """Log one training run and register its model; returns (run_id, registered version)."""
    import mlflow
    from mlflow import MlflowClient

    from .bundle import PYFUNC_CODE, _input_example, pip_requirements, save_bundle_files
    from .evaluation import flatten_metrics

    setup_tracking()
    mlflow.set_experiment(register)
    with mlflow.start_run(run_name=f"train-{tax.name}") as run:
        mlflow.log_params(_flat_params(cfg.resolved()))
        mlflow.set_tags({"complaintml.taxonomy": tax.name, "complaintml.taxonomy_digest": tax.digest(),
                         "complaintml.config_digest": cfg.digest(), "complaintml.data_digest": dataset.digest,
                         "complaintml.n_train": result.n_train, "complaintml.n_test": result.n_test})
        # Lineage by path, digest and schema of the label columns: no comment text is logged.
        labels_only = dataset.frame[[c for c in tax.label_columns if c in dataset.frame.columns]]
        mlflow.log_input(mlflow.data.from_pandas(labels_only, source=str(Path(dataset.source).resolve()),
                                                 name=Path(dataset.source).name, digest=dataset.digest), context="training")
        metrics = flatten_metrics(result.cv_metrics, "cv")
        if result.test_metrics:
            metrics.update(flatten_metrics(result.test_metrics, "test"))
        metrics["fit_seconds"] = result.fit_seconds
        mlflow.log_metrics(metrics)
        mlflow.log_dict(tax.to_dict(), "taxonomy.json")
        mlflow.log_dict(cfg.resolved(), "config_resolved.json")
        mlflow.log_text(model_card, "MODEL_CARD.md")
        mlflow.log_artifacts(str(plots_dir), "plots")
        with tempfile.TemporaryDirectory() as tmp:
            meta = save_bundle_files(bundle, Path(tmp) / "bundle")
            mlflow.set_tag("complaintml.estimator_sha256", meta["info"]["estimator_sha256"])
            info = mlflow.pyfunc.log_model(name="model", python_model=str(PYFUNC_CODE),
                                           artifacts={"bundle": str(Path(tmp) / "bundle")},
                                           model_config={"estimator_sha256": meta["info"]["estimator_sha256"]},
                                           pip_requirements=pip_requirements(), input_example=_input_example(bundle.taxonomy),
                                           registered_model_name=register)
        version = str(info.registered_model_version)
        MlflowClient().set_registered_model_alias(register, "challenger", version)
    return run.info.run_id, version


def set_alias(name: str, alias: str, version: str) -> None:
    from mlflow import MlflowClient

    setup_tracking()
    MlflowClient().set_registered_model_alias(name, alias, str(version))


def alias_version(name: str, alias: str) -> str | None:
    """The version an alias of a registered model points at, or None (no such model or alias)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    setup_tracking()
    try:
        return str(MlflowClient().get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def promote(name: str, version: str) -> None:
    """Point the ``champion`` alias at ``version``."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from .errors import ModelError

    setup_tracking()
    try:
        MlflowClient().get_model_version(name, str(version))
    except MlflowException:
        raise ModelError(f"registered model '{name}' has no version {version}") from None
    set_alias(name, "champion", version)


def log_decision(name: str, decision: dict) -> str:
    """Log a champion/challenger decision and its evidence as its own run."""
    import mlflow

    setup_tracking()
    mlflow.set_experiment(name)
    with mlflow.start_run(run_name="champion-vs-challenger") as run:
        mlflow.set_tags({"complaintml.decision": decision.get("verdict", ""), "complaintml.kind": "compare"})
        mlflow.log_dict(decision, "decision.json")
        flat = {k: v for k, v in decision.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if flat:
            mlflow.log_metrics(flat)
    return run.info.run_id
