"""Scoring speed and memory on real comment text (not part of the test suite).

    .venv/bin/python benchmarks/speed.py                      # 100k and 1M rows, jobs 1 and 2
    .venv/bin/python benchmarks/speed.py --rows 100000 --profile

Input: the answers of ``../shared/benchmarks/nhs_fft_2020/comments.csv`` (real NHS Friends
and Family Test comments), repeated to each row count, as Parquet with an id column. For
each size it measures, in the same run:

* ``complaintml score`` end to end, file to file (Parquet in, Parquet out), with
  ``--jobs 1`` and ``--jobs 2``: rows/s over wall-clock time and over the CPU time of the
  whole process tree, and peak memory of the tree (sum of RSS, which counts pages that
  forked workers share with their parent once per process, and sum of PSS, which counts
  them once in all; sampled every 0.2 s);
* a single-process spaCy tokenizer-only pass (``spacy.blank("en")`` + ``nlp.pipe``) over
  the same texts: the reference rate, also over wall-clock and CPU time;
* on long texts (comments joined into 200-400 word pseudo-reviews): words/s of both.

CPU-time rates are the ones to compare on a shared machine: other processes stretch
wall-clock time, not the CPU time a run needs.

``--profile`` prints where one process spends its time (cProfile over 20k rows); ``--steps``
prints only the CPU seconds per 10,000 comments of each scoring step in a warm process.
Prints a Markdown table for ``benchmarks/SPEED.md`` and writes the figures as JSON.
The comment texts stay in the temporary work folder; nothing of them is printed.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "benchmarks" / "nhs_fft_2020" / "comments.csv"
ENV = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


def comments() -> np.ndarray:
    if not CORPUS.is_file():
        sys.exit(f"{CORPUS} not found: the speed benchmark needs the shared benchmark corpus")
    texts = pd.read_csv(CORPUS, dtype=str, keep_default_na=False)["text"]
    return texts[texts.str.strip() != ""].to_numpy(dtype=object)


def long_texts(texts: np.ndarray, n: int, seed: int = 0) -> list[str]:
    """Pseudo-reviews of 200-400 words, each made of whole comments in a random order."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        target, words, parts = rng.integers(200, 401), 0, []
        while words < target:
            t = texts[rng.integers(len(texts))]
            parts.append(t)
            words += len(t.split())
        out.append(" ".join(parts))
    return out


def write_input(texts, path: Path) -> Path:
    pd.DataFrame({"id": np.arange(len(texts)), "text": pd.array(texts, dtype="string")}).to_parquet(path, index=False)
    return path


def tree_memory(proc: subprocess.Popen) -> tuple[int, list[int], list[int]]:
    """Wait for ``proc``; return its exit code and the summed RSS and PSS of its process tree over time (bytes)."""
    import psutil

    root = psutil.Process(proc.pid)
    rss, pss = [], []
    while proc.poll() is None:
        try:
            mem = [p.memory_full_info() for p in [root, *root.children(recursive=True)]]
            rss.append(sum(m.rss for m in mem))
            pss.append(sum(m.pss for m in mem))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
        time.sleep(0.2)
    return proc.returncode, rss, pss


def _mib(samples: list[int]) -> int:
    return round(max(samples or [0]) / 2**20)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def score_run(model: str, src: Path, out: Path, jobs: int, chunk_size: int) -> dict:
    cmd = [str(Path(sys.executable).with_name("complaintml")), "score", str(src), "-o", str(out), "--model", model,
           "--jobs", str(jobs), "--chunk-size", str(chunk_size)]
    t0, cpu0 = time.perf_counter(), _children_cpu()
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    code, rss, pss = tree_memory(proc)
    stdout, stderr = proc.communicate()
    seconds, cpu = time.perf_counter() - t0, _children_cpu() - cpu0  # workers are reaped by the scorer: counted
    if code != 0:
        sys.exit(f"complaintml score failed ({code}): {stderr.strip().splitlines()[-1:]}")
    rows = json.loads(stdout)["rows_out"]
    # Memory is flat when the second half of the run peaks no higher than the first half.
    half = len(rss) // 2
    return {"rows": rows, "jobs": jobs, "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
            "rows_per_s": round(rows / seconds), "rows_per_cpu_s": round(rows / cpu),
            "peak_rss_mib": _mib(rss), "peak_pss_mib": _mib(pss), "peak_rss_first_half_mib": _mib(rss[:half]),
            "peak_rss_second_half_mib": _mib(rss[half:]), "command": " ".join(cmd)}


