"""End-to-end jobs callable from Python and the CLI: train-evaluate-track-export.

Example::

    >>> from complaintml.pipeline import run_training
    >>> run_training("data/labeled_sample/comments.csv", tax, "configs/train/default.toml")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path

from .bundle import ModelBundle, export_model
from .config import load_config
from .dataset import load_dataset
from .errors import ModelError
from .evaluation import plot_all
from .training import limitations, model_card, train

__all__ = ["run_training", "resolve_model_ref", "DEFAULT_MODEL_NAME"]

log = logging.getLogger(__name__)
DEFAULT_MODEL_NAME = "complaintml-default"


def run_training(data, tax, config=None, model_out=None, register: str | None = None, track: bool = True) -> dict:
    """Validate, train, evaluate, log to MLflow (register + alias challenger), export. Returns a summary."""
    cfg = load_config(config)
    ds = load_dataset(data, tax)
    name = register or tax.name
    log.info("training %s on %d rows (%d held out)", name, len(ds.train), len(ds.test))
    with warnings.catch_warnings(record=True):
        result = train(ds, cfg)
    for note in result.warnings:
        log.warning(note)
    bundle = ModelBundle(estimator=result.estimator, name=name, scoring=dict(cfg.scoring), alert_rules=cfg.alert_rules,
                         info={"config_digest": cfg.digest(), "data_digest": ds.digest, "taxonomy_digest": tax.digest(),
                               "limitations": limitations(result), "fit_seconds": round(result.fit_seconds, 2),
                               "metrics": _headline(result, tax)})
    run_id = version = None
    with tempfile.TemporaryDirectory() as plots:
        eval_truth, eval_proba, eval_pred = (result.test_truth, result.test_proba, result.test_pred) if result.test_metrics \
            else ({h.name: h.encode(ds.train.reset_index(drop=True)) for h in tax.heads}, result.estimator.oof_proba_,
                  result.estimator.decide(result.estimator.oof_proba_))
        plot_all(tax, eval_truth, eval_proba, eval_pred, plots)
        card = model_card(name, "local", tax, result, ds.source, ds.digest, cfg.digest())
        if track:
            from .tracking import log_training

            run_id, version = log_training(result=result, bundle=bundle, cfg=cfg, tax=tax, dataset=ds,
                                           model_card=card, plots_dir=Path(plots), register=name)
            bundle.version = version
            bundle.info["mlflow_run_id"] = run_id
            card = model_card(name, version, tax, result, ds.source, ds.digest, cfg.digest())
        out_dir = Path(model_out) if model_out else Path("models") / name
        export_model(bundle, out_dir, card)
    return {"model": name, "version": version, "run_id": run_id, "exported_to": str(out_dir),
            "rows_train": result.n_train, "rows_test": result.n_test, "fit_seconds": round(result.fit_seconds, 2),
            "metrics": _headline(result, tax), "warnings": result.warnings}


def _headline(result, tax) -> dict:
    out = {}
    for split, metrics in (("cv", result.cv_metrics), ("test", result.test_metrics)):
        if metrics:
            out[split] = {h.name: {"macro_f1": round(metrics[h.name]["macro_f1"], 4),
                                   "micro_f1": round(metrics[h.name]["micro_f1"], 4)} for h in tax.heads}
    return out


def resolve_model_ref(model: str | None) -> str:
    """The model to score with: as given, else the default taxonomy's champion, else models/<default>/."""
    if model:
        return model
    from .tracking import setup_tracking

    setup_tracking()
    try:
        from mlflow import MlflowClient

        MlflowClient().get_model_version_by_alias(DEFAULT_MODEL_NAME, "champion")
        return f"models:/{DEFAULT_MODEL_NAME}@champion"
    except Exception:  # no registry, no model or no alias: fall back to the exported folder
        local = Path("models") / DEFAULT_MODEL_NAME
        if local.is_dir():
            return str(local)
    raise ModelError(f"no model given, no 'champion' alias for {DEFAULT_MODEL_NAME}, and no {Path('models') / DEFAULT_MODEL_NAME}/; "
                     "train one first or pass --model")


