"""Cue-phrase features: one feature per label, "some cue of this label occurs in the text".

A lexicon (``configs/lexicon/*.yaml``) maps head -> label -> regular expressions. Word
n-grams learned from a labeled sample only know the sample's wordings; cue features carry
the codebook's knowledge to wordings it never used, and the classifier learns from the
data how much to trust each cue. They are also the keyword baseline on their own.

Example::

    >>> lex = LexiconFeatures({"root_causes": {"wait_time": ["wait\\\\w*"]}}).fit([])
    >>> lex.transform(["We waited ages", "fine"]).toarray().tolist()
    [[1.0], [0.0]]
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import yaml
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin

from .caseless import CaselessPattern, CaselessSet, ascii_lower
from .errors import ConfigError

__all__ = ["LexiconFeatures", "load_lexicon", "compile_lexicon"]


def _sources(lexicon: dict) -> dict[tuple[str, str], str]:
    """(head, label) -> the pattern joining that label's cues (matched case-insensitively, multi-line)."""
    return {(head, label): r"\b(?:" + "|".join(f"(?:{c})" for c in cues) + r")\b"
            for head, labels in (lexicon or {}).items() for label, cues in (labels or {}).items() if cues}


def compile_lexicon(lexicon: dict, caseless: bool = False) -> dict[tuple[str, str], re.Pattern | CaselessPattern]:
    """(head, label) -> one case-insensitive pattern joining that label's cues.

    ``caseless=True`` gives :class:`~complaintml.caseless.CaselessPattern` objects (same matches,
    faster on ASCII text) instead of ``re.Pattern``.
    """
    out = {}
    for (head, label), source in _sources(lexicon).items():
        try:
            out[(head, label)] = CaselessPattern(source, re.M) if caseless else re.compile(source, re.I | re.M)
        except re.error as exc:
            raise ConfigError(f"lexicon {head}.{label}: bad regular expression ({exc})") from None
    return out


def load_lexicon(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: lexicon file not found")
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(spec, dict) or not all(isinstance(v, dict) for v in spec.values()):
        raise ConfigError(f"{path}: expected head -> label -> list of cue patterns")
    compile_lexicon(spec)  # fail early on a bad pattern
    return spec


class LexiconFeatures(BaseEstimator, TransformerMixin):
    """Binary cue features, scaled by ``weight`` (TF-IDF rows have unit length, cues live on the same scale)."""

    def __init__(self, lexicon: dict | None = None, weight: float = 1.0):
        self.lexicon = lexicon
        self.weight = weight

    def fit(self, X=None, y=None):
        self.keys_ = list(_sources(self.lexicon))
        compile_lexicon(self.lexicon)  # fail early on a bad pattern
        return self

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_patterns", None)  # compiled regexes are rebuilt after loading
        state.pop("_set", None)
        return state

    @property
    def patterns(self) -> list[CaselessPattern]:
        if getattr(self, "_patterns", None) is None:
            compiled = compile_lexicon(self.lexicon, caseless=True)
            self._patterns = [compiled[k] for k in self.keys_]
        return self._patterns

    def transform(self, X) -> sparse.csr_matrix:
        if getattr(self, "_set", None) is None:
            self._set = CaselessSet(self.patterns, re.M)
        found = self._set.found  # the labels whose pattern matches, all labels in one pass
        cols, indptr = [], [0]
        for text in X:
            cols += found(text if isinstance(text, str) else "")
            indptr.append(len(cols))
        data = np.full(len(cols), self.weight, dtype=np.float32)
        return sparse.csr_matrix((data, np.array(cols, dtype=np.int32), np.array(indptr, dtype=np.int64)),
                                 shape=(len(indptr) - 1, len(self.keys_)), dtype=np.float32)

    def matches(self, text: str, head: str, label: str, limit: int = 2) -> list[str]:
        """The cue phrases of (head, label) found in ``text``, as written."""
        try:
            pattern = self.patterns[self.keys_.index((head, label))]
        except ValueError:
            return []
        found = (text[m.start() : m.end()].strip() for m in pattern.finditer(text, ascii_lower(text)))
        return list(dict.fromkeys(f for f in found if f))[:limit]

    def get_feature_names_out(self, input_features=None):
        return np.array([f"cue:{h}.{lab}" for h, lab in self.keys_], dtype=object)
