"""spark-submit entry point: score comments on Spark with a trained complaintml model.

Recipe (from the project root; ``local[2]`` here, a cluster's master URL there)::

    PYSPARK_PYTHON=$PWD/.venv/bin/python PYSPARK_DRIVER_PYTHON=$PWD/.venv/bin/python \\
    MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true \\
    .venv/bin/spark-submit --master 'local[2]' --conf spark.ui.enabled=false --conf spark.log.level=WARN \\
        --conf spark.executorEnv.PYTHONWARNINGS=ignore::FutureWarning,ignore::DeprecationWarning \\
        pipelines/spark_score.py data/labeled_sample/comments.csv out/scored.parquet \\
        --model models/complaintml-default

On a cluster every executor needs the same Python environment (complaintml, mlflow,
scikit-learn, spaCy), for example a packed virtual environment shipped with
``--archives``; the input and the output must be paths the driver can read and write.
The output equals ``complaintml score --engine pandas`` on the same input. Prints the
summary as JSON; exit codes as ``complaintml score`` (0 ok, 2 bad input, 3 model
problem, 4 rows lost, 130 interrupted).
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv=None) -> int:
    from complaintml.bundle import load_bundle
    from complaintml.cli import _setup_logging
    from complaintml.errors import ComplaintMLError
    from complaintml.pipeline import resolve_model_ref
    from complaintml.spark import score_spark

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input", help="CSV, Parquet or JSONL file, folder or glob")
    ap.add_argument("output", help="scored file (.parquet, .csv or .jsonl)")
    ap.add_argument("--model", help="models:/NAME@alias, models:/NAME/N or a model folder [default: the champion]")
    ap.add_argument("--text-col", help="text column [default: the model's]")
    ap.add_argument("--id-col", help="id column [default: the model's; generated if absent]")
    ap.add_argument("--keep-cols", help="comma-separated input columns to keep [default: all]")
    ap.add_argument("--format", choices=("parquet", "csv", "jsonl"), help="[default: from the output's extension]")
    ap.add_argument("--no-redact", action="store_true", help="keep the text column raw")
    args = ap.parse_args(argv)
    _setup_logging()
    try:
        ref = resolve_model_ref(args.model)
        keep = [c.strip() for c in args.keep_cols.split(",") if c.strip()] if args.keep_cols else None
        summary = score_spark(ref, load_bundle(ref), args.input, args.output, text_col=args.text_col,
                              id_col=args.id_col, keep_cols=keep, fmt=args.format, redact=not args.no_redact)
    except ComplaintMLError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(json.dumps(summary.as_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
