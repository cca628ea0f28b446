"""The scoring fast paths give exactly what the straightforward code gives.

Each fast path (case-insensitive patterns searched in lower-cased ASCII text, redaction
rules skipped where their trigger is absent, cue features built row by row) is compared
with a plain reference implementation on texts chosen to break it: upper case, mixed
case, non-ASCII letters that fold to ASCII ones ("İ", "ı", "ſ", the Kelvin sign),
emoji, control characters, identifiers of every kind, and generated text.
"""

import functools
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from complaintml.alerts import compile_rules, find_alerts
from complaintml import caseless
from complaintml.caseless import CaselessPattern, CaselessSet, ascii_lower, fold_safe, screenable
from complaintml.lexicon import LexiconFeatures, load_lexicon
from complaintml.redaction import RULES, _replace, redact

ROOT = Path(__file__).resolve().parents[1]
LEXICON = load_lexicon(ROOT / "configs" / "lexicon" / "default.yaml")
ALERTS = yaml.safe_load((ROOT / "configs" / "alerts.yaml").read_text(encoding="utf-8"))

# Patterns the fast path must refuse (upper-case letters, case-sensitive groups, characters that
# IGNORECASE folds onto ASCII letters), and ones it may take.
UNSAFE = ["Kind", "(?-i:kind)", "[A-Z]+", "[!-~]+ing", "\u017ftaff", "\u212aind", "\u0131nform", r"\x41", "Dr\\.? \\w+"]
SAFE = [r"kind\w*", r"[a-z]+ing", r"^\W*(no|none)\W*$", r"(?<=very )kind", r"(wait)\w* \1", r"£\d", r"\bn/?a\b"]

TEXTS = [
    "", " ", "kind", "KIND", "Kind staff", "kInD", "K\u0130ND", "k\u0131nd", "\u212aind", "\u017ftaff", "STAFF",
    "The nurses were kind and caring", "WAITED 3 HOURS, very RUDE receptionist", "nothing", "  None.  ", "N/A",
    "More staff\nLess waiting", "line\r\nBetter food", "Dr Patel", "DR PATEL", "wait wait", "WAIT Wait", "£5 charge",
    "thank you 😀 lovely", "caf\u00e9 was dirty", "\u0130nformation poor", "I wanted to HURT MYSELF", "Suicidal",
    "wrong MEDICATION", "very kind", "VERY KIND", "x" * 3000 + " kind", "\x1c\x1d kind \x0b", "don\u2019t know",
]

words = st.sampled_from(["kind", "KIND", "Kind", "wait", "WAITED", "rude", "nothing", "no", "staff", "hurt", "myself",
                         "wrong", "dose", "very", "dr", "Dr", "patel", "Nurse", "Karen", "@", "jo@x.org", "www.", "WWW.",
                         "http://x.y", "07700 900123", "943 476 5919", "SW1A 1AA", "12 High Street", "DOB 1/2/1980",
                         "\u0130", "\u0131", "\u017f", "\u212a", "😀", "\n", ".", ",", "!", "\u00a0", "n/a", "£5"])
texts = st.one_of(st.text(max_size=80), st.lists(words, max_size=14).map(" ".join), st.lists(words, max_size=14).map("".join))


def _sources():
    lexicon = [r"\b(?:" + "|".join(f"(?:{c})" for c in cues) + r")\b" for labels in LEXICON.values() for cues in labels.values()]
    alerts = [r"\b(?:" + "|".join(f"(?:{p})" for p in pats) + r")\b" for pats in ALERTS["phrases"].values()]
    return lexicon + alerts + UNSAFE + SAFE


def _same_spans(source, text):
    fast = CaselessPattern(source, re.M)
    slow = re.compile(source, re.I | re.M)
    lower = ascii_lower(text)
    found = [m.span() for m in fast.finditer(text, lower)]
    assert found == [m.span() for m in slow.finditer(text)], (source, text)
    assert (fast.search(text, lower) is None) == (slow.search(text) is None)


