"""complaintml: tag patient feedback with feelings, root causes and polarity.

Public API::

    from complaintml import load_taxonomy, ComplaintClassifier, load_bundle, run_training, score_file

Names are imported on first use, so ``import complaintml.report`` does not load the
model stack (spaCy, scikit-learn, MLflow).
"""

from importlib import import_module

__all__ = ["ComplaintClassifier", "ModelBundle", "Taxonomy", "load_bundle", "load_taxonomy", "predict_columns",
           "run_training", "score_file"]
__version__ = "0.1.0"

_WHERE = {"ComplaintClassifier": "model", "ModelBundle": "bundle", "load_bundle": "bundle", "Taxonomy": "taxonomy",
          "load_taxonomy": "taxonomy", "predict_columns": "scoring", "score_file": "scoring", "run_training": "pipeline"}


def __getattr__(name):
    if name in _WHERE:
        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'complaintml' has no attribute {name!r}")
