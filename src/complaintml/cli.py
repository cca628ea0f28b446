"""The ``complaintml`` command line: wiring only; every step lives in its own module.

Exit codes: 0 ok, 1 unexpected error, 2 bad input (data, taxonomy, config, options),
3 model problem (missing, unverified), 4 rows lost (output not trusted), 130 interrupted.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import ComplaintMLError, InputError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Tag patient comments with feelings, root causes and polarity; score files; build reports.")
log = logging.getLogger("complaintml")
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _default(rel: str) -> Path:
    """A default config file: from the working directory, else from the project checkout."""
    local = Path(rel)
    return local if local.is_file() else PROJECT_ROOT / rel



def _setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(message)s",
                        stream=sys.stderr)
    for noisy in ("mlflow", "alembic", "urllib3", "py4j", "matplotlib", "spacy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="mlflow")
    warnings.filterwarnings("ignore", category=FutureWarning)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")


def command(fn):
    """Run a command: one-line errors with documented exit codes, never a traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _setup_logging(os.environ.get("COMPLAINTML_DEBUG") == "1")
        try:
            return fn(*args, **kwargs)
        except ComplaintMLError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted; rerun with --resume to continue", err=True)
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:  # a bug: still one line, details with COMPLAINTML_DEBUG=1
            if os.environ.get("COMPLAINTML_DEBUG") == "1":
                raise
            typer.echo(f"error: unexpected {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''} "
                       f"(set COMPLAINTML_DEBUG=1 for details)", err=True)
            raise typer.Exit(1) from None
    return wrapper


def _taxonomy(path: Optional[Path], text_col: Optional[str], id_col: Optional[str]):
    from .taxonomy import load_taxonomy

    return load_taxonomy(path or _default("configs/taxonomy/default.yaml")).with_columns(text_col, id_col)


@app.command()
@command
def train(
    data: Annotated[Path, typer.Option("--data", help="Labeled CSV, Parquet or JSONL (file, folder or glob).")],
    taxonomy: Annotated[Optional[Path], typer.Option(help="Taxonomy YAML [default: configs/taxonomy/default.yaml].")] = None,
    config: Annotated[Optional[Path], typer.Option(help="Training config TOML [default: configs/train/default.toml].")] = None,
    model_out: Annotated[Optional[Path], typer.Option(help="Export folder [default: models/<taxonomy name>].")] = None,
    register: Annotated[Optional[str], typer.Option(help="Registered model name [default: the taxonomy's name].")] = None,
    text_col: Annotated[Optional[str], typer.Option(help="Text column (overrides the taxonomy).")] = None,
    id_col: Annotated[Optional[str], typer.Option(help="Id column (overrides the taxonomy).")] = None,
    no_tracking: Annotated[bool, typer.Option("--no-tracking", help="Skip MLflow (export only).")] = False,
):
    """Train on labeled comments, evaluate, log to MLflow, register (alias challenger) and export."""
    from .pipeline import run_training

    tax = _taxonomy(taxonomy, text_col, id_col)
    cfg_path = config or _default("configs/train/default.toml")
    out = run_training(data, tax, cfg_path, model_out, register, track=not no_tracking)
    typer.echo(json.dumps(out, indent=2))


@app.command()
@command
def score(
    input: Annotated[str, typer.Argument(help="Comments to score: CSV, Parquet, JSONL, a folder or a glob.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Scored file (.parquet, .csv or .jsonl).")],
    model: Annotated[Optional[str], typer.Option(help="models:/NAME@alias, models:/NAME/N or a model folder.")] = None,
    text_col: Annotated[Optional[str], typer.Option(help="Text column [default: the model's].")] = None,
    id_col: Annotated[Optional[str], typer.Option(help="Id column [default: the model's; generated if absent].")] = None,
    keep_cols: Annotated[Optional[str], typer.Option(help="Comma-separated input columns to keep (default: all).")] = None,
    chunk_size: Annotated[int, typer.Option(help="Rows per chunk.")] = 10000,
    jobs: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run.")] = False,
    format: Annotated[Optional[str], typer.Option("--format", help="parquet, csv or jsonl [default: from extension].")] = None,
    threshold: Annotated[Optional[list[str]], typer.Option("--threshold", help="Override a threshold: LABEL=0.4 (repeatable).")] = None,
    no_redact: Annotated[bool, typer.Option("--no-redact", help="Keep the text column raw (no identifier masking).")] = False,
    engine: Annotated[str, typer.Option(help="pandas or spark (local[2], or spark-submit's session; "
                                              "ignores --chunk-size, --jobs and --resume).")] = "pandas",
):
    """Score comments with a trained model; one output row per input row."""
    from .pipeline import resolve_model_ref
    from .scoring import parse_thresholds, score_file

    if jobs < 1:
        raise InputError("--jobs must be at least 1")
    ref = resolve_model_ref(model)
    from .bundle import load_bundle

    bundle = load_bundle(ref)
    th = parse_thresholds(threshold or [], bundle.taxonomy)
    keep = [c.strip() for c in keep_cols.split(",") if c.strip()] if keep_cols else None
    if engine == "spark":
        from .spark import score_spark

        summary = score_spark(ref, bundle, input, output, text_col=text_col, id_col=id_col, keep_cols=keep,
                              fmt=format, redact=not no_redact, thresholds=th)
    elif engine == "pandas":
        summary = score_file(bundle, ref, input, output, text_col=text_col, id_col=id_col, keep_cols=keep,
                             chunk_size=chunk_size, jobs=jobs, resume=resume, fmt=format, thresholds=th,
                             redact=not no_redact)
    else:
        raise InputError(f"--engine must be pandas or spark, got '{engine}'")
    typer.echo(json.dumps(summary.as_dict(), indent=2), err=False)


@app.command()
@command
def promote(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[str, typer.Option(help="Version to make champion.")],
):
    """Point the registry alias 'champion' at a model version."""
    from .tracking import promote as do_promote

    do_promote(name, version)
    typer.echo(f"{name} version {version} is now champion")


@app.command()
@command
def report(
    scored: Annotated[list[Path], typer.Argument(help="One or more scored files.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="HTML file to write.")] = Path("report.html"),
    by: Annotated[str, typer.Option(help="Comma-separated segment columns.")] = "site,department",
    date_col: Annotated[str, typer.Option(help="Date column for monthly trends.")] = "date",
    title: Annotated[Optional[str], typer.Option(help="Report title.")] = None,
    max_rows: Annotated[int, typer.Option(help="Most comments in the table.")] = 20000,
    min_cell: Annotated[int, typer.Option(help="Suppress segments smaller than this.")] = 5,
    no_redact: Annotated[bool, typer.Option("--no-redact", help="Show text unmasked.")] = False,
):
    """Build a self-contained HTML report over scored comments."""
    from .report import build_report

    path = build_report([str(p) for p in scored], output, by=tuple(c.strip() for c in by.split(",") if c.strip()),
                        date_col=date_col, title=title, max_table_rows=max_rows, min_cell=min_cell,
                        redact_text=not no_redact)
    typer.echo(f"report written to {path}")


def main():  # pragma: no cover
    app()


from .cli_loop import register as _register_loop; _register_loop(app)  # noqa: E402,E702