def test_fold_safe_refuses_what_lower_casing_would_change():
    assert not any(fold_safe(s) for s in UNSAFE)
    assert all(fold_safe(s) for s in SAFE)
    assert all(fold_safe(s) for s in _sources()[: -len(UNSAFE) - len(SAFE)])  # the shipped cues and alerts take it


def test_ascii_lower_only_for_ascii():
    assert ascii_lower("Kind STAFF") == "kind staff"
    assert ascii_lower("K\u0130ND") is None


# Patterns Hyperscan must not screen (syntax it might read differently from re), and ones it may.
UNSCREENABLE = [r"\bno\s+way\b", r"(?=kind)kind", r"(?i)kind", r"^\W*none\W*$", r"kind\Z", r"\Bind", r"k\x69nd",
                r"(?#c)kind", r"kind++", r"(?P<k>kind)", r"\(?kind"]
SCREENABLE = [r"\b(?:kind|car(?:ing|ed))\b", r"wait\w{0,3}", r"[^a-z ]kind", r"\d+ hours?", r"£\d", r"n/?a\.", r"x-?ray"]


def test_screenable_only_plain_syntax():
    assert not any(screenable(s) for s in UNSCREENABLE + UNSAFE)
    assert all(screenable(s) for s in SCREENABLE)
    assert not screenable("kind$") and screenable("kind$", re.M)


def _set_sources():
    return _sources() + UNSCREENABLE + SCREENABLE + ["(?:)", "a{900}"]  # the last two Hyperscan refuses itself


@pytest.fixture(params=["hyperscan", "re only"])
def engine(request, monkeypatch):
    if request.param == "hyperscan":
        pytest.importorskip("hyperscan")
    else:
        monkeypatch.setattr(caseless, "hyperscan", None)
    return request.param


@pytest.mark.parametrize("flags", [0, re.M])
def test_caseless_set_finds_what_each_pattern_finds(engine, flags):
    sources = _set_sources()
    patterns = [CaselessPattern(s, flags) for s in sources]
    found = CaselessSet(patterns, flags).found
    reference = [re.compile(s, re.I | flags) for s in sources]

    @settings(max_examples=150, deadline=None)
    @given(text=texts)
    def check(text):
        assert found(text) == [j for j, p in enumerate(reference) if p.search(text)], text

    for text in TEXTS:
        assert found(text) == [j for j, p in enumerate(reference) if p.search(text)], text
    check()


@pytest.mark.parametrize("text", TEXTS)
def test_caseless_pattern_matches_like_ignorecase(text):
    for source in _sources():
        _same_spans(source, text)


@settings(max_examples=150, deadline=None)
@given(text=texts)
def test_caseless_pattern_matches_like_ignorecase_generated(text):
    for source in _sources():
        _same_spans(source, text)


def _reference_pattern(cues: list[str]) -> re.Pattern:
    """A label's cues as one plain IGNORECASE pattern: what the lexicon's fast paths must agree with."""
    return re.compile(r"\b(?:" + "|".join(f"(?:{c})" for c in cues) + r")\b", re.I | re.M)


def _reference_lexicon(lex, texts):
    rows, cols = [], []
    for j, key in enumerate(lex.keys_):
        head, label = key
        pattern = _reference_pattern(lex.lexicon[head][label])
        for i, text in enumerate(texts):
            if pattern.search(text):
                rows.append(i)
                cols.append(j)
    return sparse.csr_matrix((np.full(len(rows), lex.weight, dtype=np.float32), (rows, cols)),
                             shape=(len(texts), len(lex.keys_)), dtype=np.float32)


def test_lexicon_features_and_matches_equal_reference(engine):
    @settings(max_examples=40, deadline=None)
    @given(extra=st.lists(texts, max_size=10))
    def check(extra):
        _check_lexicon(extra)

    check()


