"""Retrain job: train a challenger, compare it with the champion on the frozen test split, promote if better.

    python pipelines/retrain.py --data data/labeled_sample/comments.csv
    python pipelines/retrain.py --data ../shared/benchmarks/nhs_fft_v6/train.csv --taxonomy configs/taxonomy/nhs_fft_v6.yaml

The challenger is registered (alias ``challenger``) and exported to
``models/<name>-challenger``; when it becomes champion (better with confidence, or the
first model) that export moves to ``models/<name>``. The decision and its evidence are
logged to MLflow. Prints the decision as JSON; exit code 0 whether or not it promoted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path


def main(argv=None) -> int:
    from complaintml.cli import _default, _setup_logging
    from complaintml.compare import champion_challenger
    from complaintml.errors import ComplaintMLError
    from complaintml.pipeline import run_training
    from complaintml.taxonomy import load_taxonomy

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="labeled data with a frozen split column")
    ap.add_argument("--taxonomy", default=str(_default("configs/taxonomy/default.yaml")))
    ap.add_argument("--config", default=str(_default("configs/train/default.toml")))
    ap.add_argument("--name", help="registered model name [default: the taxonomy's name]")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--max-loss", type=float, default=0.02)
    args = ap.parse_args(argv)
    _setup_logging()

    try:
        tax = load_taxonomy(args.taxonomy)
        name = args.name or tax.name
        staged = Path("models") / f"{name}-challenger"
        trained = run_training(args.data, tax, args.config, model_out=staged, register=name)
        decision = champion_challenger(name, args.data, n_boot=args.n_boot, max_loss=args.max_loss)
    except ComplaintMLError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    if decision["promote"]:
        target = Path("models") / name
        shutil.rmtree(target, ignore_errors=True)
        shutil.move(str(staged), target)
        decision["exported_to"] = str(target)
    print(json.dumps({"trained": {k: trained[k] for k in ("model", "version", "run_id", "metrics")},
                      "decision": {k: v for k, v in decision.items() if k != "heads"}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
