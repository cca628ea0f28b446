"""The Spark engine (local[2]) gives the pandas engine's output, row for row and byte for byte."""

import shutil

import pandas as pd
import pyarrow.parquet as pq
import pytest

from complaintml.scoring import score_file

from scoring_support import sample_frame, scoring_model

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install -e '.[spark]')")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java, and no java is on PATH", allow_module_level=True)

from complaintml.spark import score_spark, spark_session  # noqa: E402

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="session")
def model(tmp_path_factory):
    return scoring_model(tmp_path_factory)


@pytest.fixture(scope="module")
def spark():
    session, _ = spark_session("local[2]")
    yield session
    session.stop()


def odd_rows(n: int) -> pd.DataFrame:
    """Sample rows with label columns, plus texts every engine must treat alike."""
    df = sample_frame(n)
    odd = ["", "   ", "12345", "😀🙏", "=HYPERLINK(\"http://x\") rude nurse", "Call Dr Smith on 07700 900123",
           "Waited\r\nfour hours; nobody, \"at all\", told us why."]
    df.loc[: len(odd) - 1, "text"] = odd
    return df


def test_spark_equals_pandas_on_csv_to_parquet(model, spark, tmp_path):
    odd_rows(300).to_csv(tmp_path / "in.csv", index=False)
    want = score_file(model.bundle, model.ref, str(tmp_path / "in.csv"), tmp_path / "pandas.parquet", chunk_size=64)
    got = score_spark(model.ref, model.bundle, str(tmp_path / "in.csv"), tmp_path / "spark.parquet")
    assert got.rows_in == got.rows_out == want.rows_out == 300
    assert got.status_counts == want.status_counts and got.alerts == want.alerts
    assert pq.read_schema(tmp_path / "spark.parquet").equals(pq.read_schema(tmp_path / "pandas.parquet"),
                                                             check_metadata=True)
    spark_df, pandas_df = pd.read_parquet(tmp_path / "spark.parquet"), pd.read_parquet(tmp_path / "pandas.parquet")
    pd.testing.assert_frame_equal(spark_df, pandas_df)
    assert "polarity__given" in spark_df.columns and spark_df["status"].iloc[:4].tolist() == [
        "empty_text", "empty_text", "not_text", "not_text"]
    assert not list(tmp_path.glob("spark.parquet.*"))  # no work folders or lock left behind


def test_spark_equals_pandas_on_jsonl_without_ids_to_csv(model, spark, tmp_path):
    df = odd_rows(120).drop(columns="id")[["text", "site", "question"]]
    df["score"] = [i if i % 7 else None for i in range(len(df))]  # a numeric column with gaps
    df.to_json(tmp_path / "in.jsonl", orient="records", lines=True, force_ascii=False)
    keep = ["site", "score"]
    score_file(model.bundle, model.ref, str(tmp_path / "in.jsonl"), tmp_path / "pandas.csv", keep_cols=keep,
               chunk_size=50)
    score_spark(model.ref, model.bundle, str(tmp_path / "in.jsonl"), tmp_path / "spark.csv", keep_cols=keep)
    assert (tmp_path / "spark.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()
    out = pd.read_csv(tmp_path / "spark.csv", encoding="utf-8-sig")
    assert out["id"].tolist() == list(range(120)) and list(out.columns[:4]) == ["id", "text", "site", "score"]


def test_spark_equals_pandas_on_parquet_with_numeric_ids_and_unscorable_first_rows(model, spark, tmp_path):
    df = odd_rows(60)[["text", "site"]].iloc[2:].reset_index(drop=True)  # starts with rows that get no labels
    df.insert(0, "id", range(1000, 1000 + len(df)))
    df.to_parquet(tmp_path / "in.parquet", index=False)
    score_file(model.bundle, model.ref, str(tmp_path / "in.parquet"), tmp_path / "pandas.parquet", chunk_size=2)
    score_spark(model.ref, model.bundle, str(tmp_path / "in.parquet"), tmp_path / "spark.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "spark.parquet"), pd.read_parquet(tmp_path / "pandas.parquet"))
    assert pd.read_parquet(tmp_path / "spark.parquet")["id"].tolist() == [str(i) for i in df["id"]]