def _check_lexicon(extra):
    lexicon = {**LEXICON, "test": {"upper": ["Kind", "STAFF"], "long_s": ["\u017ftaff"]}}  # two slow-path labels
    lex = LexiconFeatures(lexicon, weight=0.5).fit([])
    all_texts = TEXTS + extra
    fast, ref = lex.transform(all_texts), _reference_lexicon(lex, all_texts)
    assert fast.shape == ref.shape and fast.dtype == ref.dtype
    assert np.array_equal(fast.indptr, ref.indptr) and np.array_equal(fast.indices, ref.indices)
    assert np.array_equal(fast.data, ref.data)
    for text in all_texts:
        for head, label in lex.keys_:
            pattern = _reference_pattern(lexicon[head][label])
            expected = list(dict.fromkeys(m.group(0).strip() for m in pattern.finditer(text) if m.group(0).strip()))[:2]
            assert lex.matches(text, head, label) == expected


def test_alerts_equal_reference(engine):
    @settings(max_examples=60, deadline=None)
    @given(extra=st.lists(texts, max_size=10))
    def check(extra):
        _check_alerts(extra)

    check()


def _check_alerts(extra):
    all_texts = TEXTS + extra
    rules = {**ALERTS, "phrases": {**ALERTS["phrases"], "upper": ["HURT Myself"]}}
    compiled = compile_rules(rules)
    expected = []
    for text in all_texts:
        hits = [reason for reason, pats in rules["phrases"].items()
                if text and re.search(r"\b(?:" + "|".join(f"(?:{p})" for p in pats) + r")\b", text, re.I)]
        expected.append(";".join(hits))
    assert find_alerts(all_texts, compiled) == expected


def _reference_redact(text):
    """Every rule, in order, on every text: what redact() did before rules were skipped."""
    if not isinstance(text, str) or not text:
        return text
    for tag, pattern in RULES:
        text = pattern.sub(lambda m, t=tag: _replace(t, m), text)
    return text


REDACT_TEXTS = TEXTS + [
    "email me at jo.bloggs+nhs@example.co.uk", "see https://example.org/a?b=1", "WWW.NHS.UK/x", "Www.x.org", "hTTpS://x",
    "my NHS number is 943 476 5919", "SSN 123-45-6789", "MRN: 00123456", "hospital number RX1234567",
    "DOB 01/02/1980", "born on 3rd March 1980", "call 07700 900123", "+447700900123", "(020) 7946 0018",
    "I live at 12 High Street", "postcode SW1A 1AA", "m1 1ae", "Springfield, IL 62704-1234", "Dr O'Neil",
    "then dr patel said no", "Nurse Karen", "phone \u0660\u0667\u0667\u0660\u0660 \u0669\u0660\u0660\u0661\u0662\u0663",
    "waited \uff14\uff15 hours", "DOB \u0661/\u0662/\u0661\u0669\u0668\u0660", "Dr Smith rang 07700 900123, email jo@x.org",
]


@pytest.mark.parametrize("text", REDACT_TEXTS)
def test_redact_equals_all_rules(text):
    assert redact(text) == _reference_redact(text)


@settings(max_examples=300, deadline=None)
@given(text=texts)
def test_redact_equals_all_rules_generated(text):
    assert redact(text) == _reference_redact(text)


def test_redaction_needs_are_read_from_the_rules():
    from complaintml import redaction

    needs = dict(zip([tag for tag, _ in RULES][:9], redaction._RULE_NEEDS[:9]))
    assert needs == {"EMAIL": "@", "URL": ":.", **{t: "digit" for t in
                     ("NHS_NUMBER", "SSN", "MRN", "DOB", "PHONE", "ADDRESS", "POSTCODE")}}
    assert redaction._RULE_NEEDS[9:] == [None, None]  # names: no such character needed, always run
    for source, need in [(r"\d?x", None), (r"(?:\d|x)y", None), (r"(?!\d)x", None), (r"x\d{0,3}", None),
                         (r"(?=\w*\d)\w+", "digit"), (r"(?:\d|[0-9])", None), (r"(?:a@|@b)", "@"), (r"[\d]{2}", "digit")]:
        assert redaction._need_of(re.compile(source)) == need, source
    # One look per text holds because no tag adds a needed character.
    tags = "".join(_replace(tag, re.match(r"(Dr) x", "Dr x")) for tag, _ in RULES)
    assert not any(holds(tags.replace("Dr", "")) for _, holds in redaction._NEEDS.values())


