import numpy as np
import pandas as pd
import pytest

from complaintml.errors import InputError, TaxonomyError
from complaintml.taxonomy import Taxonomy, load_taxonomy

from conftest import ROOT, DEFAULT_TAXONOMY


def test_default_taxonomy_matches_codebook_heads():
    tax = load_taxonomy(DEFAULT_TAXONOMY)
    assert [h.name for h in tax.heads] == ["polarity", "feelings", "root_causes"]
    assert tax.head_by_role("feelings").label_names == ["anxious", "humiliated", "inconvenienced", "uncomfortable"]
    assert len(tax.head("root_causes").labels) == 10
    assert all(lab.description for h in tax.heads for lab in h.labels)


def test_minimal_file_with_only_required_keys_is_valid():
    tax = Taxonomy.from_dict({"name": "x", "heads": [{"name": "topic", "kind": "multilabel", "labels": ["a", "b"]}]})
    assert tax.text_column == "text" and tax.heads[0].column == "topic" and tax.heads[0].role is None


def test_typo_in_key_is_reported_with_suggestion(tmp_path):
    bad = tmp_path / "t.yaml"
    bad.write_text("name: x\nheads:\n  - {name: p, kind: multiclass, lables: [a, b]}\n")
    with pytest.raises(TaxonomyError, match="did you mean 'labels'"):
        load_taxonomy(bad)


def test_nhs_taxonomy_is_onehot_with_fifty_themes():
    tax = load_taxonomy(ROOT / "configs" / "taxonomy" / "nhs_fft_v6.yaml")
    head = tax.heads[0]
    assert head.encoding == "onehot" and len(head.labels) == 50
    assert "Positive experience & gratitude" in head.output_columns and tax.text_column == "FFT answer"


def test_delimited_encode_decode_round_trip():
    tax = load_taxonomy(DEFAULT_TAXONOMY)
    head = tax.head("feelings")
    df = pd.DataFrame({"feelings": ["anxious;uncomfortable", "", None, "humiliated"]})
    y = head.encode(df)
    assert y.tolist() == [[1, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0]]
    assert head.decode(y)["feelings"].tolist() == ["anxious;uncomfortable", "", "", "humiliated"]


def test_unknown_label_names_file_column_and_row():
    head = load_taxonomy(DEFAULT_TAXONOMY).head("root_causes")
    df = pd.DataFrame({"root_causes": ["billing", "wait_time;parking"]})
    with pytest.raises(InputError, match=r"data.csv: column 'root_causes' .* row\(s\) 2: 'parking'"):
        head.encode(df, "data.csv")


def test_onehot_encode_rejects_non_binary():
    tax = Taxonomy.from_dict({"name": "x", "heads": [{"name": "t", "kind": "multilabel", "encoding": "onehot",
                                                      "labels": ["A & B", "C"]}]})
    head = tax.heads[0]
    good = pd.DataFrame({"A & B": [1, 0], "C": [0, 1]})
    assert np.array_equal(head.encode(good), [[1, 0], [0, 1]])
    with pytest.raises(InputError, match="'A & B' must hold 0 or 1"):
        head.encode(pd.DataFrame({"A & B": [2, 0], "C": [0, 1]}))


def test_multiclass_missing_value_is_an_error():
    head = load_taxonomy(DEFAULT_TAXONOMY).head("polarity")
    with pytest.raises(InputError, match="row\\(s\\) 2: empty"):
        head.encode(pd.DataFrame({"polarity": ["negative", None]}))
