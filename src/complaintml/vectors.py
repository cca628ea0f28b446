"""Static word vectors: each comment's weighted mean word vector as dense features.

The default model learns from a few thousand written comments, so a real comment that says
"petrified" or "fobbed off" where the sample said "scared" or "ignored" shares no word feature
with them. A word vector places such words near each other. The vectors in
``assets/word_vectors.npz`` come from all-MiniLM-L6-v2 (Apache-2.0) run on each of 40,000
frequent English words alone, reduced to 128 principal components
(``pipelines/build_word_vectors.py`` builds the file once, with torch; scoring needs only
numpy and scikit-learn). A comment's vector is the mean of its words' vectors weighted by
smooth inverse frequency, scaled to unit length like the TF-IDF blocks beside it.

Example::

    >>> vec = WordVectors().fit(["waited five hours"])
    >>> vec.transform(["rude receptionist", "lovely nurses"]).shape
    (2, 128)
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import normalize
from sklearn.utils.validation import check_is_fitted

from .errors import ConfigError
from .text import as_texts

__all__ = ["WordVectors", "BUILTIN", "TOKEN"]

BUILTIN = "builtin"
TOKEN = re.compile(r"[a-z]+")  # lower-case letters: the words a table holds and a comment is looked up by


def _load(path: str) -> dict:
    source = resources.files("complaintml").joinpath("assets", "word_vectors.npz") if path == BUILTIN else Path(path)
    try:
        with source.open("rb") as fh, np.load(fh) as data:
            return {k: data[k] for k in ("words", "vectors", "weight")}
    except (OSError, KeyError, ValueError) as exc:
        raise ConfigError(f"word vectors {path!r}: cannot read a words/vectors/weight .npz file ({exc})") from None


class WordVectors(BaseEstimator, TransformerMixin):
    """Texts -> their words' weighted mean vector, unit length (a CSR matrix, n x dimensions).

    Parameters
    ----------
    path : str
        ``"builtin"`` (the shipped table) or a ``.npz`` file with ``words`` (n), ``vectors``
        (n x d) and ``weight`` (n) arrays, as ``pipelines/build_word_vectors.py`` writes.
    weight : float
        Scale of the block against the unit-length TF-IDF blocks.

    The table is copied into the fitted transformer (float16, ~10 MB), so a saved model keeps
    scoring the same way whatever table a later version ships.
    """

    def __init__(self, path: str = BUILTIN, weight: float = 1.0):
        self.path = path
        self.weight = weight

    def fit(self, X=None, y=None):
        table = _load(self.path)
        self.words_ = table["words"]
        self.vectors_ = table["vectors"].astype(np.float16)
        self.word_weight_ = table["weight"].astype(np.float32)
        return self

    def _lookup(self) -> tuple[dict, np.ndarray]:
        # Built on first use and left out of pickles: a 40,000-entry dict and a float32 copy of the table.
        if getattr(self, "_index", None) is None:
            self._index = {w: i for i, w in enumerate(self.words_.tolist())}
            self._weighted = self.vectors_.astype(np.float32) * self.word_weight_[:, None]
        return self._index, self._weighted

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in ("_index", "_weighted")}

    def transform(self, X) -> sparse.csr_matrix:
        check_is_fitted(self, "vectors_")
        index, weighted = self._lookup()
        texts = as_texts(X)
        # Word counts as a sparse matrix, then one product with the weighted table. A plain loop over
        # re.findall: sklearn's CountVectorizer gives the same counts at about twice the time.
        cols: list[int] = []
        indptr = [0]
        get = index.get
        for text in texts:
            cols.extend(j for j in map(get, TOKEN.findall(text.lower())) if j is not None)
            indptr.append(len(cols))
        counts = sparse.csr_matrix((np.ones(len(cols), dtype=np.float32), np.asarray(cols, dtype=np.int32),
                                    np.asarray(indptr, dtype=np.int64)), shape=(len(texts), len(index)))
        dense = normalize(np.asarray(counts @ weighted)) * self.weight
        return sparse.csr_matrix(dense.astype(np.float32))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "vectors_")
        return np.array([f"vector_{i}" for i in range(self.vectors_.shape[1])], dtype=object)
