"""Quality benchmark: complaintml's default model against reference recipes, on the same rows.

Three evaluations, every model scored by the same code:

1. NHS FFT themes (``../shared/benchmarks/nhs_fft_v6/train.csv``, taxonomy
   ``configs/taxonomy/nhs_fft_v6.yaml``): 5-fold multilabel-stratified CV with a fixed
   seed; macro-F1 and micro-F1 over the themes with at least 40 examples in the file.
   Slow models run on the first folds only (``--slow-folds``).
2. The shipped labeled sample (``data/labeled_sample/comments.csv``): fit on its frozen
   train split, macro-F1 per head on its test split.
3. The real-text dev set (``benchmarks/real_dev.py``): the same fitted models score 300
   real NHS comments labeled with the default taxonomy.

Writes ``benchmarks/RESULTS.md`` (tables, command, machine, date, notes). Not part of the
test suite; ``make bench`` runs it. RESULTS.md is rewritten after every finished job, so
a run stopped early leaves a table marked PARTIAL; jobs run fold by fold, so every model
is compared on the same folds. The defaults need roughly 2 CPU-hours (under an hour with
``--jobs 2`` on two otherwise idle cores); on a machine
shared with other jobs, shrink the run with ``--models``, ``--folds``, ``--slow-models``
or ``--parts``, and merge runs with ``--render``::

    .venv/bin/python benchmarks/quality.py            # full run
    .venv/bin/python benchmarks/quality.py --quick    # smoke run: 1,200 NHS rows, 2 folds, few epochs
    .venv/bin/python benchmarks/quality.py --render out/q.json --note "..."   # re-render a saved --json run
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import platform
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
from iterstrat.ml_stratifiers import MultilabelStratifiedKFold
from joblib.externals.loky import get_reusable_executor

import _peers
import real_dev
from complaintml.dataset import load_dataset
from complaintml.taxonomy import load_taxonomy

ROOT = real_dev.ROOT
NHS = real_dev.SHARED / "nhs_fft_v6" / "train.csv"
NHS_TAXONOMY = ROOT / "configs" / "taxonomy" / "nhs_fft_v6.yaml"
MIN_THEME_EXAMPLES = 40
SEED = 0
# Models whose fit takes minutes per fold by default: they run on the first --slow-folds folds only.
# spacy_bow: 12 min per NHS fold (Adam steps on its 262,144-row hashed output layer), 61 min of a run's
# 141 CPU-minutes on all five folds.
SLOW = ("svc_reference", "spacy_ensemble", "spacy_bow")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@functools.lru_cache(maxsize=2)
def _nhs(quick: bool, folds: int):
    """The NHS frame, its taxonomy, the scored theme columns and the fixed folds (once per process)."""
    tax = load_taxonomy(NHS_TAXONOMY)
    frame = load_dataset(NHS, tax).frame
    if quick:
        frame = frame.sample(n=min(1200, len(frame)), random_state=SEED).reset_index(drop=True)
    Y = tax.heads[0].encode(frame)
    scored = np.flatnonzero(Y.sum(0) >= MIN_THEME_EXAMPLES)
    splits = list(MultilabelStratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED).split(np.zeros(len(Y)), Y))
    return tax, frame, Y, scored, splits


@functools.lru_cache(maxsize=1)
def _real():
    return real_dev.load_real_dev()


_CACHE = _peers.EmbeddingCache()
# complaintml's parameters, read once when the run starts: the config may be edited while
# a run goes on, and every fold must measure the same model.
_PARAMS: dict = {}


def _init_worker(params: dict) -> None:
    _PARAMS.update(params)


def nhs_fold(name: str, fold: int, folds: int, quick: bool) -> dict:
    """Fit ``name`` on the other folds of the NHS themes; macro/micro-F1, fit s and predict rows/s on ``fold``."""
    tax, frame, Y, scored, splits = _nhs(quick, folds)
    tr, te = splits[fold]
    texts = frame[tax.text_column].tolist()
    started, embedding = time.perf_counter(), _CACHE.seconds
    model = _peers.make(name, quick, _CACHE, _PARAMS).fit([texts[i] for i in tr], frame.iloc[tr].reset_index(drop=True),
                                                          tax)
    fit_s = time.perf_counter() - started - (_CACHE.seconds - embedding)
    started = time.perf_counter()
    test = frame.iloc[te].reset_index(drop=True) if getattr(model, "reads_context", False) else [texts[i] for i in te]
    pred = model.predict(test)[tax.heads[0].name]
    pred_s = time.perf_counter() - started
    macro, micro, _ = _peers.multilabel_scores(Y[te][:, scored], pred[:, scored])
    log(f"nhs {name} fold {fold + 1}: macro {macro:.3f} micro {micro:.3f} fit {fit_s:.0f}s")
    return {"fold": fold + 1, "macro_f1": macro, "micro_f1": micro, "fit_s": fit_s, "rows_per_s": len(te) / pred_s}


def sample_and_real(name: str, quick: bool) -> dict:
    """Fit ``name`` on the sample's train split; scores on its test split and on the real dev set."""
    started, embedding = time.perf_counter(), _CACHE.seconds
    model, ds = real_dev.fit_on_sample(name, quick, _CACHE, _PARAMS)
    fit_s = time.perf_counter() - started - (_CACHE.seconds - embedding)
    test = ds.test.reset_index(drop=True)
    started = time.perf_counter()
    decisions = model.predict(test["text"].tolist())
    pred_s = time.perf_counter() - started
    tax = ds.taxonomy
    out = {"fit_s": fit_s, "rows_per_s": len(test) / pred_s, "n_train": len(ds.train), "n_test": len(test),
           "test": {h.name: _peers.score_head(h, h.encode(test), decisions[h.name]) for h in tax.heads},
           "real": real_dev.score_real_dev(model, tax, _real())}
    log(f"sample {name}: " + ", ".join(f"{h} {s['macro_f1']:.3f}" for h, s in out["real"].items()) + " (real)")
    return out