@pytest.mark.parametrize("seed", range(5))
def test_top_features_equal_row_by_row_argsort(seed):
    """Evidence's top word features, all rows at once, as np.argsort picks them row by row (ties included)."""
    from complaintml.model import _top_features

    rng = np.random.default_rng(seed)
    X = sparse.random(300, 80, density=0.15, random_state=seed, dtype=np.float32, format="csr")
    X.data = rng.choice(np.array([0.1, 0.25, 0.5, 1.0], dtype=np.float32), size=X.nnz)  # many equal values
    weights = rng.choice(np.array([-1.0, 0.0, 0.5, 1.0, 2.0], dtype=np.float32), size=80)  # and equal weights
    rows = np.sort(rng.choice(300, size=120, replace=False))
    expected = []
    for i in rows:
        cols = X.indices[X.indptr[i] : X.indptr[i + 1]]
        contrib = X.data[X.indptr[i] : X.indptr[i + 1]] * weights[cols]
        expected.append([cols[k] for k in np.argsort(-contrib)[:3] if contrib[k] > 0])
    assert _top_features(X, rows, weights, 3) == expected
    assert _top_features(X, rows[:0], weights, 3) == []


@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 2), (2, 3)])
def test_word_tfidf_equals_sklearn_transform(ngram_range):
    from sklearn.feature_extraction.text import TfidfVectorizer

    from complaintml.model import _word_tfidf

    train = ["the nurse be kind", "not neg_kind neg_at neg_all", "wait num hour", "the nurse be not neg_kind", "wait wait"] * 2
    vec = TfidfVectorizer(token_pattern=r"\S+", lowercase=False, ngram_range=ngram_range, min_df=2, sublinear_tf=True,
                          dtype=np.float32).fit(train)
    docs = train + ["", "  ", "the  nurse\u00a0be\u2028kind", "wait wait wait num", "unknown words only", "Wait"]
    fast, ref = _word_tfidf(vec, [d.split() for d in docs]), vec.transform(docs)
    assert fast.dtype == ref.dtype and fast.shape == ref.shape
    assert np.array_equal(fast.indptr, ref.indptr) and np.array_equal(fast.indices, ref.indices)
    assert np.array_equal(fast.data, ref.data)


def test_word_tfidf_other_settings_go_through_sklearn():
    from sklearn.feature_extraction.text import TfidfVectorizer

    from complaintml.model import _word_tfidf

    docs = ["The nurse was kind", "the NURSE was not kind", "wait"] * 2
    vec = TfidfVectorizer(token_pattern=r"\S+", ngram_range=(1, 2), sublinear_tf=True).fit(docs)  # lowercases
    fast, ref = _word_tfidf(vec, [d.split() for d in docs]), vec.transform(docs)
    assert (fast != ref).nnz == 0 and fast[1, vec.vocabulary_["nurse"]] > 0


def _char_vectorizer(ngram_range=(2, 5), max_features=None):
    from sklearn.feature_extraction.text import TfidfVectorizer

    train = ["The nurses were kind", "waited 3 hours, rude receptionist", "a b c", "Café  staff\tkind"] * 2
    return TfidfVectorizer(analyzer="char_wb", ngram_range=ngram_range, min_df=2, max_features=max_features,
                           sublinear_tf=True, dtype=np.float32).fit(train)


