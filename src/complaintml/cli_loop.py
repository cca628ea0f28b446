"""Commands of the retraining loop: suggest, audit-labels, merge-labels, compare, learning-curve, drift.

Wiring only: each command reads its inputs, calls one library function and writes or
prints the result. ``register(app)`` adds them to the main Typer app (see ``cli.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

__all__ = ["register"]

TaxonomyOpt = Annotated[Optional[Path], typer.Option(help="Taxonomy YAML [default: configs/taxonomy/default.yaml].")]
ConfigOpt = Annotated[Optional[Path], typer.Option(help="Training config TOML [default: configs/train/default.toml].")]
ModelOpt = Annotated[Optional[str], typer.Option(help="models:/NAME@alias, models:/NAME/N or a model folder "
                                                      "[default: the champion].")]
TextColOpt = Annotated[Optional[str], typer.Option(help="Text column (overrides the taxonomy).")]
IdColOpt = Annotated[Optional[str], typer.Option(help="Id column (overrides the taxonomy).")]


def _labeled(path: Path, tax):
    """A labeled dataset; without an id column, ids are the file's 1-based row numbers."""
    from .dataset import Dataset, validate_labeled
    from .io import read_table

    df = read_table(path)
    if tax.id_column not in df.columns:
        df.insert(0, tax.id_column, [str(i + 1) for i in range(len(df))])
    return Dataset(validate_labeled(df, tax, str(path)), tax, str(path), "")


def _config(path: Optional[Path]):
    from .cli import _default
    from .config import load_config

    default = _default("configs/train/default.toml")
    return load_config(path or (default if default.is_file() else None))


def register(app: typer.Typer) -> None:
    """Add the retraining-loop commands to ``app``."""
    from .cli import _taxonomy, command

    @app.command()
    @command
    def suggest(
        unlabeled: Annotated[str, typer.Argument(help="Unlabeled comments: CSV, Parquet, JSONL, a folder or a glob.")],
        output: Annotated[Path, typer.Option("-o", "--output", help="Suggestion file (.csv, .parquet or .jsonl).")],
        n: Annotated[int, typer.Option("-n", help="How many comments to suggest.")] = 200,
        model: ModelOpt = None,
        strategy: Annotated[str, typer.Option(help="Uncertainty: margin or entropy.")] = "margin",
        pool_factor: Annotated[float, typer.Option(help="Cluster the pool_factor*n most uncertain rows into n groups "
                                                        "(1 = uncertainty only).")] = 5.0,
        exclude: Annotated[Optional[Path], typer.Option(help="Labeled data whose ids and texts are skipped.")] = None,
        seed: Annotated[int, typer.Option(help="Random seed of the clustering.")] = 0,
        text_col: TextColOpt = None,
        id_col: IdColOpt = None,
    ):
        """Pick comments to label next (uncertain and diverse), with the model's guesses prefilled."""
        from .active import suggest as do_suggest
        from .bundle import load_bundle
        from .io import read_table, write_table
        from .pipeline import resolve_model_ref

        bundle = load_bundle(resolve_model_ref(model))
        frame = read_table(unlabeled)
        skip = read_table(exclude) if exclude else None
        out = do_suggest(bundle, frame, n, strategy=strategy, pool_factor=pool_factor, seed=seed, text_col=text_col,
                         id_col=id_col, exclude=skip)
        write_table(out, output)
        typer.echo(json.dumps({"rows_read": len(frame), "suggested": len(out), "output": str(output),
                               "model": f"{bundle.name} v{bundle.version}",
                               "mean_uncertainty": round(float(out["uncertainty"].mean()), 4)}, indent=2))

    @app.command("audit-labels")
    @command
    def audit_labels(
        labeled: Annotated[Path, typer.Argument(help="Labeled CSV, Parquet or JSONL.")],
        output: Annotated[Path, typer.Option("-o", "--output", help="Suspects file, most suspicious first.")],
        taxonomy: TaxonomyOpt = None,
        config: ConfigOpt = None,
        cv_folds: Annotated[Optional[int], typer.Option(help="Folds of the out-of-fold model [default: the config's].")] = None,
        min_confidence: Annotated[float, typer.Option(help="Flag only when the model favours the other answer at "
                                                           "least this much.")] = 0.5,
        top: Annotated[Optional[int], typer.Option(help="Write only the N most suspicious rows.")] = None,
        text_col: TextColOpt = None,
        id_col: IdColOpt = None,
    ):
        """Flag labeled rows whose labels the out-of-fold model confidently disagrees with."""
        from .audit import audit_labels as do_audit
        from .io import write_table

        tax = _taxonomy(taxonomy, text_col, id_col)
        ds = _labeled(labeled, tax)
        suspects = do_audit(ds, _config(config), min_confidence=min_confidence, cv_folds=cv_folds)
        written = suspects.head(top) if top else suspects
        write_table(written, output)
        typer.echo(json.dumps({"rows": len(ds.frame), "suspects": len(suspects), "written": len(written), "output": str(output),
                               "top": suspects["reasons"].head(5).tolist()}, indent=2))

    @app.command("merge-labels")
    @command
    def merge_labels(
        labeled: Annotated[Path, typer.Argument(help="The labeled data.")],
        corrected: Annotated[list[Path], typer.Argument(help="Corrected suggestion (or suspects) files, merged in order.")],
        output: Annotated[Path, typer.Option("-o", "--output", help="The merged labeled data to write.")],
        taxonomy: TaxonomyOpt = None,
        prefer: Annotated[Optional[str], typer.Option(help="Resolve conflicting labels: new (later file wins) or old.")] = None,
        annotator: Annotated[Optional[str], typer.Option(help="Annotator of rows that name none.")] = None,
        split: Annotated[str, typer.Option(help="Split of new rows (the test split stays frozen).")] = "train",
        conflicts: Annotated[Optional[Path], typer.Option(help="Conflicts file [default: OUTPUT.conflicts.csv].")] = None,
        text_col: TextColOpt = None,
        id_col: IdColOpt = None,
    ):
        """Fold corrected label files into the labeled data, with provenance; report conflicts."""
        from .errors import InputError
        from .io import read_table, write_table
        from .merge import merge_labels as do_merge

        tax = _taxonomy(taxonomy, text_col, id_col)
        result = do_merge(read_table(labeled), [(str(p), read_table(p)) for p in corrected], tax, prefer=prefer,
                          annotator=annotator, split=split, labeled_name=str(labeled))
        conflicts_path = conflicts or output.with_name(output.stem + ".conflicts.csv")
        if len(result.conflicts):
            write_table(result.conflicts, conflicts_path)
        if result.unresolved:
            ids = result.conflicts["id"].nunique()
            raise InputError(f"{result.unresolved} conflicting field(s) for {ids} id(s), written to {conflicts_path}; "
                             f"fix the files or rerun with --prefer new|old ({output} not written)")
        write_table(result.frame, output)
        typer.echo(json.dumps({**result.summary(), "output": str(output),
                               "conflicts_file": str(conflicts_path) if len(result.conflicts) else None}, indent=2))

    @app.command()
    @command
    def compare(
        champion: Annotated[str, typer.Option(help="Current model: models:/NAME@champion, models:/NAME/N or a folder.")],
        challenger: Annotated[str, typer.Option(help="Candidate model.")],
        data: Annotated[Path, typer.Option(help="Labeled data; its test split (or all rows, if it has none).")],
        n_boot: Annotated[int, typer.Option(help="Paired bootstrap resamples.")] = 1000,
        max_loss: Annotated[float, typer.Option(help="Largest macro-F1 loss on any head that still allows promotion.")] = 0.02,
        seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
        json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the decision as JSON.")] = None,
        text_col: TextColOpt = None,
    ):
        """Champion vs challenger: paired bootstrap of macro-F1 per head, per-label deltas, verdict."""
        from .bundle import load_bundle
        from .compare import compare_models, format_comparison, test_rows
        from .dataset import load_dataset

        champ, chall = load_bundle(champion), load_bundle(challenger)
        frame = test_rows(load_dataset(data, champ.taxonomy.with_columns(text_col)))
        decision = compare_models(champ, chall, frame, n_boot=n_boot, seed=seed, max_loss=max_loss)
        if json_out:
            json_out.write_text(json.dumps(decision, indent=2), encoding="utf-8")
        typer.echo(format_comparison(decision))

    @app.command("learning-curve")
    @command
    def learning_curve(
        labeled: Annotated[Path, typer.Argument(help="Labeled CSV, Parquet or JSONL.")],
        taxonomy: TaxonomyOpt = None,
        config: ConfigOpt = None,
        fractions: Annotated[str, typer.Option(help="Comma-separated shares of the training rows.")] = "0.1,0.25,0.5,0.75,1",
        seeds: Annotated[int, typer.Option(help="Repeats with other row orders.")] = 1,
        cv_folds: Annotated[Optional[int], typer.Option(help="Folds inside each fit [default: the config's].")] = None,
        output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write every point as CSV.")] = None,
        plot: Annotated[Optional[Path], typer.Option(help="Write the curve as PNG.")] = None,
        text_col: TextColOpt = None,
        id_col: IdColOpt = None,
    ):
        """Held-out macro-F1 against the number of labeled rows: does more labeling still pay?"""
        from .curve import learning_curve as do_curve
        from .curve import plot_learning_curve, summarize_curve
        from .dataset import load_dataset
        from .drift import to_markdown
        from .errors import InputError
        from .io import write_table

        try:
            shares = [float(f) for f in fractions.split(",") if f.strip()]
        except ValueError:
            raise InputError(f"--fractions '{fractions}': expected numbers such as 0.1,0.5,1") from None
        ds = load_dataset(labeled, _taxonomy(taxonomy, text_col, id_col))
        curve = do_curve(ds, _config(config), shares, seeds=seeds, cv_folds=cv_folds)
        if output:
            write_table(curve, output)
        if plot:
            plot_learning_curve(curve, plot)
        typer.echo(to_markdown(summarize_curve(curve)))

    @app.command()
    @command
    def drift(
        reference: Annotated[Path, typer.Argument(help="The training data (or any reference batch).")],
        new: Annotated[Path, typer.Argument(help="The new batch of comments.")],
        model: ModelOpt = None,
        text_col: Annotated[Optional[str], typer.Option(help="Text column of NEW [default: the model's].")] = None,
        reference_text_col: Annotated[Optional[str], typer.Option(help="Text column of REFERENCE [default: the model's].")] = None,
        format: Annotated[str, typer.Option("--format", help="markdown or csv (stdout).")] = "markdown",
        output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Also write the table (.csv, .parquet).")] = None,
    ):
        """How NEW differs from REFERENCE: predicted label prevalence, PSI per label, unseen vocabulary."""
        from .bundle import load_bundle
        from .drift import drift_table, to_markdown
        from .errors import InputError
        from .io import read_table, write_table
        from .pipeline import resolve_model_ref

        if format not in ("markdown", "csv"):
            raise InputError(f"--format must be markdown or csv, got '{format}'")
        bundle = load_bundle(resolve_model_ref(model))
        table = drift_table(bundle, read_table(reference), read_table(new), text_col=text_col,
                            reference_text_col=reference_text_col)
        if output:
            write_table(table, output)
        typer.echo(to_markdown(table) if format == "markdown" else table.to_csv(index=False, float_format="%.4f"))
