"""spaCy text preprocessing as a scikit-learn transformer.

Each comment becomes a string of normalised tokens: lower-cased lookup lemmas, numbers,
URLs and e-mail addresses replaced by placeholders, and words inside a negation's scope
prefixed with ``neg_`` ("not rude at all" -> ``not neg_rude neg_at neg_all``), so that
"not rude" and "rude" are different features.

There is no trained English pipeline offline, so this uses ``spacy.blank("en")`` (the
rule-based tokenizer) and the lookup lemmatizer's table from ``spacy-lookups-data``. The
table is stored inside the fitted transformer (about 0.8 MB), so scoring does not need
``spacy-lookups-data`` installed. The tokenizer runs at most once per distinct whitespace-free
chunk ("don't", "(3pm)"), not per document, and not for a plain word or a word and a trailing
comma or other mark, whose tokens are known (``TextNormalizer._pieces``): a per-process cache
maps each chunk to its tokens, lemmas and flags, which gives the same output as the pipeline's
tokenizer and lemmatizer at a fraction of the cost (spaCy's ``n_process`` is far slower here).

Example::

    >>> norm = TextNormalizer().fit([])
    >>> norm.transform(["The nurses were NOT rude at all, waited 3 hours"])
    ['the nurse be not neg_rude neg_at neg_all wait num hour']
"""

from __future__ import annotations

import contextlib
import gc
import re
import sys
from functools import cached_property

import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

# spaCy's backend (thinc) imports torch whenever it is installed (the embeddings extra installs it):
# about 200 MiB and seconds of start-up in every scoring process, for a tokenizer that never uses it.
# torch is hidden while spaCy loads; a later `import torch` works as usual.
if "torch" not in sys.modules and "thinc" not in sys.modules:
    sys.modules["torch"] = None
    try:
        import spacy
    finally:
        del sys.modules["torch"]
import spacy  # noqa: E402
from spacy.attrs import IDX, IS_PUNCT, IS_SPACE, LANG, LIKE_EMAIL, LIKE_NUM, LIKE_URL, ORTH  # noqa: E402

__all__ = ["TextNormalizer", "as_texts", "build_nlp", "gc_paused"]

NEGATORS = frozenset(
    "not no never n't nothing nobody none neither nor without cannot cant dont didnt doesnt "
    "wasnt werent isnt arent wont couldnt shouldnt wouldnt hasnt havent hadnt".split()
)
# A negation's scope ends at clause punctuation or a contrast word, or after a few tokens.
SCOPE_BREAKERS = frozenset(". , ; : ! ? but however although though yet".split())
MAX_SCOPE = 3
_CHUNKS = re.compile(r"\S+")  # the whitespace-free chunks spaCy's tokenizer splits a text into
_LEXEME_ATTRS = frozenset({IS_PUNCT, IS_SPACE, LIKE_EMAIL, LIKE_NUM, LIKE_URL, LANG})  # LANG: vocab.lang
_MARKS = frozenset(",!?;:")  # spaCy's English tokenizer always splits these off the end of a word
_CHUNK_CACHE_SIZE = 100_000  # distinct chunks kept per process (about 0.6 KB each) before the cache starts again


def _blank() -> spacy.Language:
    """``spacy.blank("en")`` whose vocabulary computes, for each new word, only what :meth:`TextNormalizer._lexeme`
    reads: the other lexeme attributes (shape, prefix, suffix, ...) took a quarter of the tokenizer's
    time on words it had not seen before, and scoring meets new words in every chunk."""
    nlp = spacy.blank("en")
    nlp.vocab.lex_attr_getters = {k: f for k, f in nlp.vocab.lex_attr_getters.items() if k in _LEXEME_ATTRS}
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    return nlp


def build_nlp() -> spacy.Language:
    """A blank English pipeline with the lookup lemmatizer (needs spacy-lookups-data once)."""
    nlp = _blank()
    nlp.initialize()
    return nlp


def _nlp_from_bytes(data: bytes) -> spacy.Language:
    return _blank().from_bytes(data, exclude=["strings"])