CHAR_DOCS = TEXTS + ["", "   ", "a", "I", "ab  ab\tAB", "café CAFÉ", "kind kind kind", "unknown zzz", "nurses, nurses."]


@pytest.mark.parametrize("ngram_range,max_features", [((2, 5), None), ((1, 3), 40), ((4, 6), None)])
def test_char_wb_tfidf_equals_sklearn_transform(ngram_range, max_features):
    """The same values as sklearn's transform; only the order of columns within a row may differ.
    (4, 6) covers sklearn's rule for words shorter than the n-gram: the padded word counts once."""
    from complaintml.model import _char_wb_tfidf

    vec = _char_vectorizer(ngram_range, max_features)
    ref = vec.transform(CHAR_DOCS)
    for _ in range(2):  # the second call reads every word from the cache
        fast = _char_wb_tfidf(vec, CHAR_DOCS)
        fast.sort_indices()
        assert fast.dtype == ref.dtype and fast.shape == ref.shape
        assert np.array_equal(fast.indptr, ref.indptr) and np.array_equal(fast.indices, ref.indices)
        np.testing.assert_allclose(fast.data, ref.data, rtol=1e-6)


def test_char_wb_tfidf_row_does_not_depend_on_the_other_texts():
    """A comment's features, down to the order of its columns, are the same whatever it is scored with:
    chunk sizes and batches must not move its probabilities even in the last bit."""
    from complaintml.model import _char_wb_tfidf

    vec = _char_vectorizer()
    together = _char_wb_tfidf(vec, CHAR_DOCS)
    for i, doc in enumerate(CHAR_DOCS):
        alone = _char_wb_tfidf(vec, [doc] + CHAR_DOCS[::-1])[0]
        row = slice(together.indptr[i], together.indptr[i + 1])
        assert np.array_equal(alone.indices, together.indices[row]) and np.array_equal(alone.data, together.data[row])


@pytest.mark.parametrize("n", [0, 1, 7, 500])
def test_delimited_decode_equals_row_by_row_join(n):
    import pandas as pd

    from complaintml.taxonomy import Taxonomy

    tax = Taxonomy.from_dict(yaml.safe_load((ROOT / "configs" / "taxonomy" / "default.yaml").read_text(encoding="utf-8")))
    head = next(h for h in tax.heads if h.is_multilabel and h.encoding != "onehot")
    rng = np.random.default_rng(n)
    y = (rng.random((n, len(head.label_names))) < 0.2).astype(np.int8)
    valid = rng.random(n) < 0.9
    names = np.array(head.label_names, dtype=object)
    expected = pd.Series(pd.array([head.separator.join(names[row.astype(bool)]) for row in y], dtype="string"))
    expected[~valid] = pd.NA
    pd.testing.assert_frame_equal(head.decode(y, valid), pd.DataFrame({head.column: expected}))


def _analyze_whole_text(norm, text):
    """The reference for TextNormalizer.analyze without negation marks: spaCy tokenizes the whole text
    at once; spaces and punctuation other than ! and ? are dropped."""
    out = []
    for tok in norm.nlp_.tokenizer(text):
        length, token, is_space, is_punct = norm._lexeme(tok.orth)
        if not is_space and (not is_punct or token in ("!", "?")):
            out.append((tok.idx, tok.idx + length, token))
    return out


@functools.cache
def _norms():
    from complaintml.text import TextNormalizer

    return TextNormalizer(negation=False).fit([]), TextNormalizer().fit([])


def _same_tokens(plain, marked, text):
    """``analyze`` without negation (``plain``) gives the reference tokens, and with it (``marked``) the same
    tokens with some marked ``neg_`` (the marking rules have their own tests in test_text.py); ``tokens``
    gives the same feature tokens as ``analyze``."""
    expected = _analyze_whole_text(plain, text)
    spans = marked.analyze(text)
    return (plain.analyze(text) == expected
            and [(a, b, t.removeprefix("neg_")) for a, b, t in spans] == expected
            # tokens(): the same feature tokens, found without their offsets
            and plain.tokens(text) == [t for _, _, t in expected] and marked.tokens(text) == [t for _, _, t in spans])