def run_job(job: tuple) -> tuple:
    """One unit of work for the pool: ("nhs", name, fold, folds, quick) or ("sample", name, quick)."""
    before = (_CACHE.encoded, _CACHE.seconds)
    try:
        result = nhs_fold(*job[1:]) if job[0] == "nhs" else sample_and_real(*job[1:])
    except Exception as exc:  # one failing model must not lose the other models' hour of work
        log(f"{job[0]} {job[1]} failed:\n{traceback.format_exc()}")
        result = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        # joblib's worker processes (complaintml fits labels in them) idle for 5 minutes before they
        # exit, and this process cannot end before them: the run's end waited 5 minutes for nothing.
        get_reusable_executor().shutdown(wait=True)
    return job, result, (_CACHE.encoded - before[0], _CACHE.seconds - before[1])


def run_all(names: list[str], folds: int, slow: list[str], slow_folds: int, quick: bool, jobs: int, done,
            parts: tuple = ("sample", "nhs")) -> dict:
    """Every (model, fold) and (model, sample) job on ``jobs`` processes.

    Order: the sample jobs (they carry the real-text figures), then fold by fold, so that
    a run stopped early still compares every model on the same folds. ``done(results)``
    is called after each finished job. Each process keeps its own embedding cache;
    "embedded" totals the training texts embedded (and the seconds spent) over all of them.
    """
    work = [("sample", n, quick) for n in names if "sample" in parts]
    work += [("nhs", n, k, folds, quick) for k in range(folds) for n in names
             if "nhs" in parts and (k < slow_folds or n not in slow)]
    tax, frame, _, scored, _ = _nhs(quick, folds)
    results = {"nhs": {"rows": len(frame), "folds": folds, "themes": [tax.heads[0].label_names[j] for j in scored],
                       "models": {n: [] for n in names}},
               "sample": {}, "embedded": [0, 0.0], "errors": [], "jobs": [0, len(work)]}
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(_peers.default_params(),)) as pool:
        for future in as_completed([pool.submit(run_job, job) for job in work]):
            job, result, (count, seconds) = future.result()
            if "error" in result:
                where = f"NHS fold {job[2] + 1}" if job[0] == "nhs" else "the sample"
                results["errors"].append(f"`{job[1]}` failed on {where}: {result['error']}")
            elif job[0] == "nhs":
                runs = results["nhs"]["models"][job[1]]
                runs.append(result)
                runs.sort(key=lambda r: r["fold"])
            else:
                results["sample"][job[1]] = result
            results["embedded"][0] += count
            results["embedded"][1] += seconds
            results["jobs"][0] += 1
            done(results)
    return results


