"""MLflow model-from-code: the pyfunc that MLflow loads (``mlflow.pyfunc.load_model``).

Its ``predict`` returns exactly :func:`complaintml.scoring.predict_columns`, so the CLI,
``mlflow.pyfunc.load_model`` and ``mlflow.pyfunc.spark_udf`` give the same output. The
estimator is unpickled only after its sha256 matches ``model_config``.
"""

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class ComplaintPyfunc(PythonModel):
    def load_context(self, context):
        from complaintml.bundle import load_bundle_files

        self.bundle = load_bundle_files(context.artifacts["bundle"], context.model_config.get("estimator_sha256", ""))

    def predict(self, context, model_input, params=None):
        if isinstance(model_input, pd.DataFrame):
            col = self.bundle.taxonomy.text_column
            texts = model_input[col] if col in model_input.columns else model_input.iloc[:, 0]
        else:
            texts = pd.Series(list(model_input))
        context = model_input.reset_index(drop=True) if isinstance(model_input, pd.DataFrame) else None
        return self.bundle.predict_columns(texts.reset_index(drop=True), context=context)


mlflow.models.set_model(ComplaintPyfunc())
