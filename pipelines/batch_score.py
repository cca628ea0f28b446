"""Scheduled batch scoring: every new comment file in an inbox -> a scored file in an outbox.

    python pipelines/batch_score.py --inbox data/inbox --outbox out/scored --archive data/archive
    python pipelines/batch_score.py ... --model models:/complaintml-default@champion --jobs 2 --format csv

Each input (CSV, Parquet or JSONL in the inbox; hidden files and names ending in .tmp or
.part are not inputs, so a producer writes under such a name and renames when done) is

1. looked up by content (sha256) in ``<outbox>/processed.jsonl``: an input already
   processed is archived again but never scored twice;
2. scored by ``complaintml score``'s chunked engine into
   ``<outbox>/<name>-<sha256[:12]>.scored.<format>`` with resume on, so a job that was
   killed continues from its last completed chunk when it runs again;
3. recorded in ``processed.jsonl``, then moved to the archive folder.

Every run writes a manifest ``<outbox>/runs/<UTC time>.json``: the model, and for each
input its rows in and out, status counts, output, timings or error. A failed input stays
in the inbox while the others go on; the exit code is then the first failure's (2 bad
input, 3 model problem, 4 rows lost); 130 when interrupted, 0 when all went well. One run
at a time per outbox: a second one exits with code 2.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

LEDGER = "processed.jsonl"


def main(argv=None) -> int:
    from complaintml.cli import _setup_logging

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inbox", required=True, type=Path, help="folder where new comment files arrive")
    ap.add_argument("--outbox", required=True, type=Path, help="folder for scored files, the ledger and run manifests")
    ap.add_argument("--archive", required=True, type=Path, help="folder where processed inputs are moved")
    ap.add_argument("--model", help="models:/NAME@alias, models:/NAME/N or a model folder [default: the champion]")
    ap.add_argument("--format", choices=("parquet", "csv", "jsonl"), default="parquet", help="output format")
    ap.add_argument("--engine", choices=("pandas", "spark"), default="pandas")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (pandas engine)")
    ap.add_argument("--chunk-size", type=int, default=10000, help="rows per chunk (pandas engine)")
    ap.add_argument("--text-col", help="text column [default: the model's]")
    ap.add_argument("--id-col", help="id column [default: the model's; generated if absent]")
    ap.add_argument("--no-redact", action="store_true", help="keep the text column raw")
    args = ap.parse_args(argv)
    _setup_logging()
    if not args.inbox.is_dir():
        print(f"error: {args.inbox}: inbox folder not found", file=sys.stderr)
        return 2
    args.outbox.mkdir(parents=True, exist_ok=True)
    args.archive.mkdir(parents=True, exist_ok=True)
    with open(args.outbox / ".batch_score.lock", "w") as lock:
        try:  # the OS drops the lock when the process dies, even after kill -9
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"error: another batch job is running on {args.outbox}; refused", file=sys.stderr)
            return 2
        manifest = run(args)
    print(json.dumps({k: manifest[k] for k in ("status", "exit_code", "totals", "manifest")}, indent=2))
    return manifest["exit_code"]


def run(args) -> dict:
    """Process the inbox once; return the run manifest (also written to ``<outbox>/runs/``)."""
    from complaintml.errors import ComplaintMLError

    started = datetime.now(timezone.utc)
    runs = args.outbox / "runs"
    runs.mkdir(exist_ok=True)
    manifest = {"started": started.isoformat(timespec="seconds"), "inbox": str(args.inbox), "outbox": str(args.outbox),
                "archive": str(args.archive), "engine": args.engine, "format": args.format, "model": None,
                "inputs": [], "manifest": str(runs / f"{started.strftime('%Y%m%dT%H%M%S_%fZ')}.json")}
    code, t0, session = 0, time.time(), None
    try:
        from complaintml.bundle import load_bundle
        from complaintml.pipeline import resolve_model_ref

        ref = resolve_model_ref(args.model)
        bundle = load_bundle(ref)
        manifest["model"] = {"ref": ref, "name": bundle.name, "version": str(bundle.version)}
        if args.engine == "spark":  # one session for every input, not one each
            from complaintml.spark import spark_session

            session = spark_session()[0]
        done = _ledger(args.outbox / LEDGER)
        for path in _inputs(args.inbox):
            entry = _process(path, ref, bundle, args, done)
            manifest["inputs"].append(entry)
            code = code or entry.get("exit_code", 0)
    except ComplaintMLError as exc:
        manifest["error"], code = str(exc), exc.exit_code
    except KeyboardInterrupt:
        manifest["error"], code = "interrupted; run again to continue", 130
    finally:
        if session is not None:
            session.stop()
        manifest.update(_totals(manifest["inputs"]), finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        seconds=round(time.time() - t0, 2), exit_code=code,
                        status="ok" if code == 0 else "interrupted" if code == 130 else "failed")
        _write_json(Path(manifest["manifest"]), manifest)
    return manifest


def _process(path: Path, ref: str, bundle, args, done: dict) -> dict:
    """Score one input (unless already processed), record it, archive it; return its manifest entry."""
    from complaintml.bundle import sha256_file
    from complaintml.errors import ComplaintMLError

    t0 = time.time()
    sha = sha256_file(path)
    entry = {"input": path.name, "sha256": sha}
    output = args.outbox / f"{path.stem}-{sha[:12]}.scored.{args.format}"
    if sha in done:
        entry.update(state="already processed", output=done[sha]["output"])
    elif output.exists():  # scored, then stopped before it was recorded: the rename made it whole
        entry.update(state="already processed", output=output.name)
        _record(args.outbox / LEDGER, done, {"sha256": sha, "input": path.name, "output": output.name})
    else:
        try:
            summary = _score(path, output, ref, bundle, args)
        except ComplaintMLError as exc:
            return {**entry, "state": "failed", "error": str(exc), "exit_code": exc.exit_code,
                    "seconds": round(time.time() - t0, 2)}
        entry.update(state="scored", output=output.name, rows_in=summary.rows_in, rows_out=summary.rows_out,
                     status_counts=dict(summary.status_counts), alerts=summary.alerts,
                     needs_review=summary.needs_review, chunks_resumed=summary.chunks_resumed)
        _record(args.outbox / LEDGER, done, {"sha256": sha, "input": path.name, "output": output.name,
                                             "rows": summary.rows_out, "model": f"{bundle.name}/{bundle.version}",
                                             "at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    entry["archived_to"] = str(_archive(path, args.archive, sha))
    entry["seconds"] = round(time.time() - t0, 2)
    return entry


def _score(path: Path, output: Path, ref: str, bundle, args):
    if args.engine == "spark":
        from complaintml.spark import score_spark

        return score_spark(ref, bundle, str(path), output, text_col=args.text_col, id_col=args.id_col,
                           fmt=args.format, redact=not args.no_redact)
    from complaintml.scoring import score_file

    return score_file(bundle, ref, str(path), output, text_col=args.text_col, id_col=args.id_col,
                      chunk_size=args.chunk_size, jobs=args.jobs, resume=True, fmt=args.format,
                      redact=not args.no_redact, progress=False)


def _inputs(inbox: Path) -> list[Path]:
    from complaintml.errors import InputError
    from complaintml.io import list_inputs

    try:
        files = list_inputs(inbox)
    except InputError:  # an empty inbox is a normal night
        return []
    return [p for p in files if not p.name.startswith(".")]


def _ledger(path: Path) -> dict:
    """sha256 -> record of every input processed so far."""
    done = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a crash: that input was not recorded
                continue
            done[record["sha256"]] = record
    return done


def _record(path: Path, done: dict, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    done[record["sha256"]] = record


def _archive(path: Path, archive: Path, sha: str) -> Path:
    from complaintml.bundle import sha256_file

    target = archive / path.name
    if target.exists():
        if sha256_file(target) == sha:  # archived before, then delivered again
            path.unlink()
            return target
        target = archive / f"{path.stem}-{sha[:12]}{path.suffix}"
    shutil.move(str(path), target)
    return target


def _totals(entries: list[dict]) -> dict:
    counts = Counter()
    for e in entries:
        counts.update(e.get("status_counts", {}))
    states = Counter(e["state"] for e in entries)
    return {"totals": {"inputs": len(entries), **{k.replace(" ", "_"): v for k, v in states.items()},
                       "rows_in": sum(e.get("rows_in", 0) for e in entries),
                       "rows_out": sum(e.get("rows_out", 0) for e in entries), "status_counts": dict(counts)}}


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