@contextlib.contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector for the block.

    Featurizing makes many short-lived objects (token lists, spaCy Docs for new words, n-gram arrays),
    which set off collections that walk every object the process holds: after a fit, the same
    few hundred comments took 2-5x as long with the collector on (benchmarks/SPEED.md). Nothing built
    while featurizing forms a reference cycle, so nothing is left for the collector to find.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def as_texts(X, text_column: str = "text") -> list[str]:
    """Turn a list, array, Series or DataFrame into a list of comment strings.

    A DataFrame must hold ``text_column`` (or have exactly one column): iterating a
    DataFrame directly would yield its column names, a classic silent bug.
    Non-strings (NaN, None, numbers) become the empty string.
    """
    if isinstance(X, pd.DataFrame):
        if text_column in X.columns:
            X = X[text_column]
        elif X.shape[1] == 1:
            X = X.iloc[:, 0]
        else:
            raise ValueError(f"DataFrame has no text column '{text_column}'")
    if isinstance(X, str):
        raise ValueError("expected a sequence of texts, got a single string")
    return [x if isinstance(x, str) else "" for x in (X.tolist() if hasattr(X, "tolist") else list(X))]


class TextNormalizer(BaseEstimator, TransformerMixin):
    """Normalise comments to lemma tokens with negation scope marks.

    Parameters
    ----------
    lemmatize : use lookup lemmas (True) or lower-cased words (False).
    negation : mark tokens inside a negation's scope with ``neg_``.
    text_column : the column to read when given a DataFrame.
    """

    def __init__(self, lemmatize: bool = True, negation: bool = True, text_column: str = "text"):
        self.lemmatize = lemmatize
        self.negation = negation
        self.text_column = text_column

    def fit(self, X=None, y=None):
        self.nlp_ = build_nlp()
        self._cache = {}
        return self

    # The spaCy pipeline is stored as bytes; the lemma cache is rebuilt on demand.
    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_cache", None)
        state.pop("_lemma_table", None)
        state.pop("_special_cases", None)
        state.pop("_like_num", None)
        if "nlp_" in state:
            # Without the string store: it holds every token the tokenizer has seen, i.e. the words of
            # the training comments (names, e-mail addresses, numbers), which must not ship in a model.
            state["nlp_"] = self.nlp_.to_bytes(exclude=["strings"])
        return state

    def __setstate__(self, state):
        if isinstance(state.get("nlp_"), bytes):
            state["nlp_"] = _nlp_from_bytes(state["nlp_"])
        self.__dict__.update(state)
        self._cache = {}

    def _lexeme(self, orth: int | str) -> tuple[int, str, bool, bool]:
        """(length, feature token, is_space, is_punct) of a token text (or its hash): all depend on the text alone."""
        lex = self.nlp_.vocab[orth]
        text = lex.orth_
        if lex.like_email:
            key = "emailtoken"
        elif lex.like_url:
            key = "urltoken"
        elif lex.like_num or any(ch.isdigit() for ch in text):
            key = "num"
        else:
            lower = text.lower()
            if lower in ("n't", "nt"):
                key = "n't"
            elif self.lemmatize:
                key = self._lemma_table.get(lower, lower)
            else:
                key = lower
        return len(text), key, lex.is_space, lex.is_punct

    def _word(self, word: str) -> tuple[int, str, bool, bool]:
        """:meth:`_lexeme` of a word of ASCII letters, without making it a spaCy lexeme (scoring meets new
        words in every chunk, and making their lexemes took about half of their time): such a word is no
        space, punctuation, e-mail address or URL (spaCy's tests for those need other characters), and
        only spaCy's number-word test ("ten", "third") needs calling."""
        lower = word.lower()
        if self._like_num(word):
            key = "num"
        elif lower == "nt":
            key = "n't"
        else:
            key = self._lemma_table.get(lower, lower) if self.lemmatize else lower
        return len(word), key, False, False

    # Derived from nlp_ on first use and kept out of the pickled state (__getstate__).
    @cached_property
    def _lemma_table(self):
        return self.nlp_.get_pipe("lemmatizer").lookups.get_table("lemma_lookup")

    @cached_property
    def _special_cases(self) -> frozenset:
        return frozenset(self.nlp_.tokenizer.rules)

    @cached_property
    def _like_num(self):
        return self.nlp_.vocab.lex_attr_getters[LIKE_NUM]

    def _pieces(self, chunk: str):
        """spaCy's tokens of one chunk as (token text or its hash, offset in chunk).

        Most new chunks are a word, or a word and a trailing comma, ! ? ; : or full stop. Unless spaCy has a
        special case for them ("dont", "xD", "etc."), its English tokenizer returns such a chunk as that
        word and that mark (no prefix, suffix, infix or URL pattern matches ASCII letters alone), so those
        skip the tokenizer; anything else goes through it. ``tests/test_fast_paths.py`` checks the two agree.
        """
        specials = self._special_cases
        if chunk.isascii() and chunk not in specials:
            if chunk.isalpha():
                return ((chunk, 0),)
            word, mark = chunk[:-1], chunk[-1]
            # A full stop is split off after a lower-case letter, not always after a capital ("A.", "PhD.").
            if (mark in _MARKS or (mark == "." and word[-1:].islower())) and word.isalpha() and word not in specials:
                return ((word, 0), (mark, len(word)))
        return self.nlp_.tokenizer(chunk).to_array([ORTH, IDX]).tolist()

    def _chunk(self, chunk: str) -> tuple[tuple, bool, tuple]:
        """The tokens of one whitespace-free chunk as (offset in chunk, length, feature token, is_punct);
        whether the chunk is plain: no punctuation, negator or scope breaker, so outside a negation scope
        its tokens are kept as they are and leave no scope open; and its feature tokens alone."""
        out = []
        for orth, start in self._pieces(chunk):
            word = isinstance(orth, str) and orth.isalpha()  # _pieces' other strings are marks
            length, norm, is_space, is_punct = self._word(orth) if word else self._lexeme(orth)
            if not is_space:
                out.append((start, length, norm, is_punct))
        plain = not any(p or norm in SCOPE_BREAKERS or norm in NEGATORS for _, _, norm, p in out)
        if len(self._cache) > _CHUNK_CACHE_SIZE:
            self._cache.clear()
        entry = self._cache[chunk] = (tuple(out), plain, tuple(norm for _, _, norm, _ in out))
        return entry

    def _scoped(self, toks: tuple, scope: int) -> tuple[list, int]:
        """The kept tokens of a chunk that is not plain, as (token, feature token with any ``neg_`` mark),
        and the negation scope left open after it."""
        kept = []
        for tok in toks:
            norm, is_punct = tok[2], tok[3]
            if is_punct and norm not in ("!", "?"):
                scope = 0 if norm in SCOPE_BREAKERS else scope
                continue
            if self.negation:
                if norm in SCOPE_BREAKERS:
                    scope = 0
                elif scope:
                    norm = "neg_" + norm
                    scope -= 1
                if norm in NEGATORS:
                    scope = MAX_SCOPE
            kept.append((tok, norm))
        return kept, scope

    def analyze(self, text: str) -> list[tuple[int, int, str]]:
        """Tokens of one text as (start_char, end_char, feature_token); spaces dropped.

        spaCy's tokenizer splits a text at whitespace and then tokenizes each whitespace-free chunk on
        its own (its special cases that hold whitespace are whitespace alone, and spaces are dropped
        here), so a chunk's tokens depend on the chunk only: each distinct chunk is tokenized once per
        process and looked up after that, which skips building a spaCy Doc per text.
        """
        out = []
        scope = 0
        cache = self._cache
        for match in _CHUNKS.finditer(text):
            chunk = match.group()
            base = match.start()
            toks, plain, _ = cache.get(chunk) or self._chunk(chunk)
            if plain and not scope:  # most chunks: one word, nothing to mark
                for start, length, norm, _ in toks:
                    out.append((base + start, base + start + length, norm))
                continue
            kept, scope = self._scoped(toks, scope)
            for (start, length, _, _), norm in kept:
                out.append((base + start, base + start + length, norm))
        return out

    def tokens(self, text: str) -> list[str]:
        """The feature tokens of :meth:`analyze` without their offsets, which features do not need:
        ``str.split`` finds the same chunks as the ``\\S+`` pattern (both split at ``str.isspace``
        characters), and a plain chunk's tokens are added in one step."""
        out: list[str] = []
        scope = 0
        cache = self._cache
        for chunk in text.split():
            toks, plain, norms = cache.get(chunk) or self._chunk(chunk)
            if plain and not scope:
                out += norms
                continue
            kept, scope = self._scoped(toks, scope)
            out += [norm for _, norm in kept]
        return out

    def analyze_all(self, texts: list[str]) -> list[list[tuple[int, int, str]]]:
        """:meth:`analyze` for each text, with Python's cyclic garbage collector paused (:func:`gc_paused`)."""
        with gc_paused():
            return [self.analyze(text) for text in texts]

    def tokens_all(self, texts: list[str]) -> list[list[str]]:
        """:meth:`tokens` for each text, with the garbage collector paused."""
        with gc_paused():
            return [self.tokens(text) for text in texts]

    def transform(self, X) -> list[str]:
        return [" ".join(toks) for toks in self.tokens_all(as_texts(X, self.text_column))]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags

