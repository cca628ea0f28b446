"""Crash safety of `complaintml score`: kill -9 at random points, then --resume.

Each seed picks a kill point (during start-up, after a random number of chunks, at a random
moment while chunks are scored, or while the output is being assembled) and an output format.
After the kill there must be no output under the final name, or only the complete one; after
``--resume`` the output must be byte-for-byte the output of an uninterrupted run, with no
parts folder, lock or temporary file left behind.

Most jobs are forked from the test process and run the command line there (start-up in a
fraction of a second instead of seconds of imports); one seed starts a fresh interpreter, as
a scheduler would.
"""

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from complaintml.cli import app

from conftest import SAMPLE
from hardening_support import tiny_model

ROWS, CHUNK = 600, 50
CHUNKS = ROWS // CHUNK
FORMATS = ("csv", "parquet", "jsonl")
# (kill point, output format, fresh interpreter?) per seed; the point's exact moment is drawn from the seed.
SEEDS = {0: ("after_chunks", "csv", False), 1: ("while_scoring", "parquet", False),
         2: ("while_assembling", "csv", False), 3: ("while_scoring", "jsonl", True),
         4: ("after_chunks", "jsonl", False), 5: ("while_assembling", "parquet", False),
         6: ("during_startup", "csv", False)}


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    return tiny_model(tmp_path_factory)


@pytest.fixture(scope="module")
def job(tiny, tmp_path_factory):
    """The input file, and the uninterrupted output in each format (bytes of the file and its sidecar)."""
    root = tmp_path_factory.mktemp("crash")
    df = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False).head(ROWS)[["id", "text", "site"]]
    df.to_csv(root / "in.csv", index=False)
    baseline = {}
    for fmt in FORMATS:
        out = root / f"baseline.{fmt}"
        _score(tiny, root / "in.csv", out)
        baseline[fmt] = _files(out)
    return root, baseline


def _score(tiny, src: Path, out: Path, *extra: str) -> dict:
    result = CliRunner().invoke(app, ["score", str(src), "-o", str(out), "--model", str(tiny.model_dir),
                                      "--chunk-size", str(CHUNK), *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _files(out: Path) -> tuple[bytes, bytes | None]:
    meta = out.with_name(out.name + ".meta.json")
    return out.read_bytes(), (meta.read_bytes() if meta.exists() else None)


class _Forked:
    """`complaintml ARGS` in a forked child, with the bits of Popen's interface the tests use."""

    def __init__(self, args: list[str]):
        self.process = multiprocessing.get_context("fork").Process(target=_run_cli, args=(args,), daemon=True)
        self.process.start()
        self.pid = self.process.pid

    def poll(self):
        return None if self.process.is_alive() else self.process.exitcode

    def wait(self):
        self.process.join()
        return self.process.exitcode


def _run_cli(args: list[str]) -> None:
    sys.stdout = sys.stderr = open(os.devnull, "w")
    app(args, prog_name="complaintml")


def _start(tiny, src: Path, out: Path, *extra: str, fresh: bool = False):
    args = ["score", str(src), "-o", str(out), "--model", str(tiny.model_dir), "--chunk-size", str(CHUNK), *extra]
    if not fresh:
        return _Forked(args)
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    return subprocess.Popen([sys.executable, "-c", "from complaintml.cli import app; app()", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for(proc, ready, timeout: float = 120) -> bool:
    """Poll until ``ready()``; False if the process finished first."""
    deadline = time.time() + timeout
    while not ready():
        if proc.poll() is not None:
            return False
        assert time.time() < deadline, "kill point not reached in time"
        time.sleep(0.002)
    return True


def _kill_at(point: str, rng: random.Random, proc, out: Path) -> str:
    """Kill ``proc`` at the seed's point; returns what happened (for the failure message)."""
    parts = out.with_name(out.name + ".parts")
    lock = out.with_name(out.name + ".lock")
    if point == "during_startup":
        time.sleep(rng.uniform(0.0, 0.4))
    elif point == "after_chunks":
        k = rng.randint(1, CHUNKS - 1)
        _wait_for(proc, lambda: len(list(parts.glob("chunk-*.parquet"))) >= k)
        time.sleep(rng.uniform(0, 0.02))
    elif point == "while_scoring":
        _wait_for(proc, lock.exists)
        time.sleep(rng.uniform(0, 0.6))
    else:  # while_assembling: the temporary output exists, the final one not yet
        _wait_for(proc, lambda: any(out.parent.glob(f".{out.name}.*.tmp")))
        time.sleep(rng.uniform(0, 0.005))
    finished = proc.poll() is not None
    if not finished:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(parts.glob("chunk-*.parquet"))) if parts.exists() else "no parts folder"
    return f"{point}: {'finished before the kill' if finished else 'killed'}, chunks on disk: {done}"


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_kill_9_then_resume_gives_the_uninterrupted_output(job, tiny, tmp_path, seed):
    """kill -9 at a random point, then --resume: byte-identical output; never a partial file under the final name."""
    root, baseline = job
    point, fmt, fresh = SEEDS[seed]
    rng = random.Random(seed)
    out = tmp_path / f"scored.{fmt}"
    what = _kill_at(point, rng, _start(tiny, root / "in.csv", out, fresh=fresh), out)

    if point in ("after_chunks", "while_assembling"):  # points the job always reaches: it must not have finished
        assert "killed" in what, what
    if out.exists():  # only if the kill came after the final rename: then it is the whole output
        assert _files(out)[0] == baseline[fmt][0], what
    parts = out.with_name(out.name + ".parts")
    on_disk = len(list(parts.glob("chunk-*.parquet"))) if parts.exists() else 0

    summary = _score(tiny, root / "in.csv", out, "--resume")
    assert summary["rows_in"] == summary["rows_out"] == ROWS, what
    assert summary["chunks_resumed"] >= on_disk, what  # finished chunks are reused, not scored again
    assert _files(out) == baseline[fmt], what
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name not in (out.name, out.name + ".meta.json"))
    assert leftovers == [], (what, leftovers)


def test_two_kills_in_a_row_then_resume(job, tiny, tmp_path):
    """Killed, resumed and killed again, then resumed: still the uninterrupted output."""
    root, baseline = job
    out = tmp_path / "scored.csv"
    rng = random.Random(99)
    first = _kill_at("after_chunks", rng, _start(tiny, root / "in.csv", out), out)
    second = _kill_at("while_scoring", rng, _start(tiny, root / "in.csv", out, "--resume"), out)
    assert not out.exists() or _files(out)[0] == baseline["csv"][0], (first, second)
    _score(tiny, root / "in.csv", out, "--resume")
    assert _files(out) == baseline["csv"], (first, second)


def test_resume_of_a_changed_input_starts_again(job, tiny, tmp_path):
    """Parts left by a killed run are not reused when the input changed since: the output matches the new input."""
    root, _ = job
    src = tmp_path / "in.csv"
    pd.read_csv(root / "in.csv", dtype=str, keep_default_na=False).to_csv(src, index=False)
    out = tmp_path / "scored.parquet"
    _kill_at("after_chunks", random.Random(7), _start(tiny, src, out), out)
    changed = pd.read_csv(src, dtype=str, keep_default_na=False).head(120)
    changed.to_csv(src, index=False)
    summary = _score(tiny, src, out, "--resume")
    assert summary["rows_out"] == 120 and summary["chunks_resumed"] == 0
    assert pd.read_parquet(out)["id"].tolist() == changed["id"].tolist()
