import pickle

from complaintml.text import TextNormalizer, as_texts

import pandas as pd
import pytest


@pytest.fixture(scope="module")
def norm():
    return TextNormalizer().fit([])


def test_lemmas_lowercase_and_placeholders(norm):
    out = norm.transform(["The NURSES waited 3 hours, see www.example.org or mail a@b.com"])[0]
    assert out.split() == ["the", "nurse", "wait", "num", "hour", "see", "urltoken", "or", "mail", "emailtoken"]


def test_negation_scope_ends_at_punctuation_and_contrast(norm):
    out = norm.transform(["Staff were not rude, but the food was cold"])[0].split()
    assert "neg_rude" in out and "rude" not in out
    assert "cold" in out and "neg_cold" not in out


def test_without_negation_switch(norm):
    plain = TextNormalizer(negation=False).fit([])
    assert "neg_rude" not in plain.transform(["not rude"])[0]


def test_pickle_round_trip_gives_same_output(norm):
    texts = ["I wasn't told anything about my results", "Lovely midwives!!"]
    again = pickle.loads(pickle.dumps(norm))
    assert again.transform(texts) == norm.transform(texts)


def test_as_texts_selects_the_text_column_not_column_names():
    df = pd.DataFrame({"id": [1, 2], "text": ["a", None]})
    assert as_texts(df) == ["a", ""]
    with pytest.raises(ValueError):
        as_texts(pd.DataFrame({"a": ["x"], "b": ["y"]}))


def test_analyze_all_matches_analyze_and_restores_the_collector(norm):
    import gc

    texts = ["Nobody told us, and we waited 3 hours!", "", "Not rude at all"]
    assert norm.analyze_all(texts) == [norm.analyze(t) for t in texts]
    assert gc.isenabled()  # paused only while tokenizing
    gc.disable()
    try:
        norm.analyze_all(texts)
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()
