"""complaintml: tag patient feedback with feelings, root causes and polarity.

Public API::

    from complaintml import load_taxonomy, ComplaintClassifier, load_bundle, run_training, score_file
"""

from .bundle import ModelBundle, load_bundle
from .model import ComplaintClassifier
from .pipeline import run_training
from .scoring import predict_columns, score_file
from .taxonomy import Taxonomy, load_taxonomy

__all__ = ["ComplaintClassifier", "ModelBundle", "Taxonomy", "load_bundle", "load_taxonomy", "predict_columns",
           "run_training", "score_file"]
__version__ = "0.1.0"
