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

# Abbreviated titles may end with a dot ("Dr.Patel"); whole words may not ("the doctor. They").
_ABBREV_TITLE = r"(?:[Dd]r|[Mm]rs?|[Mm]s|[Mm]x|[Pp]rof|Sr|Fr)\.?"
_WORD_TITLE = r"(?:[Dd]octor|[Nn]urse|[Ss]ister|[Mm]atron|Miss|[Pp]rofessor)"
# A capitalised name, including O'Neil / O’Neil, Murphy-Jones and accented letters.
_NAME = r"(?!I['\u2019]|OK\b)[A-Z\u00c0-\u00d6\u00d8-\u00de](?:[^\W\d_]|['\u2019-](?=[^\W\d_]))+"
# Comments are often typed in lower case ("dr patel"): after a lower-case dr/mr/mrs/mx, which are
# never ordinary words, a lower-case word is a name too unless it is a common function word.
_FUNCTION_WORDS = ("and or but nor the a an was were is are be been being said says told asked who whom whose which "
                   "that this has had have did does do at on in to of for with from by came come never not no just "
                   "then also saw seen sent gave made put left kept looked spoke rang called wrote will would could "
                   "should can may might must i me my he she they we you it his her their our your its there here "
                   "again too so very really only even still always about after before if when while as didnt "
                   "dont doesnt wasnt isnt cant wont couldnt wouldnt shouldnt hasnt havent hadnt arent werent")
_LOWER_NAME = rf"(?!(?:{'|'.join(_FUNCTION_WORDS.split())})\b)[a-z](?:[a-z]|['\u2019-](?=[a-z]))+"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_DATE = (rf"(?:\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH},?\s+\d{{2,4}}"
         rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}})")
_US_STATES = ("AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND "
              "OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC")
_STREET = (r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Close|Way|Court|Ct|Boulevard|Blvd|Crescent|Place|"
           r"Terrace|Grove|Gardens|Mews|Square|Sq|Row|Walk|Rise|Parade|Highway|Hwy|Parkway|Pkwy)")

RULES: list[tuple[str, re.Pattern]] = [
    ("EMAIL", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    ("URL", re.compile(r"\bhttps?://\S+|\bwww\.\S+", re.I)),
    # NHS number: 10 digits, usually 3-3-4
    ("NHS_NUMBER", re.compile(r"\b\d{3}[ -]?\d{3}[ -]?\d{4}\b")),
    ("SSN", re.compile(r"\b\d{3}([ -])\d{2}\1\d{4}\b")),
    # A record number holds at least one digit ("my hospital number changed" names nothing).
    ("MRN", re.compile(r"\b(?:MRN|hospital (?:no|number)|patient (?:id|no|number)|record (?:no|number))"
                       r"[:#.\s]*(?:is\s+)?(?=[A-Z-]*\d)[A-Z0-9-]{4,}\b", re.I)),
    ("DOB", re.compile(rf"\b(?:DOB|D\.O\.B\.?|date of birth|born(?: on)?)(?:\s+(?:is|was))?[:\s]*{_DATE}", re.I)),
    ("PHONE", re.compile(r"(?<![\w])(?:\+?\d{1,3}[ .-]?)?(?:\(\d{2,5}\)[ .-]?|\d{2,5}[ .-])\d{3,4}[ .-]?\d{3,4}\b"
                         r"|(?<![\w+])(?:\+\d{1,3}|0)\d{9,10}\b")),
    ("ADDRESS", re.compile(rf"\b\d{{1,5}}[A-Za-z]?\s+(?:[A-Z][a-z'\u2019]+\s+){{1,3}}{_STREET}\b\.?")),
    ("POSTCODE", re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b|\b[a-z]{1,2}\d[a-z\d]?\s\d[a-z]{2}\b"
                            rf"|(?<=\b(?:{'|'.join(_US_STATES.split())})\s)\d{{5}}(?:-\d{{4}})?\b")),
    ("NAME", re.compile(rf"\b({_ABBREV_TITLE}|{_WORD_TITLE})(?:(?<=\.)\s*|\s+){_NAME}(?:\s+{_NAME})?")),
    ("NAME", re.compile(rf"\b((?:dr|mrs?|mx)\.?)(?:(?<=\.)\s*|\s+){_LOWER_NAME}")),
]


# What a rule cannot match without. A rule is skipped only where its trigger is absent, i.e. where it
# could not have matched: the output is the same, and most comments hold no digit, "@" or URL.
# Digits: the rules' own \d (any Unicode decimal digit). No tag holds a digit, so one look per text does.
_DIGIT = re.compile(r"\d")
_DIGIT_RULES = frozenset({"NHS_NUMBER", "SSN", "MRN", "DOB", "PHONE", "ADDRESS", "POSTCODE"})  # each needs a \d


def _email_possible(text: str) -> bool:
    return "@" in text


def _url_possible(text: str) -> bool:
    # "https?://" holds "://"; IGNORECASE folds "w" with "W" only (tests/test_redaction.py checks it), so
    # any case of "www." shows in lower case once lower-cased.
    return "://" in text or "www." in text.lower()


_POSSIBLE = {"EMAIL": _email_possible, "URL": _url_possible}


def _replace(tag: str, match: re.Match) -> str:
    if tag == "NAME":
        return f"{match.group(1)} [NAME]"
    return f"[{tag}]"


def redact(text: str) -> str:
    """Return ``text`` with personal identifiers replaced by tags like ``[EMAIL]``."""
    if not isinstance(text, str) or not text:
        return text
    digits = _DIGIT.search(text) is not None
    for tag, pattern in RULES:
        if tag in _DIGIT_RULES and not digits:
            continue
        possible = _POSSIBLE.get(tag)
        if possible is not None and not possible(text):
            continue
        text = pattern.sub(lambda m, t=tag: _replace(t, m), text)
    return text


def redact_series(values: pd.Series) -> pd.Series:
    """Vectorised :func:`redact` that keeps nulls and non-strings as they are."""
    return values.map(lambda v: redact(v) if isinstance(v, str) else v)