WHITESPACE_TEXTS = TEXTS + [
    "  lead\tspace\n\nx\u00a0y\u2003z (don't) can't!!", "no\u00a0rude", "not\u3000kind", "wasn't\u2028helpful at all",
    "U.S.A. e-mail a@b.com http://x.org 3pm £20", "(don't)", "\"can't\"", "Dr. Smith's", "a.m. p.m. etc.", "\t\n\r ",
    "NOT rude , but not kind either.", "can't\u00a0won't\r\nno-one", "ok:)", "... ?!", "O'Neill's ward (ward 3B)",
]


def test_chunk_cached_analyze_equals_whole_text_tokenizing():
    """Tokenizing each whitespace-free chunk on its own, and caching it, gives spaCy's tokens of the whole text."""
    plain, marked = _norms()
    for _ in range(2):  # the second pass reads every chunk from the cache
        for text in WHITESPACE_TEXTS:
            assert _same_tokens(plain, marked, text), repr(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list("ab.,'-!?()\"/:;0 \t\n\u00a0\u2003\u3000")
                                + ["not ", "n't", "don't", "e.g.", "Dr.", "dont", "Im", "xD", "cant", "Id", "é"]),
                max_size=40).map("".join))
def test_chunk_cached_analyze_equals_whole_text_tokenizing_generated(text):
    assert _same_tokens(*_norms(), text)


def test_chunks_skipping_the_tokenizer_get_its_tokens_around_special_cases():
    """Words and word-plus-mark chunks skip spaCy's tokenizer unless spaCy has a special case for them:
    every special case made of letters, alone and with each mark after it, is tokenized as spaCy does."""
    from spacy.attrs import IDX, ORTH

    from complaintml.text import _MARKS

    norm = _norms()[0]
    words = [k.rstrip(".") for k in norm.nlp_.tokenizer.rules if k.rstrip(".").isalpha()]
    words += ["nurse", "NURSE", "Nurse", "nursE", "ER", "A", "a", "PhD", "DONT", "ten"]
    assert len(words) > 300  # contractions without apostrophes ("dont", "Im"), abbreviations ("etc.", "Dr.")
    for word in words:
        for chunk in [word] + [word + mark for mark in sorted(_MARKS | {"."})]:
            expected = norm.nlp_.tokenizer(chunk).to_array([ORTH, IDX]).tolist()
            got = [[norm.nlp_.vocab.strings.add(t) if isinstance(t, str) else t, start] for t, start in norm._pieces(chunk)]
            assert got == expected, chunk


def test_words_skipping_the_vocabulary_get_their_lexeme_features():
    """A word of letters gets its feature token from spaCy's number-word test and the lemma table, as its lexeme would."""
    from complaintml.text import TextNormalizer

    for norm in _norms() + (TextNormalizer(lemmatize=False).fit([]),):
        for word in ["nurse", "Nurses", "WAITED", "ten", "Third", "hundred", "nt", "NT", "dont", "x", "was", "better"]:
            assert norm._word(word) == norm._lexeme(word), word
        assert norm._word("ten")[1] == "num"
    assert _norms()[0]._word("Nurses")[1] == "nurse"


def test_chunk_cached_analyze_equals_whole_text_tokenizing_on_real_comments():
    from conftest import SHARED_BENCH

    path = SHARED_BENCH / "nhs_fft_2020" / "comments.csv"
    if not path.exists():
        pytest.skip("the shared NHS comments are not beside the project")
    import pandas as pd

    texts = pd.read_csv(path, dtype=str, keep_default_na=False)["text"].tolist()[:4000]
    for text in texts:
        assert _same_tokens(*_norms(), text)
