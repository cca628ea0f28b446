"""The estimator: one scikit-learn object that predicts every head of a taxonomy.

``ComplaintClassifier`` follows scikit-learn's estimator contract (``__init__`` stores
parameters only, ``fit`` returns ``self``, learned state ends in ``_``, ``clone`` works).
Inside it:

* features: word 1-2 gram TF-IDF over spaCy-normalised tokens (lemmas, negation marks)
  plus character 2-5 gram TF-IDF over the raw text (robust to typos and spelling variants);
* a multinomial logistic regression per multiclass head;
* a class-weighted logistic regression per label of a multilabel head, its coefficients a
  weighted mean of a fit on features scaled by that label's naive Bayes log-count ratios and a
  plain fit (``nb_weight``), whose scores are
  calibrated by Platt scaling on out-of-fold predictions, with a per-label decision
  threshold chosen on those same out-of-fold probabilities (``threshold_policy``).

Every regression is fitted once per cross-validation fold (``cv_folds``), and the model keeps
the mean of the fold models' coefficients: the out-of-fold scores that set calibration and
thresholds come from the models that are shipped, and no further fit on every row is needed.

A taxonomy's ``context_columns`` (e.g. the survey question) add one-hot features; pass ``X`` as
a DataFrame holding them.

Labels with fewer than ``min_positive`` examples are kept in the output but never
predicted (probability NaN); ``untrained_labels_`` lists them.

Example::

    >>> clf = ComplaintClassifier(taxonomy=tax.to_dict(), cv_folds=3)   # doctest: +SKIP
    >>> clf.fit(df["text"], df[tax.label_columns]).predict(["waited 5 hours"])  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
import weakref

import numpy as np
import pandas as pd
from iterstrat.ml_stratifiers import MultilabelStratifiedKFold
from joblib import Parallel, delayed, effective_n_jobs
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils.validation import check_is_fitted

from .lexicon import LexiconFeatures
from .taxonomy import Taxonomy
from .text import TextNormalizer, as_texts, gc_paused
from .vectors import WordVectors

from spacy.lang.en.stop_words import STOP_WORDS  # noqa: E402,I001 (after .text, which imports spaCy without torch)

__all__ = ["ComplaintClassifier", "best_f1_threshold", "fit_platt"]

THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)


def fit_platt(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling: a 1-D logistic fit mapping decision scores to probabilities."""
    lr = LogisticRegression(C=1e4, solver="lbfgs")
    lr.fit(scores.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))


