"""Mask personal identifiers in comment text before it leaves the machine.

Rules are regular expressions applied in order; each match becomes a bracketed tag, so a
reader still sees that something was there. They favour recall on identifiers with a
fixed shape (emails, phone numbers, NHS numbers, SSNs, record numbers, dates of birth,
street addresses) and on names that follow a title ("Dr Patel", "Nurse Karen"). Free
names without a title ("Karen was lovely") are not caught: that would need a trained
named-entity model, which cannot be installed offline here.

Example::

    >>> redact("Dr Smith rang 07700 900123, email jo@x.org")
    'Dr [NAME] rang [PHONE], email [EMAIL]'
"""

from __future__ import annotations

import re

import pandas as pd

__all__ = ["redact", "redact_series", "RULES"]

_TITLE = r"(?:Dr|Doctor|Nurse|Sister|Matron|Mr|Mrs|Ms|Miss|Mx|Prof|Professor|Sr|Fr)"
_NAME = r"[A-Z][a-zA-Z'\-]+"

RULES: list[tuple[str, re.Pattern]] = [
    ("EMAIL", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    ("URL", re.compile(r"\bhttps?://\S+|\bwww\.\S+", re.I)),
    # NHS number: 10 digits, usually 3-3-4
    ("NHS_NUMBER", re.compile(r"\b\d{3}[ -]?\d{3}[ -]?\d{4}\b")),
    ("SSN", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
    ("MRN", re.compile(r"\b(?:MRN|hospital (?:no|number)|patient (?:id|no|number)|record (?:no|number))[:#.\s]*[A-Z0-9-]{4,}\b", re.I)),
    ("DOB", re.compile(r"\b(?:DOB|D\.O\.B\.?|date of birth|born on)[:\s]*\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b", re.I)),
    ("PHONE", re.compile(r"(?<![\w])(?:\+?\d{1,3}[ .-]?)?(?:\(\d{2,5}\)[ .-]?|\d{2,5}[ .-])\d{3,4}[ .-]?\d{3,4}\b")),
    ("ADDRESS", re.compile(r"\b\d{1,5}\s+(?:[A-Z][a-z]+\s+){1,3}(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Close|Way|Court|Ct|Boulevard|Blvd|Crescent|Place|Terrace)\b\.?")),
    ("POSTCODE", re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b")),
    ("NAME", re.compile(rf"\b({_TITLE}\.?)\s+{_NAME}(?:\s+{_NAME})?")),
]


def _replace(tag: str, match: re.Match) -> str:
    if tag == "NAME":
        return f"{match.group(1)} [NAME]"
    return f"[{tag}]"


def redact(text: str) -> str:
    """Return ``text`` with personal identifiers replaced by tags like ``[EMAIL]``."""
    if not isinstance(text, str) or not text:
        return text
    for tag, pattern in RULES:
        text = pattern.sub(lambda m, t=tag: _replace(t, m), text)
    return text


def redact_series(values: pd.Series) -> pd.Series:
    """Vectorised :func:`redact` that keeps nulls and non-strings as they are."""
    return values.map(lambda v: redact(v) if isinstance(v, str) else v)
