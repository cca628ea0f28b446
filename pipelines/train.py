"""Scheduled training job: `python pipelines/train.py [--data ...]`, same options as `complaintml train`.

Kept thin on purpose: all the work is in complaintml.pipeline.run_training.
"""

from complaintml.cli import app

if __name__ == "__main__":
    app(["train", *__import__("sys").argv[1:]])
