"""Flag comments that need urgent human attention (self-harm, abuse, safeguarding, safety).

Rules are data (``configs/alerts.yaml``), stored inside the trained model so every scoring
path applies the same ones. Phrase rules are case-insensitive regular expressions on word
boundaries; label rules fire when a label's probability reaches a minimum.

Example::

    >>> rules = compile_rules({"phrases": {"self_harm": ["hurt myself"]}, "labels": {}})
    >>> find_alerts(["I wanted to hurt myself", "fine"], rules)
    ['self_harm', '']
"""

from __future__ import annotations

import numpy as np

from .caseless import CaselessPattern, CaselessSet

__all__ = ["compile_rules", "find_alerts"]


def compile_rules(rules: dict) -> dict:
    # Case-insensitive (CaselessPattern: the same matches as re.IGNORECASE, faster on ASCII text).
    phrases = {reason: CaselessPattern(r"\b(?:" + "|".join(f"(?:{p})" for p in pats) + r")\b")
               for reason, pats in (rules.get("phrases") or {}).items() if pats}
    labels = {}
    for key, minimum in (rules.get("labels") or {}).items():
        head, _, label = key.partition(".")
        labels[(head, label)] = float(minimum)
    return {"phrases": phrases, "labels": labels, "phrase_set": CaselessSet(list(phrases.values()))}


def find_alerts(texts: list[str], compiled: dict, proba: dict | None = None, label_index: dict | None = None) -> list[str]:
    """Alert reasons per text (";"-joined, empty when none).

    ``proba`` maps head -> n x L probabilities and ``label_index`` maps (head, label) -> column,
    for label rules.
    """
    names = list(compiled["phrases"])
    found = compiled["phrase_set"].found  # the rules that match, all in one pass
    reasons = [[names[j] for j in found(text)] if text else [] for text in texts]
    if proba is not None and label_index:
        for (head, label), minimum in compiled["labels"].items():
            col = label_index.get((head, label))
            if col is None or head not in proba:
                continue
            hits = np.flatnonzero(np.nan_to_num(proba[head][:, col], nan=0.0) >= minimum)
            for i in hits:
                reasons[i].append(f"{label}>={minimum:g}")
    return [";".join(r) for r in reasons]