def nb_log_count_ratio(X: sparse.csr_matrix, y: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Per feature, log of (its share of the positive rows' feature occurrences) over (its share of the
    negative rows'), counting each feature once per row, add-``alpha`` smoothed (Wang and Manning 2012).

    Features that tell the label apart get a large weight before the regularised regression, which
    otherwise shrinks every feature alike; on the NHS themes this added ~0.017 macro-F1.
    """
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    pos = (y[rows] == 1) & (X.data != 0)
    neg = (y[rows] != 1) & (X.data != 0)
    p = alpha + np.bincount(X.indices[pos], minlength=X.shape[1])
    q = alpha + np.bincount(X.indices[neg], minlength=X.shape[1])
    return np.log((p / p.sum()) / (q / q.sum())).astype(X.dtype)


def best_f1_threshold(proba: np.ndarray, y: np.ndarray, grid: np.ndarray = THRESHOLD_GRID, beta: float = 1.0) -> float:
    """The threshold on ``proba`` that maximises F-beta for labels ``y`` (ties: the lowest).

    beta > 1 weighs recall above precision.
    """
    pred = proba[:, None] >= grid[None, :]
    tp = (pred & (y[:, None] == 1)).sum(0)
    fp = (pred & (y[:, None] == 0)).sum(0)
    fn = ((~pred) & (y[:, None] == 1)).sum(0)
    b2 = beta * beta
    f1 = np.where(tp > 0, (1 + b2) * tp / np.maximum((1 + b2) * tp + b2 * fn + fp, 1), 0.0)
    if f1.max() <= 0:
        return 0.5
    return float(grid[int(np.argmax(f1))])


class ComplaintClassifier(BaseEstimator):
    """Multi-head text classifier for patient comments.

    Parameters
    ----------
    taxonomy : dict
        The taxonomy as a mapping (``Taxonomy.to_dict()`` or the YAML's content).
    text_column : str
        Column read when ``X`` is a DataFrame.
    word_ngram_range, char_ngram_range : tuple
        n-gram ranges of the word and character TF-IDF blocks.
    min_df : int
        Minimum document frequency of a feature.
    max_char_features : int
        Cap on character n-gram features (keeps the model small).
    use_char : bool
        Include the character n-gram block.
    lemmatize, negation : bool
        spaCy preprocessing switches (see :class:`~complaintml.text.TextNormalizer`).
    C : float
        Inverse regularisation strength of the multilabel heads' logistic regressions.
    multiclass_C : float
        The same for the multinomial regression of each multiclass head (polarity).
    nb_weight : float
        Share, from 0 to 1, of NB-LR in each multilabel label's coefficients: a logistic regression on
        features scaled by their naive Bayes log-count ratio (after Wang and Manning 2012), the
        scaling folded into its coefficients; the rest comes from a plain regression on the same
        features. 1 fits NB-LR alone, 0 the plain regression alone. Either way the model stays one
        linear function per label, so prediction costs the same.
    class_weight : "balanced" or None
        Re-weight rare labels during training.
    threshold_policy : "f1" or "fixed"
        Learn per-label thresholds maximising out-of-fold F-beta, or use ``fixed_threshold``.
    threshold_beta : float
        beta of that F-beta: above 1 favours recall.
    fixed_threshold : float
    cv_folds : int
        Folds for out-of-fold calibration and thresholds; the model is the mean of the fold models.
    min_positive : int
        Labels with fewer positive examples are not learned.
    lexicon : dict or None
        head -> label -> cue patterns; adds one cue feature per label (see :mod:`complaintml.lexicon`).
    lexicon_weight : float
        Value of a cue feature when it fires.
    word_vectors : str
        "" (none), "builtin" or a ``.npz`` table: adds each comment's mean word vector as a dense block
        (see :mod:`complaintml.vectors`). NB-LR leaves these columns unscaled: a naive Bayes count ratio
        needs sparse counts, and every row has every dense column.
    vector_weight : float
        Scale of that block against the unit-length TF-IDF blocks.
    random_state : int
    n_jobs : int or None
        Processes fitting the labels of a multilabel head (-1: one per core). Results do not depend on it.
    """

    def __init__(
        self,
        taxonomy: dict | None = None,
        text_column: str = "text",
        word_ngram_range: tuple = (1, 2),
        char_ngram_range: tuple = (2, 5),
        min_df: int = 2,
        max_char_features: int = 60000,
        use_char: bool = True,
        lemmatize: bool = True,
        negation: bool = True,
        C: float = 4.0,
        multiclass_C: float = 64.0,
        nb_weight: float = 0.75,
        class_weight: str | None = "balanced",
        threshold_policy: str = "f1",
        threshold_beta: float = 1.0,
        fixed_threshold: float = 0.5,
        cv_folds: int = 5,
        min_positive: int = 5,
        lexicon: dict | None = None,
        lexicon_weight: float = 1.0,
        word_vectors: str = "",
        vector_weight: float = 1.0,
        random_state: int = 0,
        n_jobs: int | None = -1,
    ):
        self.taxonomy = taxonomy
        self.text_column = text_column
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.max_char_features = max_char_features
        self.use_char = use_char
        self.lemmatize = lemmatize
        self.negation = negation
        self.C = C
        self.multiclass_C = multiclass_C
        self.nb_weight = nb_weight
        self.class_weight = class_weight
        self.threshold_policy = threshold_policy
        self.threshold_beta = threshold_beta
        self.fixed_threshold = fixed_threshold
        self.cv_folds = cv_folds
        self.min_positive = min_positive
        self.lexicon = lexicon
        self.lexicon_weight = lexicon_weight
        self.word_vectors = word_vectors
        self.vector_weight = vector_weight
        self.random_state = random_state
        self.n_jobs = n_jobs

    # -- building blocks --------------------------------------------------------------
    def _featurizer(self, tax: Taxonomy) -> FeatureUnion:
        word = Pipeline([
            ("normalize", TextNormalizer(lemmatize=self.lemmatize, negation=self.negation)),
            ("tfidf", TfidfVectorizer(token_pattern=r"\S+", lowercase=False, ngram_range=tuple(self.word_ngram_range),
                                      min_df=self.min_df, sublinear_tf=True, dtype=np.float32)),
        ])
        blocks = [("word", word)]
        if self.use_char:
            blocks.append(("char", TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(self.char_ngram_range),
                                                   min_df=self.min_df, max_features=self.max_char_features,
                                                   sublinear_tf=True, dtype=np.float32)))
        if self.word_vectors:
            blocks.append(("vectors", WordVectors(self.word_vectors, self.vector_weight)))
        cues = self.cues_for(tax)
        if cues:
            blocks.append(("lexicon", LexiconFeatures(cues, self.lexicon_weight)))
        return FeatureUnion(blocks)

    def cues_for(self, tax: Taxonomy) -> dict:
        """The lexicon's cues for this taxonomy's heads and labels only. Cues of labels the model does
        not predict are noise to it (on the NHS themes the default lexicon's cues cost ~0.01 macro-F1)."""
        cues = {h.name: {lab: c for lab, c in ((self.lexicon or {}).get(h.name) or {}).items() if lab in h.label_names and c}
                for h in tax.heads}
        return {head: labels for head, labels in cues.items() if labels}

    def _lr(self, multiclass: bool = False) -> LogisticRegression:
        if multiclass:
            return LogisticRegression(C=self.multiclass_C, class_weight=self.class_weight, max_iter=3000)
        # Dual coordinate descent: the same optimum as the primal solver, ~3x faster when features
        # outnumber comments (always, here); its shuffling is seeded so fits repeat exactly.
        return LogisticRegression(C=self.C, class_weight=self.class_weight, solver="liblinear", dual=True,
                                  random_state=self.random_state)

    def _folds(self, tax: Taxonomy, targets: dict[str, np.ndarray]) -> list:
        """The (train, validation) row indices of the cross-validation folds, stratified on every label
        of every head when each has enough rows."""
        y_stack = np.hstack([targets[h.name] if h.is_multilabel else
                             (targets[h.name][:, None] == np.array(h.label_names)[None, :]).astype(np.int8)
                             for h in tax.heads])
        n = len(y_stack)
        k = max(2, min(self.cv_folds, n // 2))
        if y_stack.shape[1] and y_stack.sum(0).min() >= k:
            splitter = MultilabelStratifiedKFold(n_splits=k, shuffle=True, random_state=self.random_state)
            return list(splitter.split(np.zeros(n), y_stack))
        return list(KFold(n_splits=k, shuffle=True, random_state=self.random_state).split(np.zeros(n)))

    # -- fit --------------------------------------------------------------------------
    def fit(self, X, y: pd.DataFrame):
        """Learn from texts ``X`` and a DataFrame ``y`` holding the taxonomy's label columns."""
        if self.taxonomy is None:
            raise ValueError("ComplaintClassifier needs a taxonomy")
        if self.threshold_policy not in ("f1", "fixed"):
            raise ValueError(f"threshold_policy must be 'f1' or 'fixed', got {self.threshold_policy!r}")
        if not 0 <= self.nb_weight <= 1:
            raise ValueError(f"nb_weight must be between 0 and 1, got {self.nb_weight}")
        tax = Taxonomy.from_dict(self.taxonomy)
        texts = as_texts(X, self.text_column)
        y = pd.DataFrame(y).reset_index(drop=True)
        if len(texts) != len(y):
            raise ValueError(f"X has {len(texts)} rows but y has {len(y)}")
        targets = {h.name: h.encode(y) for h in tax.heads}

        # Fitted by sklearn, then the training matrix is built by the scoring path (sklearn's values):
        # that fills the per-word caches with the training words, which new comments mostly share.
        self.features_ = self._featurizer(tax).fit(texts)
        self.context_ = None
        Xf = self.transform_features(texts)
        self.n_text_features_ = Xf.shape[1]
        if tax.context_columns:
            self.context_ = OneHotEncoder(handle_unknown="ignore", dtype=np.float32)
            Xf = sparse.hstack([Xf, self.context_.fit_transform(_context(X, tax.context_columns))])
        Xf = Xf.tocsr()
        Xf.sum_duplicates()  # canonical (sorted) now: workers get read-only copies they could not sort
        self.n_word_features_ = len(self.features_.transformer_list[0][1].named_steps["tfidf"].vocabulary_)
        self.dense_columns_ = self._dense_columns()

        folds = self._folds(tax, targets)

        self.heads_, self.oof_proba_, self.untrained_labels_ = {}, {}, {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for head in tax.heads:
                fit_head = self._fit_multilabel if head.is_multilabel else self._fit_multiclass
                self.heads_[head.name], self.oof_proba_[head.name] = fit_head(head, Xf, targets[head.name], folds)
                self.untrained_labels_[head.name] = [lab for lab, ok in zip(head.label_names, self.heads_[head.name]["trained"]) if not ok]
        self.thresholds_ = {h.name: dict(zip(h.label_names, self.heads_[h.name]["threshold"].tolist()))
                            for h in tax.heads if h.is_multilabel}
        self.taxonomy_ = tax.to_dict()
        return self

    def _dense_columns(self) -> tuple[int, int] | None:
        """(start, stop) of the word-vector block's columns, which come after the word and char blocks."""
        blocks = dict(self.features_.transformer_list)
        if "vectors" not in blocks:
            return None
        start = self.n_word_features_ + (len(blocks["char"].vocabulary_) if "char" in blocks else 0)
        return start, start + blocks["vectors"].vectors_.shape[1]

    def _fit_multiclass(self, head, Xf, y, folds):
        labels = head.label_names
        present = [lab for lab in labels if (y == lab).sum() >= max(self.min_positive, 1)]
        trained = np.array([lab in present for lab in labels])
        keep = np.isin(y, present)
        if len(present) < 2:
            raise ValueError(f"head '{head.name}' needs at least two labels with {self.min_positive}+ examples")
        oof = np.zeros((len(y), len(labels)), dtype=np.float32)
        fits = []
        for tr, va in folds:
            tr = tr[keep[tr]]
            if len(set(y[tr])) < 2:
                continue
            clf = self._lr(multiclass=True).fit(Xf[tr], y[tr])
            proba = clf.predict_proba(Xf[va])
            for k, cls in enumerate(clf.classes_):
                oof[va, labels.index(cls)] = proba[:, k]
            fits.append(clf)
        # As for the labels of a multilabel head, the fold models' mean is the head's model; classes_ is
        # sorted, so fold models that saw every class line up. Otherwise (a class in too few rows to
        # reach every fold), one fit on every row.
        if len(fits) == len(folds) and all(len(clf.classes_) == len(present) for clf in fits):
            classes = fits[0].classes_
            coef, intercept = np.mean([c.coef_ for c in fits], axis=0), np.mean([c.intercept_ for c in fits], axis=0)
        else:
            clf = self._lr(multiclass=True).fit(Xf[keep], y[keep])
            classes, coef, intercept = clf.classes_, clf.coef_, clf.intercept_
        return {"coef": coef.astype(np.float32), "intercept": intercept.astype(np.float32),
                "columns": np.array([labels.index(c) for c in classes]), "trained": trained}, oof

    def _fit_multilabel(self, head, Xf, Y, folds):
        n, L = Y.shape
        coef = np.zeros((L, Xf.shape[1]), dtype=np.float32)
        intercept = np.zeros(L, dtype=np.float32)
        platt = np.zeros((L, 2), dtype=np.float64)
        threshold = np.full(L, np.nan)
        trained = np.zeros(L, dtype=bool)
        oof = np.full((n, L), np.nan, dtype=np.float32)
        fold_X = [(tr, va, Xf[tr], Xf[va]) for tr, va in folds]  # sliced once, shared by every label
        todo = [j for j in range(L) if self.min_positive <= Y[:, j].sum() < n]
        # Processes, not threads: liblinear's dual solver shuffles with one RNG per process, which
        # threads would share and make fits unrepeatable. joblib memory-maps Xf for the workers and
        # hashes it on every dispatch, so labels go out in a few large batches.
        workers = effective_n_jobs(self.n_jobs)
        fitted = Parallel(n_jobs=workers, batch_size=max(1, -(-len(todo) // (2 * workers))))(
            delayed(self._fit_label)(Xf, Y[:, j], fold_X) for j in todo)
        for j, (c, b0, ab, proba) in zip(todo, fitted):
            coef[j], intercept[j], platt[j], trained[j], oof[:, j] = c, b0, ab, True, proba
            threshold[j] = (best_f1_threshold(proba, Y[:, j], beta=self.threshold_beta)
                            if self.threshold_policy == "f1" else self.fixed_threshold)
        return {"coef": coef, "intercept": intercept, "platt": platt, "threshold": threshold, "trained": trained}, oof

    def _fit_label(self, Xf, y, fold_X):
        """One label: a fit per fold; their out-of-fold scores -> Platt scaling and the threshold, and the
        mean of their coefficients is the label's model.

        The mean, not a refit on every row: the calibration and threshold are then tuned on the scores of
        the very models that are shipped, and a fit is saved (NHS themes 5-fold macro-F1 0.586 -> 0.590
        at beta 1.3, fit 16-20% faster; benchmarks/RESULTS_HISTORY.md, "Fold-mean coefficients")."""
        with warnings.catch_warnings():  # again here: in a worker process fit()'s filter does not apply
            warnings.simplefilter("ignore", ConvergenceWarning)
            scores = np.zeros(len(y))
            fits = []
            for tr, va, X_tr, X_va in fold_X:
                if y[tr].min() == y[tr].max():
                    scores[va] = -5.0 if y[tr].max() == 0 else 5.0
                    continue
                coef, b0 = self._fit_binary(X_tr, y[tr])
                fits.append((coef, b0))
                scores[va] = X_va @ coef + b0
            a, b = fit_platt(scores, y)
            # No fold's training rows held both classes (only possible on a handful of rows): fit on every row.
            coef, b0 = (np.mean([c for c, _ in fits], axis=0), float(np.mean([b0 for _, b0 in fits]))) if fits \
                else self._fit_binary(Xf, y)
        return coef, b0, (a, b), _sigmoid(a * scores + b)

    def _fit_binary(self, X, y) -> tuple[np.ndarray, float]:
        """Coefficients over the unscaled features (the NB ratios folded in) and the intercept.

        NB-LR leans on the features that split the label in the training rows; the plain fit keeps
        some weight on the rest, which real comments phrase differently (the blend measured better
        on the NHS themes than either alone, benchmarks/RESULTS_HISTORY.md)."""
        coef, b0 = np.zeros(X.shape[1]), 0.0
        if self.nb_weight < 1:
            clf = self._lr().fit(X, y)
            coef, b0 = (1 - self.nb_weight) * clf.coef_[0], (1 - self.nb_weight) * clf.intercept_[0]
        if self.nb_weight > 0:
            r = nb_log_count_ratio(X, y)
            if self.dense_columns_:
                r[slice(*self.dense_columns_)] = 1.0
            scaled = X.copy()  # a writable copy: X may be a worker's read-only memory map
            scaled.data *= r[scaled.indices]
            clf = self._lr().fit(scaled, y)
            coef, b0 = coef + self.nb_weight * clf.coef_[0] * r, b0 + self.nb_weight * clf.intercept_[0]
        return coef, b0

    # -- predict ----------------------------------------------------------------------
    def transform_features(self, X) -> sparse.csr_matrix:
        return self.features_and_tokens(X, spans=False)[0]

    def features_and_tokens(self, X, spans: bool = True) -> tuple[sparse.csr_matrix, list]:
        """``features_.transform(X)`` (the same matrix, faster) and each text's normalised tokens with their
        character spans, which :meth:`evidence` reuses instead of tokenizing again (``spans`` false: an
        empty list, and the tokens found without their offsets, which is faster)."""
        check_is_fitted(self, "features_")
        texts = as_texts(X, self.text_column)
        with gc_paused():
            tokens: list = []
            blocks = []
            for name, block in self.features_.transformer_list:
                if name == "word":
                    normalize = block.named_steps["normalize"]
                    if spans:
                        tokens = normalize.analyze_all(texts)
                        docs = [[t for _, _, t in toks] for toks in tokens]
                    else:
                        docs = normalize.tokens_all(texts)
                    blocks.append(_word_tfidf(block.named_steps["tfidf"], docs))
                elif name == "char":
                    blocks.append(_char_wb_tfidf(block, texts))
                else:
                    blocks.append(block.transform(texts))
            if getattr(self, "context_", None) is not None:
                blocks.append(self.context_.transform(_context(X, self.taxonomy_["context_columns"])))
            return sparse.hstack(blocks, format="csr"), tokens

    def proba_from_features(self, Xf) -> dict[str, np.ndarray]:
        """Probabilities per head: n x labels (taxonomy order); NaN for untrained labels."""
        out = {}
        tax = Taxonomy.from_dict(self.taxonomy_)
        for head in tax.heads:
            p = self.heads_[head.name]
            if head.is_multilabel:
                scores = np.asarray(Xf @ p["coef"].T) + p["intercept"]
                proba = _sigmoid(p["platt"][:, 0] * scores + p["platt"][:, 1])
                proba[:, ~p["trained"]] = np.nan
            else:
                logits = np.asarray(Xf @ p["coef"].T) + p["intercept"]
                if logits.shape[1] == 1:  # binary LogisticRegression keeps one row of coefficients
                    logits = np.hstack([np.zeros_like(logits), logits])
                logits -= logits.max(1, keepdims=True)
                ex = np.exp(logits)
                proba = np.zeros((Xf.shape[0], len(head.labels)))
                proba[:, p["columns"]] = ex / ex.sum(1, keepdims=True)
            out[head.name] = proba.astype(np.float64)
        return out

    def predict_proba(self, X) -> dict[str, np.ndarray]:
        return self.proba_from_features(self.transform_features(X))

    def decide(self, proba: dict[str, np.ndarray], thresholds: dict[str, dict[str, float]] | None = None) -> dict[str, np.ndarray]:
        """Turn probabilities into decisions: label strings (multiclass) or 0/1 matrices."""
        tax = Taxonomy.from_dict(self.taxonomy_)
        out = {}
        for head in tax.heads:
            p = proba[head.name]
            if head.is_multilabel:
                th = np.array([(thresholds or {}).get(head.name, {}).get(lab, self.thresholds_[head.name][lab])
                               for lab in head.label_names], dtype=float)
                out[head.name] = (np.nan_to_num(p, nan=-1.0) >= th[None, :]).astype(np.int8)
            else:
                out[head.name] = np.array(head.label_names, dtype=object)[np.argmax(p, axis=1)]
        return out

    def predict(self, X) -> pd.DataFrame:
        """Label columns in the same names and encoding as the training data."""
        decisions = self.decide(self.predict_proba(X))
        tax = Taxonomy.from_dict(self.taxonomy_)
        return pd.concat([h.decode(decisions[h.name]) for h in tax.heads], axis=1)

    # -- explanations -------------------------------------------------------------------
    def evidence(self, texts: list[str], Xf, decisions: dict[str, np.ndarray], top_k: int = 3,
                 tokens: list | None = None) -> list[dict]:
        """For each text, label -> the phrases (as written) whose word features pushed it most.

        ``tokens``: the texts' normalised tokens from :meth:`features_and_tokens`, if at hand.
        """
        tax = Taxonomy.from_dict(self.taxonomy_)
        words = self.features_.transformer_list[0][1]
        grams, telling = _word_vocab(words.named_steps["tfidf"])
        normalizer = words.named_steps["normalize"]
        lexicon = dict(self.features_.transformer_list).get("lexicon")
        Xw = Xf[:, : self.n_word_features_]
        cued = self._cued_rows(Xf, lexicon)
        out: list[dict] = [{} for _ in texts]
        analyzed: dict[int, tuple] = {}
        for head in tax.heads:
            p = self.heads_[head.name]
            dec = decisions[head.name]
            for j, lab in enumerate(head.label_names):
                if head.is_multilabel:
                    rows = np.flatnonzero(dec[:, j] == 1)
                    weights = p["coef"][j, : self.n_word_features_]
                else:
                    rows = np.flatnonzero(dec == lab)
                    pos = np.flatnonzero(p["columns"] == j)
                    if not len(pos) or lab == "neutral" or p["coef"].shape[0] == 1:
                        continue
                    weights = p["coef"][pos[0], : self.n_word_features_]
                weights = weights * telling  # once per label, not per row (x * 1 and x * 0 as before)
                cue_rows = cued.get((head.name, lab))
                for i, best in zip(rows.tolist(), _top_features(Xw, rows, weights, top_k)):
                    cues = (lexicon.matches(texts[i], head.name, lab)
                            if lexicon is not None and (cue_rows is None or i in cue_rows) else [])
                    if best and i not in analyzed:
                        toks = tokens[i] if tokens is not None else normalizer.analyze(texts[i])
                        analyzed[i] = (toks, [t for _, _, t in toks])
                    phrases = [_find_phrase(texts[i], *analyzed[i], grams[f]) for f in best] + cues
                    phrases = [ph for ph in dict.fromkeys(phrases) if ph]
                    if phrases:
                        out[i][lab] = phrases
        return out

    def _cued_rows(self, Xf, lexicon) -> dict[tuple[str, str], set]:
        """(head, label) -> rows whose cue feature fired: elsewhere ``lexicon.matches`` finds nothing, so
        evidence skips it. Empty (look everywhere) unless the cue block is last and has a non-zero weight."""
        if lexicon is None or not lexicon.weight or self.features_.transformer_list[-1][0] != "lexicon":
            return {}
        end = getattr(self, "n_text_features_", Xf.shape[1])  # context columns, if any, come after the cues
        block = Xf[:, end - len(lexicon.keys_): end].tocsc()
        return {key: set(block.indices[block.indptr[k]: block.indptr[k + 1]].tolist()) for k, key in enumerate(lexicon.keys_)}


_UNINFORMATIVE = frozenset(STOP_WORDS) | {"num", "urltoken", "emailtoken", "!", "?", "'s", "n't", "be", "have", "do"}


# Per fitted vectorizer, computed once per process: scoring calls these for every chunk.
_VOCAB_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_CHAR_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_CHAR_CACHE_WORDS = 200_000  # distinct words remembered per vectorizer before the cache starts again


def _context(X, columns) -> pd.DataFrame:
    """The context columns of ``X`` as normalised strings; "" where ``X`` is not a frame or lacks a column."""
    n = len(X)
    out = {}
    for c in columns:
        values = X[c] if isinstance(X, pd.DataFrame) and c in X.columns else pd.Series([""] * n)
        out[c] = [" ".join(str(v).lower().split()) if isinstance(v, str) else "" for v in values]
    return pd.DataFrame(out)


def _word_vocab(tfidf: TfidfVectorizer) -> tuple[list[list[str]], np.ndarray]:
    """Each word feature as its list of tokens, and whether it is telling enough to show as evidence."""
    if tfidf not in _VOCAB_CACHE:
        grams = [f.split(" ") for f in tfidf.get_feature_names_out()]
        # Phrases made only of stop words or placeholders ("it was", "num") explain nothing to a reader.
        telling = np.array([any(t.removeprefix("neg_") not in _UNINFORMATIVE for t in g) for g in grams])
        _VOCAB_CACHE[tfidf] = (grams, telling)
    return _VOCAB_CACHE[tfidf]


def _char_wb_tfidf(vec: TfidfVectorizer, texts: list[str]) -> sparse.csr_matrix:
    """``vec.transform(texts)`` for a fitted ``char_wb`` vectorizer: the same values, several times faster.

    char_wb n-grams never cross a space, so a text's n-gram counts are the sum of its words' counts:
    (texts x words) @ (words x n-grams) over the distinct words of the call, each word's n-grams
    analysed once per process. The product leaves each row's columns in scipy's order, not sorted as
    sklearn's are: sorting cost more than everything else here, and nothing downstream needs it (sums
    over a row add in another order than after sklearn's transform, which moves probabilities by about
    1e-6). That order follows the text's own words, so a comment gets the same row whatever it is
    scored with.
    """
    cache = _CHAR_CACHE.setdefault(vec, {})
    if len(cache) > _CHAR_CACHE_WORDS:
        cache.clear()
    vocab, preprocess = vec.vocabulary_, vec.build_preprocessor()
    words: dict[str, int] = {}  # the call's distinct words -> their row in the word x n-gram matrix
    found, indptr = [], [0]
    for text in texts:
        # sklearn first turns runs of whitespace into one space, which changes nothing str.split finds
        found += [words.setdefault(word, len(words)) for word in preprocess(text).split()]
        indptr.append(len(found))
    grams = []
    for word in words:
        ids = cache.get(word)
        if ids is None:
            ids = cache[word] = np.array([vocab[g] for g in vec._char_wb_ngrams(word) if g in vocab], dtype=np.int32)
        grams.append(ids)
    lengths = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams))
    word_grams = _ones_csr(np.concatenate(grams) if grams else [], np.concatenate([[0], np.cumsum(lengths)]),
                           len(vocab), vec.dtype)
    text_words = _ones_csr(found, indptr, len(words), vec.dtype)
    return vec._tfidf.transform(text_words @ word_grams, copy=False)


def _ones_csr(cols, indptr, n_cols: int, dtype) -> sparse.csr_matrix:
    """A CSR matrix with a 1 at each of ``cols``, row ``i`` holding ``cols[indptr[i]:indptr[i + 1]]``
    (a column listed twice in a row stays two entries until summed)."""
    return sparse.csr_matrix((np.ones(len(cols), dtype=dtype), np.asarray(cols, dtype=np.int32),
                              np.asarray(indptr, dtype=np.int64)), shape=(len(indptr) - 1, n_cols))


def _word_tfidf(vec: TfidfVectorizer, docs: list[list[str]]) -> sparse.csr_matrix:
    """``vec.transform([" ".join(d) for d in docs])`` for the fitted word vectorizer, given each document as
    its tokens (non-empty, without whitespace, as :class:`TextNormalizer` makes them): the same matrix, with
    the n-grams counted here.

    Its analyzer only splits on whitespace (``\\S+``, as ``str.split`` does) and joins n-grams with a space,
    so the counts are built straight from the tokens, without joining them into a text for sklearn's
    analyzer and counter to split again. Any other setting goes through ``vec.transform``.
    """
    if (vec.analyzer != "word" or vec.token_pattern != r"\S+" or vec.lowercase or vec.binary or vec.tokenizer
            or vec.preprocessor or vec.stop_words is not None or vec.strip_accents):
        return vec.transform([" ".join(tokens) for tokens in docs])
    vocab, (lo, hi) = vec.vocabulary_, vec.ngram_range
    found, indptr = [], [0]
    for tokens in docs:
        for n in range(lo, hi + 1):
            grams = tokens if n == 1 else map(" ".join, zip(*(tokens[k:] for k in range(n))))
            found += [vocab[g] for g in grams if g in vocab]
        indptr.append(len(found))
    counts = _ones_csr(found, indptr, len(vocab), vec.dtype)
    counts.sum_duplicates()  # sorted columns, summed repeats: what CountVectorizer.transform returns
    return vec._tfidf.transform(counts, copy=False)


def _top_features(X: sparse.csr_matrix, rows: np.ndarray, weights: np.ndarray, top_k: int) -> list[list[int]]:
    """Per row of ``rows``: the columns of its ``top_k`` largest positive ``X[i, col] * weights[col]``, largest first.

    That is ``cols[top[contrib[top] > 0]]`` with ``top = np.argsort(-contrib)[:top_k]``, row by row. All rows are
    sorted at once; np.argsort may put equal values in either order, so a row whose positive contributions
    hold a tie is redone by that very expression.
    """
    indptr, indices, data = X.indptr, X.indices, X.data
    starts, lengths = indptr[rows], indptr[rows + 1] - indptr[rows]
    offsets = np.cumsum(lengths) - lengths  # where each row's entries begin in the gathered arrays
    pos = np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()))
    cols = indices[pos]
    contrib = data[pos] * weights[cols]  # the same float32 products as row by row
    row = np.repeat(np.arange(len(rows)), lengths)
    order = np.lexsort((-contrib, row))  # by row, then largest contribution first
    c, r, k = contrib[order], row[order], cols[order]
    rank = np.arange(len(order)) - np.repeat(offsets, lengths)
    out: list[list[int]] = [[] for _ in range(len(rows))]
    keep = (rank < top_k) & (c > 0)
    for j, col in zip(r[keep].tolist(), k[keep].tolist()):
        out[j].append(col)
    tied = np.unique(r[1:][(r[1:] == r[:-1]) & (c[1:] == c[:-1]) & (c[1:] > 0)])
    for j in tied.tolist():
        a, b = indptr[rows[j]], indptr[rows[j] + 1]
        row_cols = indices[a:b]
        row_contrib = data[a:b] * weights[row_cols]
        top = np.argsort(-row_contrib)[:top_k]
        out[j] = row_cols[top[row_contrib[top] > 0]].tolist()
    return out


def _find_phrase(text: str, tokens: list[tuple[int, int, str]], norms: list[str], gram: list[str]) -> str:
    """The span of ``text`` whose normalised tokens (``norms``) equal ``gram`` (first match)."""
    n, k = len(gram), -1
    try:
        while True:
            k = norms.index(gram[0], k + 1)  # the next place the phrase could start (list.index runs in C)
            if k + n > len(norms):
                return ""
            if n == 1 or norms[k : k + n] == gram:
                return text[tokens[k][0] : tokens[k + n - 1][1]]
    except ValueError:
        return ""
