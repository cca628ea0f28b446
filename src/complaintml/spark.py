"""Scoring on Spark: the pandas engine's output, computed by MLflow's ``spark_udf``.

``score_spark`` reads the input with Spark, scores the text column with
``mlflow.pyfunc.spark_udf`` (whose ``predict`` is :func:`complaintml.scoring.predict_columns`),
redacts the text it passes through, and writes one output file. The output equals
``complaintml score --engine pandas`` on the same input: same rows, same order, same
values and the same file layout, because the final file is assembled by the pandas
engine's own writer. Inputs and the output must be paths the driver can read and write
(local or mounted); the scoring itself runs on the executors.

Outside ``spark-submit`` a ``local[2]`` session is started (and stopped at the end);
under ``spark-submit``, or when a session is already active, that session is used.
``pipelines/spark_score.py`` is the ``spark-submit`` entry point.

Example::

    >>> from complaintml.bundle import load_bundle
    >>> score_spark("models/complaintml-default", load_bundle("models/complaintml-default"),
    ...             "new.csv", "scored.parquet")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .bundle import verify_dir
from .errors import ComplaintMLError, InputError
from .io import csv_dialect, file_format, iter_chunks
from .redaction import redact_series
from .scoring import (SCORED, ScoreSummary, _destination, _finish, _Lock, _metadata, _options, _prepare_chunk, _score_chunk,
                      output_schema)

__all__ = ["score_spark", "spark_session"]

# pyspark 4 warns on every pandas conversion that it does not fully support pandas 3. The
# Spark engine is tested for equality with the pandas engine instead, so the warning is noise.
_PANDAS3_WARNING = r".*does not yet fully support pandas.*"
# Rows per Arrow batch read back from Spark's part files (memory stays flat on the driver).
_BATCH_ROWS = 10000


def spark_session(master: str = "local[2]"):
    """The active session, ``spark-submit``'s, or a new local one; returns (session, started_here)."""
    warnings.filterwarnings("ignore", message=_PANDAS3_WARNING, category=FutureWarning)
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    builder = SparkSession.builder.appName("complaintml-score")
    local = "PYSPARK_GATEWAY_PORT" not in os.environ  # not under spark-submit: a local session of our own
    if local:
        # Workers must run this interpreter, the one where complaintml and mlflow are installed.
        os.environ["PYSPARK_PYTHON"] = sys.executable
        builder = (builder.master(master).config("spark.ui.enabled", "false")
                   .config("spark.sql.session.timeZone", "UTC")
                   # Python workers would print pyspark's pandas-3 deprecation warnings for every batch.
                   .config("spark.executorEnv.PYTHONWARNINGS", "ignore::FutureWarning,ignore::DeprecationWarning"))
    spark = builder.getOrCreate()
    if local:
        spark.sparkContext.setLogLevel("ERROR")
    return spark, True


def _read(spark, path: Path):
    """One input file as a Spark DataFrame whose columns match the pandas engine's reader."""
    from pyspark.sql import functions as F

    fmt = file_format(path)
    if fmt == "csv":
        from pyspark.sql.types import StringType, StructField, StructType

        encoding, delimiter, names = csv_dialect(path)
        df = (spark.read.schema(StructType([StructField(name, StringType()) for name in names]))
              .options(header=True, multiLine=True, escape='"', sep=delimiter, mode="FAILFAST",
                       encoding={"utf-8-sig": "UTF-8", "utf-8": "UTF-8", "cp1252": "windows-1252"}.get(encoding, encoding))
              .csv(str(path))
              .toDF(*[f"_c{i}" for i in range(len(names))]))
        # Every column is text and an empty cell is "", never null, as in the pandas engine (Spark reads an
        # empty cell as null whatever its options); the names come from csv_dialect, so a BOM or padding in
        # the header row reads the same in both engines.
        return df.select(*[F.coalesce(F.col(f"_c{i}"), F.lit("")).alias(name) for i, name in enumerate(names)])
    if fmt == "parquet":
        return spark.read.parquet(str(path))
    df = spark.read.json(str(path))
    with path.open(encoding="utf-8") as fh:
        first = next((line for line in fh if line.strip()), "{}")
    # Spark sorts JSON keys; pandas keeps them in the order of the first record.
    keys = [k for k in json.loads(first) if k in df.columns]
    return df.select(*keys, *[c for c in df.columns if c not in keys])