def tokenizer_rate(texts) -> tuple[float, float]:
    """Docs per wall-clock second and per CPU second of a fresh spacy.blank("en") over ``texts`` (nlp.pipe)."""
    import spacy

    nlp = spacy.blank("en")
    t0, cpu0 = time.perf_counter(), time.process_time()
    for _ in nlp.pipe(texts, batch_size=1000):
        pass
    return len(texts) / (time.perf_counter() - t0), len(texts) / (time.process_time() - cpu0)


def profile(model: str, texts, rows: int = 20000) -> None:
    from complaintml.bundle import load_bundle
    from complaintml.scoring import _options, _prepare_chunk, _score_chunk

    bundle = load_bundle(model)
    opts = _options(bundle.taxonomy, None, None, None, None, True)
    chunks = [_prepare_chunk(pd.DataFrame({"text": pd.array(texts[i : i + 10000], dtype="string")}), i, opts, "bench")
              for i in range(0, rows, 10000)]
    prof = cProfile.Profile()
    prof.enable()
    for chunk in chunks:
        _score_chunk(bundle, chunk, opts)
    prof.disable()
    pstats.Stats(prof).sort_stats("cumulative").print_stats(30)


def steps(model: str, texts, rows: int = 30000, chunk: int = 10000) -> dict:
    """CPU seconds per 10,000 comments of each scoring step, in one warm process.

    Warm: the whole corpus is scored once first, so the per-word caches hold what a long run holds.
    Then ``rows`` comments are scored in chunks, and each step is timed alone on the same chunks.
    """
    from complaintml import model as M
    from complaintml.alerts import find_alerts
    from complaintml.bundle import load_bundle
    from complaintml.redaction import redact_series
    from complaintml.scoring import _options, _prepare_chunk, _score_chunk

    bundle = load_bundle(model)
    est = bundle.estimator
    opts = _options(bundle.taxonomy, None, None, None, None, True)

    def frame(part, start):
        return _prepare_chunk(pd.DataFrame({"text": pd.array(part, dtype="string")}), start, opts, "bench")

    for i in range(0, len(texts), chunk):
        _score_chunk(bundle, frame(list(texts[i : i + chunk]), i), opts)
    batch = np.resize(np.asarray(texts, dtype=object), rows).tolist()
    chunks = [frame(batch[i : i + chunk], i) for i in range(0, rows, chunk)]
    cpu: dict[str, float] = {}

    def timed(name, fn, *args):
        t0 = time.process_time()
        out = fn(*args)
        cpu[name] = cpu.get(name, 0.0) + time.process_time() - t0
        return out

    blocks = dict(est.features_.transformer_list)
    for c in chunks:
        timed("whole chunk (_score_chunk)", _score_chunk, bundle, c, opts)
        sub = c["text"].tolist()
        toks = timed("spaCy tokenizer + normalisation", lambda: [blocks["word"].named_steps["normalize"].analyze(t) for t in sub])
        docs = [[t for _, _, t in tk] for tk in toks]
        tfidf = blocks["word"].named_steps["tfidf"]
        timed("word n-gram TF-IDF", M._word_tfidf, tfidf, docs)
        if "char" in blocks:
            timed("character n-gram TF-IDF", M._char_wb_tfidf, blocks["char"], sub)
        if "lexicon" in blocks:
            timed("cue-phrase lexicon features", blocks["lexicon"].transform, sub)
        Xf, toks = timed("features, all blocks (one call)", est.features_and_tokens, sub)
        proba = timed("probabilities and decisions", est.proba_from_features, Xf)
        dec = timed("probabilities and decisions", est.decide, proba)
        timed("evidence", est.evidence, sub, Xf, dec, 3, toks)
        timed("alert phrase rules", find_alerts, sub, bundle.compiled_alerts)
        timed("redaction", redact_series, c["text"].astype("object"))
    return {name: round(seconds * 10000 / rows, 3) for name, seconds in cpu.items()}


