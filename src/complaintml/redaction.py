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
import re._constants as _C  # noqa: N812
import re._parser as _parser

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


# Skipping rules that cannot match. Each rule is read (with the stdlib's own regex parser) for a kind of
# character that every match needs, in the text it matches or looks around: a digit (the rules' own \d),
# "@", or ":" or ".". Where the text holds none, the rule could not match and is skipped: the output is
# the same, and most comments hold no digit or "@". Worked out from each pattern as it stands, so editing
# a rule cannot leave a stale skip behind: a rule with no such need always runs.
_DIGIT = re.compile(r"\d")
_NEEDS = {  # name -> (does this parsed piece match only such characters?, does the text hold one?)
    "digit": (lambda op, av: (op is _C.LITERAL and chr(av).isdecimal() and _DIGIT.match(chr(av)) is not None)
              or (op is _C.IN and bool(av) and all(o is _C.CATEGORY and a is _C.CATEGORY_DIGIT for o, a in av)),
              lambda text: _DIGIT.search(text) is not None),
    "@": (lambda op, av: op is _C.LITERAL and av == ord("@"), lambda text: "@" in text),
    ":.": (lambda op, av: op is _C.LITERAL and chr(av) in ":.", lambda text: ":" in text or "." in text),
}


def _needs(items, member) -> bool:
    """Whether every match of the parsed pattern ``items`` holds (or looks at) a character ``member`` accepts."""
    for op, av in items:
        if op in (_C.LITERAL, _C.IN):
            if member(op, av):
                return True
        elif op is _C.SUBPATTERN:
            if _needs(av[3], member):
                return True
        elif op in (_C.MAX_REPEAT, _C.MIN_REPEAT, _C.POSSESSIVE_REPEAT):
            if av[0] >= 1 and _needs(av[2], member):
                return True
        elif op is _C.BRANCH:
            if all(_needs(alt, member) for alt in av[1]):
                return True
        elif op is _C.ASSERT:  # a positive look-around: the character is in the text, if not in the match
            if _needs(av[1], member):
                return True
        elif op is _C.ATOMIC_GROUP:
            if _needs(av, member):
                return True
    return False


def _need_of(pattern: re.Pattern) -> str | None:
    parsed = _parser.parse(pattern.pattern, pattern.flags)
    return next((name for name, (member, _) in _NEEDS.items() if _needs(parsed, member)), None)


# Replacements only remove text or add tag characters ("[", "]", " ", "_", A-Z): a needed character absent
# from the input stays absent, so one look per text does.
_RULE_NEEDS = [_need_of(pattern) for _, pattern in RULES]


def _replace(tag: str, match: re.Match) -> str:
    if tag == "NAME":
        return f"{match.group(1)} [NAME]"
    return f"[{tag}]"


def redact(text: str) -> str:
    """Return ``text`` with personal identifiers replaced by tags like ``[EMAIL]``."""
    if not isinstance(text, str) or not text:
        return text
    present: dict[str, bool] = {}
    for (tag, pattern), need in zip(RULES, _RULE_NEEDS):
        if need is not None:
            if need not in present:
                present[need] = _NEEDS[need][1](text)
            if not present[need]:
                continue
        text = pattern.sub(lambda m, t=tag: _replace(t, m), text)
    return text


def redact_series(values: pd.Series) -> pd.Series:
    """Vectorised :func:`redact` that keeps nulls and non-strings as they are."""
    return values.map(lambda v: redact(v) if isinstance(v, str) else v)