def _f(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or np.isnan(x) else f"{x:.{digits}f}"


def _mean(runs: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in runs])) if runs else float("nan")


def render(results: dict) -> str:
    """RESULTS.md from the figures, notes and run facts (``meta``) that main() collects."""
    names, nhs, sample, meta = results["models"], results.get("nhs"), results.get("sample", {}), results["meta"]
    lines = ["# Quality benchmark results", "",
             f"Generated by `benchmarks/quality.py`; started {meta['started']} (run took {meta['minutes']:.0f} min"
             + (" in all; each run's start and load average are given with its command" if " and `run " in meta["command"]
                else "") + ").", "",
             f"Command: `{meta['command']}`", "",
             f"Machine: {meta['machine']}, CPU only. Load average {meta['load'][0]:.1f} at the start and "
             f"{meta['load'][1]:.1f} at the end of the run (the highest over the runs when several are merged; 2 cores: above 2 means other jobs, e.g. "
             "test suites, shared the CPU, which makes times pessimistic and noisy; compare F1, and read times as "
             "rough ratios).", ""]
    if nhs:
        folds = nhs["folds"]
        lines += ["## NHS FFT themes (real comments, bring-your-own taxonomy)", "",
                  f"`nhs_fft_v6/train.csv`: {nhs['rows']} comments, {folds}-fold multilabel-stratified CV (seed {SEED}); "
                  f"macro-F1 and micro-F1 over the {len(nhs['themes'])} themes with at least {MIN_THEME_EXAMPLES} "
                  "examples in the file, mean over the folds run. Fit seconds per fold; predict rows/s on the test fold.",
                  "", "| model | folds | macro-F1 | micro-F1 | fit s | predict rows/s |", "|---|---|---|---|---|---|"]
        for name in names:
            runs = nhs["models"].get(name, [])
            if runs:
                lines.append(f"| {name} | {len(runs)} of {folds} | "
                             f"{_f(_mean(runs, 'macro_f1'))} | {_f(_mean(runs, 'micro_f1'))} | "
                             f"{_f(_mean(runs, 'fit_s'), 0)} | {_f(_mean(runs, 'rows_per_s'), 0)} |")
        lines += ["", "Macro-F1 per fold (compare models that ran on fewer folds on the same folds):", "",
                  "| model | " + " | ".join(f"fold {k + 1}" for k in range(folds)) + " |", "|---|" + "---|" * folds]
        for name in names:
            runs = {r["fold"]: r for r in nhs["models"].get(name, [])}
            if runs:
                lines.append(f"| {name} | " + " | ".join(_f(runs[k + 1]["macro_f1"]) if k + 1 in runs else "-"
                                                          for k in range(folds)) + " |")
        lines.append("")
    if sample:
        first = next(iter(sample.values()))
        lines += ["## Labeled sample (invented text) and real-text dev set", "",
                  f"Every model is fit on the train split of `data/labeled_sample/comments.csv` ({first['n_train']} rows) "
                  f"and scored on its test split ({first['n_test']} rows) and on the 300 real NHS comments of "
                  "`benchmarks/real_dev_labels.csv` (`benchmarks/real_dev.py`). Macro-F1 per head; polarity macro-F1 "
                  "over the classes present. Fit seconds for all three heads; predict rows/s on the test split.", "",
                  "| model | test feelings | test root_causes | test polarity | real feelings | real root_causes "
                  "| real polarity | fit s | predict rows/s |", "|---|---|---|---|---|---|---|---|---|"]
        for name in names:
            if name in sample:
                s = sample[name]
                cells = [_f(s[part][head]["macro_f1"]) for part in ("test", "real")
                         for head in ("feelings", "root_causes", "polarity")]
                lines.append(f"| {name} | " + " | ".join(cells) + f" | {_f(s['fit_s'], 0)} | {_f(s['rows_per_s'], 0)} |")
        lines += ["", "F1 per label on the 300 real comments (support = real comments with the label):", ""]
        lines += real_dev.per_label_table({n: sample[n]["real"] for n in names if n in sample})
        lines.append("")
    lines += ["## Models", ""] + [f"- `{n}`: {_peers.NOTES[n]}." for n in names] + ["", "## Notes", ""]
    lines += [f"- {note}" for note in results["notes"]]
    return "\n".join(lines) + "\n"


