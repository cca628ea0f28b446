"""Typed training configuration, read from TOML and checked before any work starts.

Example::

    >>> cfg = load_config("configs/train/default.toml")   # doctest: +SKIP
    >>> cfg.model["C"]                                     # doctest: +SKIP
    4.0
"""

from __future__ import annotations

import difflib
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import ConfigError

__all__ = ["TrainConfig", "load_config", "DEFAULTS", "load_alert_rules"]

DEFAULTS: dict[str, dict] = {
    "model": {"word_ngram_range": [1, 2], "char_ngram_range": [2, 5], "min_df": 2, "max_char_features": 60000,
              "use_char": True, "lemmatize": True, "negation": True, "C": 4.0, "multiclass_C": 64.0,
              "nb_weight": 0.75, "class_weight": "balanced", "cv_folds": 5, "min_positive": 5, "random_state": 0,
              "n_jobs": -1, "lexicon": "", "lexicon_weight": 1.0, "word_vectors": "", "vector_weight": 1.0},
    "thresholds": {"policy": "f1", "beta": 1.0, "fixed": 0.5},
    "scoring": {"review_margin": 0.1, "max_chars": 10000, "alerts": ""},
    "evaluation": {"bootstrap": 500, "seed": 0},
}
_CHOICES = {("model", "class_weight"): ("balanced", "none"), ("thresholds", "policy"): ("f1", "fixed")}


@dataclass
class TrainConfig:
    model: dict = field(default_factory=lambda: dict(DEFAULTS["model"]))
    thresholds: dict = field(default_factory=lambda: dict(DEFAULTS["thresholds"]))
    scoring: dict = field(default_factory=lambda: dict(DEFAULTS["scoring"]))
    evaluation: dict = field(default_factory=lambda: dict(DEFAULTS["evaluation"]))
    alert_rules: dict = field(default_factory=dict)
    lexicon: dict = field(default_factory=dict)

    def resolved(self) -> dict:
        return {"model": self.model, "thresholds": self.thresholds, "scoring": self.scoring,
                "evaluation": self.evaluation}

    def digest(self) -> str:
        blob = json.dumps({**self.resolved(), "alert_rules": self.alert_rules, "lexicon": self.lexicon}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def estimator_params(self) -> dict:
        m = self.model
        return {**{k: v for k, v in m.items() if k not in ("class_weight", "lexicon")},
                "lexicon": self.lexicon or None,
                "word_ngram_range": tuple(m["word_ngram_range"]), "char_ngram_range": tuple(m["char_ngram_range"]),
                "class_weight": None if m["class_weight"] == "none" else m["class_weight"],
                "threshold_policy": self.thresholds["policy"], "threshold_beta": self.thresholds["beta"],
                "fixed_threshold": self.thresholds["fixed"]}


def _check(section: str, given: dict, where: str) -> dict:
    defaults = DEFAULTS[section]
    out = dict(defaults)
    for key, value in given.items():
        if key not in defaults:
            hint = difflib.get_close_matches(key, list(defaults), n=1)
            raise ConfigError(f"{where}: unknown key [{section}].{key}" + (f"; did you mean '{hint[0]}'?" if hint else ""))
        expected = type(defaults[key])
        ok = isinstance(value, expected) or (expected is float and isinstance(value, int) and not isinstance(value, bool))
        if expected is int and isinstance(value, bool):
            ok = False
        if not ok:
            raise ConfigError(f"{where}: [{section}].{key} must be {expected.__name__}, got {value!r}")
        if (section, key) in _CHOICES and value not in _CHOICES[(section, key)]:
            raise ConfigError(f"{where}: [{section}].{key} must be one of {_CHOICES[(section, key)]}, got {value!r}")
        out[key] = float(value) if expected is float else value
    return out


def load_alert_rules(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"{path}: alert rules file not found")
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = set(spec) - {"phrases", "labels"}
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {sorted(unknown)}; expected phrases and labels")
    return {"phrases": spec.get("phrases") or {}, "labels": spec.get("labels") or {}}


def load_config(path: str | Path | None = None) -> TrainConfig:
    """Read a TOML config (None: built-in defaults, no alert rules)."""
    if path is None:
        return TrainConfig()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    unknown = set(spec) - set(DEFAULTS)
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {sorted(unknown)}; expected {sorted(DEFAULTS)}")
    cfg = TrainConfig(**{s: _check(s, spec.get(s, {}), str(path)) for s in DEFAULTS})
    for key in ("word_ngram_range", "char_ngram_range"):
        rng = cfg.model[key]
        if len(rng) != 2 or not all(isinstance(v, int) for v in rng) or not 1 <= rng[0] <= rng[1]:
            raise ConfigError(f"{path}: [model].{key} must be two integers [min, max]")
    if cfg.model["lexicon"]:
        from .lexicon import load_lexicon

        cfg.lexicon = load_lexicon((path.parent / cfg.model["lexicon"]).resolve())
    if cfg.model["word_vectors"] not in ("", "builtin"):  # a table of one's own, relative to this file
        table = (path.parent / cfg.model["word_vectors"]).resolve()
        if not table.is_file():
            raise ConfigError(f"{path}: [model].word_vectors file {table} not found")
        cfg.model["word_vectors"] = str(table)
    if cfg.scoring["alerts"]:
        cfg.alert_rules = load_alert_rules((path.parent / cfg.scoring["alerts"]).resolve())
    return cfg