def _reference_schema(bundle, inputs: str, opts: dict) -> pa.Schema:
    """The Arrow schema of the pandas engine's part files, from its own path on the input's first row
    (with a text it can score, so that no label column is left untyped)."""
    row = _prepare_chunk(next(iter_chunks(inputs, 1)), 0, opts, str(inputs))
    row[opts["text_col"]] = pd.array(["The nurse was kind and explained everything."], dtype="string")
    return pa.Table.from_pandas(_score_chunk(bundle, row, opts), preserve_index=False).schema


def score_spark(model_ref: str, bundle, inputs: str, output: str | Path, text_col: str | None = None,
                id_col: str | None = None, keep_cols: list[str] | None = None, fmt: str | None = None,
                redact: bool = True, thresholds: dict | None = None) -> ScoreSummary:
    """Score every row of ``inputs`` into ``output`` on Spark; see the module docstring."""
    if thresholds:
        raise InputError("--threshold is not supported by --engine spark (the MLflow UDF uses the model's own "
                         "thresholds); use --engine pandas")
    start_time = time.time()
    output, fmt, files = _destination(output, fmt, inputs)
    opts = _options(bundle.taxonomy, text_col, id_col, keep_cols, None, redact)
    model_uri = str(model_ref)
    if not model_uri.startswith(("models:/", "runs:/")):
        verify_dir(Path(model_uri))  # the UDF loads the directory again on each worker
        model_uri = str(Path(model_uri).resolve())
    # MLflow's download bars would land on stdout, where the summary goes.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    summary = ScoreSummary(output=str(output))
    spark_dir = output.with_name(output.name + ".spark")
    parts_dir = output.with_name(output.name + ".spark-parts")  # not ".parts": a pandas run may resume from those
    with _Lock(output):
        spark, started_here = spark_session()
        try:
            shutil.rmtree(spark_dir, ignore_errors=True)
            shutil.rmtree(parts_dir, ignore_errors=True)
            summary.rows_in = _score_to_parts(spark, model_uri, bundle, files, spark_dir, opts)
            parts = _repack(spark_dir, parts_dir, _reference_schema(bundle, inputs, opts))
            summary.chunks = len(parts)
            _finish(parts, output, fmt, _metadata(bundle, opts), summary)
        finally:
            shutil.rmtree(spark_dir, ignore_errors=True)
            shutil.rmtree(parts_dir, ignore_errors=True)
            if started_here:
                spark.stop()
    summary.seconds = round(time.time() - start_time, 2)
    return summary