def _notes(results: dict, args, slow: list[str]) -> list[str]:
    notes = []
    finished, total = results["jobs"]
    if finished < total:
        notes.append(f"PARTIAL: {finished} of {total} jobs finished when this file was written.")
    if args.quick:
        notes.append("QUICK SMOKE RUN (--quick): 1,200 NHS rows, 2 folds, few spaCy epochs; not for comparison.")
    if slow:
        notes.append(f"{', '.join(slow)}: NHS themes on the first {min(args.slow_folds, args.folds)} of {args.folds} "
                     "folds only (minutes per fit); compare with the other models in the per-fold table.")
    count, seconds = results["embedded"]
    if count:
        notes.append(f"Embedding models: fit time excludes embedding the training texts, computed once per worker "
                     f"process and cached ({count} texts at {count / seconds:.0f} texts/s); predict rows/s includes "
                     "embedding.")
    notes.append(f"{args.jobs} worker processes ran the (model, fold) jobs side by side.")
    return notes + results["errors"] + [
        "Peers are multilabel-only: each head is fit as its own multilabel problem; polarity becomes one-hot "
        "columns decided by the highest score. complaintml fits all heads in one estimator.",
        "Labels with fewer than 5 training examples are not learned by any model (never predicted, F1 0).",
        "Reference points on the sealed held-out NHS split (25 themes, from `../shared/benchmarks/README.md`): "
        "pxtextmining's SVC recipe macro-F1 0.48, micro-F1 0.66; plain TF-IDF + one-vs-rest logistic regression "
        "macro-F1 0.49-0.52. The CV figures above use other rows and possibly other themes: compare models here, "
        "not with those numbers."]