def ensure_model(model: str | None, work: Path) -> str:
    if model:
        return model
    default = ROOT / "models" / "complaintml-default"
    if default.is_dir():
        return str(default)
    out = work / "model"
    subprocess.run([str(Path(sys.executable).with_name("complaintml")), "train", "--data",
                    str(ROOT / "data" / "labeled_sample" / "comments.csv"), "--no-tracking", "--model-out", str(out)],
                   env=ENV, check=True, cwd=work, stdout=subprocess.DEVNULL)
    return str(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--chunk-size", type=int, default=10000)
    ap.add_argument("--long-docs", type=int, default=5000, help="pseudo-reviews for the words/s measure (0: none)")
    ap.add_argument("--model", help="model folder or URI [default: models/complaintml-default, trained if missing]")
    ap.add_argument("--workdir", type=Path, help="where inputs and outputs go [default: a temporary folder]")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "speed_results.json")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of 20k rows first")
    ap.add_argument("--steps", action="store_true", help="only print CPU s per 10k comments of each step (warm)")
    args = ap.parse_args(argv)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="complaintml-speed-"))
    work.mkdir(parents=True, exist_ok=True)
    model = ensure_model(args.model, work)
    texts = comments()
    if args.steps:
        print(json.dumps(steps(model, texts), indent=1))
        return 0
    if args.profile:
        profile(model, np.resize(texts, 20000).tolist())

    results = {"machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, Python "
                          f"{platform.python_version()}", "load_average_at_start": os.getloadavg(), "model": model,
               "corpus_rows": len(texts), "runs": []}
    for n in args.rows:
        batch = np.resize(texts, n)
        src = write_input(batch, work / f"in_{n}.parquet")
        tok, tok_cpu = tokenizer_rate(batch.tolist())
        for jobs in args.jobs:
            run = score_run(model, src, work / f"out_{n}_{jobs}.parquet", jobs, args.chunk_size)
            run.update(kind="comments", tokenizer_docs_per_s=round(tok), tokenizer_docs_per_cpu_s=round(tok_cpu),
                       ratio_to_tokenizer=round(run["rows_per_s"] / tok, 3),
                       cpu_ratio_to_tokenizer=round(run["rows_per_cpu_s"] / tok_cpu, 3))
            results["runs"].append(run)
            print(json.dumps(run), flush=True)
        (work / f"out_{n}_1.parquet").unlink(missing_ok=True)

    if args.long_docs:  # 0 skips the long-text runs
        docs = long_texts(texts, args.long_docs)
        words = sum(len(d.split()) for d in docs)
        src = write_input(docs, work / "in_long.parquet")
        tok, tok_cpu = (rate * words / len(docs) for rate in tokenizer_rate(docs))
        for jobs in args.jobs:
            run = score_run(model, src, work / f"out_long_{jobs}.parquet", jobs, 1000)
            run.update(kind="long", words=words, words_per_s=round(words / run["seconds"]),
                       words_per_cpu_s=round(words / run["cpu_seconds"]), tokenizer_words_per_s=round(tok),
                       tokenizer_words_per_cpu_s=round(tok_cpu), ratio_to_tokenizer=round(words / run["seconds"] / tok, 3),
                       cpu_ratio_to_tokenizer=round(words / run["cpu_seconds"] / tok_cpu, 3))
            results["runs"].append(run)
            print(json.dumps(run), flush=True)
    results["load_average_at_end"] = os.getloadavg()
    args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(markdown(results))
    return 0


def markdown(results: dict) -> str:
    lines = ["| input | rows | jobs | wall s | CPU s | per wall s | per CPU s | tokenizer per wall s / CPU s | ratio wall / CPU "
             "| peak RSS sum (1st / 2nd half) | peak PSS sum |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results["runs"]:
        if r["kind"] == "comments":
            what, unit, rate, rate_cpu = "comments", "rows", r["rows_per_s"], r["rows_per_cpu_s"]
            tok, tok_cpu = r["tokenizer_docs_per_s"], r["tokenizer_docs_per_cpu_s"]
        else:
            what, unit, rate, rate_cpu = "200-400 words", "words", r["words_per_s"], r["words_per_cpu_s"]
            tok, tok_cpu = r["tokenizer_words_per_s"], r["tokenizer_words_per_cpu_s"]
        lines.append(f"| {what} | {r['rows']:,} | {r['jobs']} | {r['seconds']} | {r['cpu_seconds']} | {rate:,} {unit} | "
                     f"{rate_cpu:,} {unit} | {tok:,} / {tok_cpu:,} | {r['ratio_to_tokenizer']} / {r['cpu_ratio_to_tokenizer']} | "
                     f"{r['peak_rss_mib']} MiB ({r['peak_rss_first_half_mib']} / {r['peak_rss_second_half_mib']}) | "
                     f"{r['peak_pss_mib']} MiB |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