def _score_to_parts(spark, model_uri: str, bundle, files: list[Path], spark_dir: Path, opts: dict) -> int:
    """Read, score and write Spark part files (one per input partition, in input order); return rows in."""
    import mlflow.pyfunc
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf
    from pyspark.sql.types import StringType, _parse_datatype_string

    text_col, id_col = opts["text_col"], opts["id_col"]
    frames = [_read(spark, p) for p in files]
    df = frames[0]
    for other in frames[1:]:
        df = df.unionByName(other, allowMissingColumns=True)
    if text_col not in df.columns:
        raise InputError(f"{files[0]}: no text column '{text_col}' (columns: {', '.join(df.columns[:20])}); use --text-col")

    # Input order: no step below shuffles, so each partition keeps its rows in order and the
    # partitions keep the files' order. __pos records it (partition index << 33 | row in partition).
    df = df.withColumn("__pos", F.monotonically_increasing_id())
    counts = dict(df.groupBy(F.shiftright("__pos", 33).alias("p")).count().collect())
    rows_in = sum(counts.values())
    if rows_in == 0:
        raise InputError(f"{files[0]}: no data rows (header only?)")
    generated = id_col not in df.columns
    if generated:  # ids as the pandas engine makes them: 0..n-1 in input order
        offsets, total = [], 0
        for p in range(max(counts) + 1):
            offsets.append(total)
            total += counts.get(p, 0)
        offset = F.element_at(F.array(*[F.lit(o) for o in offsets]), F.shiftright("__pos", 33).cast("int") + 1)
        df = df.select((offset + F.col("__pos").bitwiseAND((1 << 33) - 1)).alias(id_col), *df.columns)

    @pandas_udf(StringType())
    def as_text(values: pd.Series) -> pd.Series:
        return values.astype("string")

    @pandas_udf(StringType())
    def redacted(values: pd.Series) -> pd.Series:
        return redact_series(values.astype("object")).astype("string")

    # Every passthrough column but a generated id is text, converted by pandas as in the pandas engine.
    types = dict(df.dtypes)
    columns = [c for c in df.columns if c != "__pos"]
    converted = {c: F.col(c) if types[c] == "string" or (generated and c == id_col) else as_text(F.col(c))
                 for c in columns}
    tax = bundle.taxonomy
    kinds = dict(output_schema(tax))
    # MLflow casts each struct field with numpy, which turns a null string into "nan" and fails on a null
    # integer. So integers travel as doubles, and the nulls that predict_columns gives unscored rows are
    # restored from their status; a NaN probability becomes null, as pyarrow writes it in the pandas engine.
    result_type = _parse_datatype_string("struct<" + ",".join(f"`{c}`:{'double' if t == 'int' else t}"
                                                              for c, t in kinds.items()) + ">")
    # env_manager="local" on purpose: the workers run this environment, which loaded and verified the model.
    mlflow_log = logging.getLogger("mlflow.pyfunc")
    level = mlflow_log.level
    mlflow_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_PANDAS3_WARNING, category=FutureWarning)
            predict = mlflow.pyfunc.spark_udf(spark, model_uri, result_type=result_type, env_manager="local")
    finally:
        mlflow_log.setLevel(level)
    missing = [c for c in tax.context_columns if c not in df.columns]
    if missing:  # the model's signature requires them (the pandas engine scores them as empty, with a warning)
        raise InputError(f"{files[0]}: context column(s) {', '.join(repr(c) for c in missing)} are missing; "
                         "the Spark engine needs them")
    df = df.withColumn("__scored", predict(converted[text_col].alias(tax.text_column),
                                           *[converted[c].alias(c) for c in tax.context_columns]))
    field = F.col("__scored").getField
    scored_row = field("status").isin(*SCORED)
    head_cols = {c for h in tax.heads for c in h.output_columns}

    def model_col(c: str):
        if c in head_cols:
            return F.when(scored_row, field(c).cast(kinds[c]))
        if kinds[c] == "double":
            return F.when(~F.isnan(field(c)), field(c))
        return field(c)

    model_cols = list(kinds)
    keep = [c for c in columns if opts["keep_cols"] is None or c in opts["keep_cols"]]
    given = {c: f"{c}__given" if c in model_cols else c for c in keep}
    front = [c for c in keep if given[c] == id_col]
    ordered = front + [c for c in keep if c not in front]
    passthrough = [(redacted(converted[c]) if c == text_col and opts["redact"] else converted[c]) for c in ordered]
    # Positional names: Spark's Parquet writer and SQL resolution both stay clear of label names such as "A & E".
    out = df.select(*[col.alias(f"c{i}") for i, col in enumerate(passthrough)],
                    *[model_col(c).alias(f"c{len(ordered) + j}") for j, c in enumerate(model_cols)], F.col("__pos"))
    out.write.mode("overwrite").parquet(str(spark_dir))
    (spark_dir / "_names.json").write_text(json.dumps([given[c] for c in ordered] + model_cols), encoding="utf-8")
    return rows_in


def _repack(spark_dir: Path, parts_dir: Path, schema: pa.Schema) -> list[Path]:
    """Spark's part files -> the pandas engine's part files (same schema), checking input order."""
    names = json.loads((spark_dir / "_names.json").read_text(encoding="utf-8"))
    if names != schema.names:
        raise ComplaintMLError(f"Spark output columns differ from the pandas engine's: {names} vs {schema.names}")
    parts_dir.mkdir()
    parts: list[Path] = []
    last = -1
    for spark_part in sorted(spark_dir.glob("part-*.parquet")):
        for batch in pq.ParquetFile(spark_part).iter_batches(batch_size=_BATCH_ROWS):
            pos = batch.column(batch.num_columns - 1).to_numpy()
            if len(pos) and (pos[0] <= last or (pos[1:] <= pos[:-1]).any()):
                raise ComplaintMLError("Spark returned rows out of input order; output not written")
            last = int(pos[-1]) if len(pos) else last
            table = pa.Table.from_batches([batch]).drop_columns(["__pos"]).rename_columns(names).cast(schema)
            part = parts_dir / f"chunk-{len(parts):06d}.parquet"
            pq.write_table(table, part)
            parts.append(part)
    return parts