def merge(runs: list[dict]) -> dict:
    """One result from several saved runs: models, folds and sample figures add up; notes and commands join.

    Later runs win where two runs hold the same model's sample figures or fold.
    """
    if len(runs) > 1:
        common = [n for n in runs[0]["notes"] if all(n in run["notes"] for run in runs[1:])]
        for i, run in enumerate(runs):
            run["notes"] = [f"Run {chr(65 + i)}: {note}" for note in run["notes"] if note not in common]
            run["meta"]["command"] = (f"run {chr(65 + i)} ({run['meta']['started']}, load {run['meta']['load'][0]:.1f}"
                                      f"-{run['meta']['load'][1]:.1f}): {run['meta']['command']}")
        runs[0]["notes"] = common + runs[0]["notes"]
    origin = {}  # (part, model) -> {fold or "sample": run letter}: which run each figure in the tables comes from
    out = runs[0]
    for i, run in enumerate(runs):
        for name, folds in run.get("nhs", {}).get("models", {}).items():
            origin.setdefault(("NHS", name), {}).update({r["fold"]: chr(65 + i) for r in folds})
        for name in run.get("sample", {}):
            origin[("sample", name)] = {"sample": chr(65 + i)}
        if i == 0:
            continue
        out["models"] += [n for n in run["models"] if n not in out["models"]]
        for name, folds in run["nhs"]["models"].items():
            new = {r["fold"] for r in folds}
            kept = [r for r in out["nhs"]["models"].get(name, []) if r["fold"] not in new]
            out["nhs"]["models"][name] = sorted(kept + folds, key=lambda r: r["fold"])
        out["sample"].update(run["sample"])
        out["notes"] += run["notes"]
        out["meta"]["command"] += f"` and `{run['meta']['command']}"
        out["meta"]["minutes"] += run["meta"]["minutes"]
        out["meta"]["load"] = [max(a, b) for a, b in zip(out["meta"]["load"], run["meta"]["load"])]
    if len(runs) > 1:
        # A later run replaces an earlier run's figures for the same model and fold, so a run's notes
        # may describe figures no longer shown; this says which run each shown figure comes from.
        shown = []
        for name in out["models"]:
            parts = []
            by_run: dict = {}
            for fold, letter in sorted(origin.get(("NHS", name), {}).items()):
                by_run.setdefault(letter, []).append(str(fold))
            parts += [f"NHS folds {','.join(folds)} from run {letter}" for letter, folds in by_run.items()]
            if ("sample", name) in origin:
                parts.append(f"sample from run {origin[('sample', name)]['sample']}")
            shown.append(f"{name}: {', '.join(parts)}")
        out["notes"].insert(0, "Runs merged; figures shown come from: " + "; ".join(shown) + ".")
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(_peers.MODELS), help="comma-separated: " + ",".join(_peers.MODELS))
    ap.add_argument("--folds", type=int, default=5, help="CV folds on the NHS themes")
    ap.add_argument("--slow-models", default=",".join(SLOW), help="models run on --slow-folds folds only")
    ap.add_argument("--slow-folds", type=int, default=2, help="folds run by the slow models")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1,200 NHS rows, 2 folds, 1 slow fold, few epochs")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (one job = one model on one fold)")
    ap.add_argument("--parts", default="sample,nhs", help="which evaluations to run: sample (with real dev), nhs")
    ap.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    ap.add_argument("--json", type=Path, help="also write the raw figures here")
    ap.add_argument("--render", type=Path, nargs="+", metavar="JSON",
                    help="only rewrite --output from saved --json files (later files add models and folds)")
    ap.add_argument("--note", action="append", default=[], help="a note to add to RESULTS.md (repeatable)")
    args = ap.parse_args(argv)
    if args.render:
        results = merge([json.loads(path.read_text(encoding="utf-8")) for path in args.render])
        results["notes"] += args.note
        args.output.write_text(render(results), encoding="utf-8")
        return
    if args.quick:
        args.folds, args.slow_folds = 2, 1
    if not NHS.is_file():
        raise SystemExit(f"{NHS} is missing: the benchmark reads the real comments from {real_dev.SHARED}")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

    started, clock = dt.datetime.now(), time.perf_counter()
    command = "python benchmarks/quality.py" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    load_start = os.getloadavg()[0]
    names = [n for n in args.models.split(",") if n]
    notes = list(args.note)
    for n in [n for n in names if not _peers.available(n)]:
        notes.append(f"`{n}` skipped: the `embeddings` extra is not installed.")
        names.remove(n)
    slow = [n for n in args.slow_models.split(",") if n in names]

    def done(partial: dict) -> None:
        results = {"models": names, **partial, "notes": notes + _notes(partial, args, slow)}
        results["meta"] = {"command": command, "started": f"{started:%Y-%m-%d %H:%M}",
                           "minutes": (time.perf_counter() - clock) / 60, "load": [load_start, os.getloadavg()[0]],
                           "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}, "
                                      f"{platform.system()} {platform.machine()}"}
        if args.json:
            args.json.write_text(json.dumps(results, indent=1, default=float), encoding="utf-8")
        args.output.write_text(render(results), encoding="utf-8")

    final = run_all(names, args.folds, slow, args.slow_folds, args.quick, args.jobs, done, tuple(args.parts.split(",")))
    minutes = (time.perf_counter() - clock) / 60
    log(f"wrote {args.output} ({minutes:.1f} min, {final['jobs'][0]} jobs)")


if __name__ == "__main__":
    main()
