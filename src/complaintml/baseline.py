"""Keyword baseline: a label is predicted when one of its cue phrases occurs.

No learning beyond the lexicon file (``configs/lexicon/default.yaml``); it exists so the
learned model's figures can be read against what plain keyword rules achieve. It shares
the cue patterns of :mod:`complaintml.lexicon`.

Example::

    >>> kb = KeywordBaseline(taxonomy=tax.to_dict(), lexicon=lex).fit([], None)   # doctest: +SKIP
    >>> kb.predict(["waited 4 hours"])["root_causes"].tolist()                     # doctest: +SKIP
    ['wait_time']
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from .lexicon import compile_lexicon
from .taxonomy import Taxonomy
from .text import as_texts

__all__ = ["KeywordBaseline"]


class KeywordBaseline(BaseEstimator):
    """Cue-match rules per label; a multiclass head takes its first label whose cue matches
    (in the taxonomy's order), else ``default_class`` (or the first label)."""

    def __init__(self, taxonomy: dict | None = None, lexicon: dict | None = None, text_column: str = "text",
                 default_class: str | None = None):
        self.taxonomy = taxonomy
        self.lexicon = lexicon
        self.text_column = text_column
        self.default_class = default_class

    def fit(self, X=None, y=None):
        self.taxonomy_ = Taxonomy.from_dict(self.taxonomy)
        self.patterns_ = compile_lexicon(self.lexicon)
        return self

    def predict(self, X) -> pd.DataFrame:
        texts = as_texts(X, self.text_column)
        frames = []
        for head in self.taxonomy_.heads:
            hits = np.array([[bool(self.patterns_[(head.name, lab)].search(t)) if (head.name, lab) in self.patterns_
                              else False for lab in head.label_names] for t in texts], dtype=bool).reshape(len(texts), -1)
            if head.is_multilabel:
                frames.append(head.decode(hits.astype(np.int8)))
            else:
                default = self.default_class or head.label_names[0]
                names = np.array(head.label_names, dtype=object)
                choice = np.where(hits.any(1), names[np.argmax(hits, axis=1)], default)
                frames.append(head.decode(choice))
        return pd.concat(frames, axis=1)
