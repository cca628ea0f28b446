"""The word-vector block: what it computes, how the model uses it, and how a saved model keeps it."""

import pickle

import numpy as np
import pandas as pd
import pytest

from complaintml.config import load_config
from complaintml.errors import ConfigError
from complaintml.model import ComplaintClassifier
from complaintml.taxonomy import load_taxonomy
from complaintml.vectors import WordVectors

from conftest import DEFAULT_TAXONOMY, ROOT, SAMPLE


@pytest.fixture()
def table(tmp_path):
    # Three words in two dimensions; "the" weighs almost nothing, as smooth inverse frequency makes it.
    path = tmp_path / "tiny.npz"
    np.savez(path, words=np.array(["rude", "nurse", "the"]), vectors=np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float16),
             weight=np.array([1.0, 0.5, 0.01], dtype=np.float32))
    return path


def test_comment_vector_is_the_weighted_mean_at_unit_length(table):
    vec = WordVectors(str(table), weight=2.0).fit()
    out = vec.transform(["Rude nurse, the RUDE one", "unknown words only", ""]).toarray()
    # rude twice (2 x 1 x [1, 0]) + nurse (0.5 x [0, 1]) + the (0.01 x [1, 1]) = [2.01, 0.51]
    expected = np.array([2.01, 0.51]) / np.hypot(2.01, 0.51) * 2.0
    np.testing.assert_allclose(out[0], expected, rtol=1e-3)
    assert not out[1].any() and not out[2].any()  # no known word: a zero row, not NaN


def test_builtin_table_puts_related_words_near_each_other():
    vec = WordVectors().fit()
    a, b, c = vec.transform(["petrified", "scared", "invoice"]).toarray()
    assert a @ b > a @ c + 0.1
    assert vec.vectors_.shape == (len(vec.words_), a.shape[0])


def test_fitted_block_keeps_its_table_through_pickling(table):
    vec = WordVectors(str(table)).fit()
    before = vec.transform(["rude nurse"]).toarray()
    table.unlink()  # a saved model must not need the file it was built from
    again = pickle.loads(pickle.dumps(vec))
    np.testing.assert_array_equal(again.transform(["rude nurse"]).toarray(), before)


def test_unreadable_table_is_a_config_error(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_text("not a table")
    with pytest.raises(ConfigError, match="word vectors"):
        WordVectors(str(bad)).fit()


def test_config_resolves_a_table_next_to_it_and_refuses_a_missing_one(tmp_path, table):
    cfg = tmp_path / "train.toml"
    cfg.write_text(f'[model]\nword_vectors = "{table.name}"\n')
    assert load_config(cfg).estimator_params()["word_vectors"] == str(table)
    cfg.write_text('[model]\nword_vectors = "missing.npz"\n')
    with pytest.raises(ConfigError, match="missing.npz"):
        load_config(cfg)


def test_model_leaves_the_vector_columns_out_of_nb_scaling():
    df = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    data = df[df["split"] == "train"].head(300).reset_index(drop=True)
    tax = load_taxonomy(DEFAULT_TAXONOMY)
    est = ComplaintClassifier(taxonomy=tax.to_dict(), cv_folds=3, word_vectors="builtin", nb_weight=1.0,
                              use_char=False, n_jobs=1).fit(data["text"], data)
    start, stop = est.dense_columns_
    assert start == est.n_word_features_ and stop - start == 128
    Xf = est.transform_features(data["text"])
    norms = np.linalg.norm(Xf[:, start:stop].toarray(), axis=1)
    assert (np.isclose(norms, 1.0, atol=1e-3) | (norms == 0)).all() and (norms > 0).mean() > 0.9
    # Every row has every dense column, so a naive Bayes count ratio of them is ~0 and would
    # silence the block; left unscaled, it carries weight in the stored coefficients.
    coef = est.heads_["root_causes"]["coef"]
    assert np.abs(coef[:, start:stop]).max() > 0.1
    lexicon = load_config(ROOT / "configs" / "train" / "default.toml").lexicon  # a block after word and char
    plain = ComplaintClassifier(taxonomy=tax.to_dict(), cv_folds=3, nb_weight=1.0, lexicon=lexicon,
                                n_jobs=1).fit(data["text"], data)
    assert plain.dense_columns_ is None
