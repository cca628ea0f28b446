"""Case-insensitive regular expressions, searched faster on ASCII text with the same result.

Python's ``re`` handles ``re.IGNORECASE`` by folding every character as it compares, which
also turns off its quick "does this alternative start with this letter" test. For a text
that is pure ASCII, lower-casing it keeps its length (so every match keeps its span) and
maps only A-Z to a-z, so a pattern whose letters are all lower case finds, case-sensitively
in ``text.lower()``, exactly the spans it finds with IGNORECASE in ``text``; the cue and
alert patterns search 2-3 times faster that way.

That holds only for patterns built of pieces that fold alike (:func:`fold_safe` checks each
piece); any other pattern, and every text with a non-ASCII character (where folding
has exceptions: "İ", "ſ", the Kelvin sign), use the IGNORECASE pattern as before.

:class:`CaselessSet` answers "which of these patterns occur in this text" (the 17 cue
labels of a comment): Hyperscan, a multi-pattern matcher, scans the lower-cased ASCII text
once for all of them, and ``re`` then searches only the patterns Hyperscan reported, so
``re`` still decides every result and Hyperscan only rules patterns out. Hyperscan is
given only patterns written in plain syntax that it and ``re`` read alike on ASCII text
(:func:`screenable`); any other pattern is always searched with ``re``, and so is every
pattern where the ``hyperscan`` package is missing (it is a dependency on x86-64 Linux only).

Example::

    >>> p = CaselessPattern(r"\\bwait\\w*")
    >>> text = "WAITED 3 hours"
    >>> m = p.search(text, ascii_lower(text))
    >>> text[m.start():m.end()]
    'WAITED'
"""

from __future__ import annotations

import functools
import re
import threading
import re._constants as C  # noqa: N812
import re._parser as sre_parse  # the stdlib's own parser: the pattern is checked as `re` reads it

try:
    import hyperscan
except ImportError:  # other platforms: the same results, without the pre-scan
    hyperscan = None

__all__ = ["CaselessPattern", "CaselessSet", "ascii_lower", "fold_safe", "screenable"]

_ASCII = [chr(a) for a in range(128)]
# Pieces made of other pieces (each checked in turn), and pieces that never look at letter case.
_CONTAINERS = {C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT, C.BRANCH, C.ATOMIC_GROUP, C.ASSERT, C.ASSERT_NOT,
               C.GROUPREF_EXISTS}
_CASE_FREE = {C.ANY, C.AT, C.CATEGORY, C.GROUPREF, C.NEGATE}


def ascii_lower(text: str) -> str | None:
    """``text.lower()`` when ``text`` is pure ASCII (the fast path applies), else None."""
    return text.lower() if text.isascii() else None


@functools.lru_cache(maxsize=4096)  # a character at a time: a lexicon has thousands of literals, a few dozen distinct
def _char_safe(code: int) -> bool:
    """With IGNORECASE, character ``code`` matches exactly the ASCII characters whose lower case it equals."""
    ch = chr(code)
    folded = re.compile(re.escape(ch), re.I)
    return all(bool(folded.fullmatch(a)) == (a.lower() == ch) for a in _ASCII)


def _items_safe(items) -> bool:
    for op, av in items:
        if op in (C.LITERAL, C.NOT_LITERAL):
            if not _char_safe(av):
                return False
        elif op is C.IN:
            if not _items_safe(av):
                return False
        elif op is C.RANGE:
            lo, hi = av
            if hi - lo > 256 or not all(_char_safe(c) for c in range(lo, hi + 1)):
                return False
        elif op is C.SUBPATTERN:
            _group, _add, del_flags, sub = av
            if del_flags & re.I or not _items_safe(sub):  # (?-i:...) compares case: folding the text would change it
                return False
        elif op in _CONTAINERS:
            if not all(_items_safe(part) for part in _parts(av)):
                return False
        elif op not in _CASE_FREE:
            return False  # anything unknown: not proven, keep IGNORECASE
    return True


def _parts(av):
    """The sub-patterns inside a container's argument."""
    for x in av if isinstance(av, (tuple, list)) else (av,):
        if isinstance(x, sre_parse.SubPattern):
            yield x
        elif isinstance(x, list):  # BRANCH holds a list of alternatives
            yield from (y for y in x if isinstance(y, sre_parse.SubPattern))


def fold_safe(source: str, flags: int = 0) -> bool:
    """Whether ``source`` (compiled with ``flags | re.I``) matches any ASCII text where it matches the text
    lower-cased, case-sensitively, with the same spans."""
    try:
        return _items_safe(sre_parse.parse(source, flags & ~re.I))
    except Exception:  # a parser detail this code does not know: not proven safe
        return False


class CaselessPattern:
    """A pattern compiled with ``re.IGNORECASE``, plus its case-sensitive twin for lower-cased ASCII text."""

    __slots__ = ("pattern", "lowered")

    def __init__(self, source: str, flags: int = 0):
        self.pattern = re.compile(source, flags | re.I)
        self.lowered = re.compile(source, flags & ~re.I) if fold_safe(source, flags) else None

    def search(self, text: str, lower: str | None):
        """``self.pattern.search(text)``; ``lower`` is ``ascii_lower(text)``. Spans index ``text``."""
        if lower is not None and self.lowered is not None:
            return self.lowered.search(lower)
        return self.pattern.search(text)

    def finditer(self, text: str, lower: str | None):
        if lower is not None and self.lowered is not None:
            return self.lowered.finditer(lower)
        return self.pattern.finditer(text)


# The syntax Hyperscan and re read alike on ASCII text: lower-case literals, escaped punctuation, \w \W \d \D \b,
# groups, alternation, ? * + and {m,n}, ., $ (multi-line) and simple classes. Not \s (re's also holds
# \x1c-\x1f), \B, \A, \Z, escapes of letters or digits, look-arounds, back-references, inline flags,
# possessive repeats (x++), nor ^ (Hyperscan refuses it after the cue patterns' leading \b).
_PIECE = r"(?:\\[wWdD]|\\[^\w\s]|[a-z0-9 '\u00a3/:,!&_%#@=~<>\"-])"
_PLAIN_SYNTAX = re.compile(rf"(?:\\b|{_PIECE}|\(\?:|\((?!\?)|[)|*$.]|(?<![+*?}}])\+|(?<![(|])\?|\{{\d{{1,3}}(?:,\d{{1,3}})?\}}|\[\^?{_PIECE}+\])*")


def screenable(source: str, flags: int = 0) -> bool:
    """Whether Hyperscan may rule ``source`` out: it finds a match in every lower-cased ASCII text where ``re``
    (case-sensitive, with ``flags``: IGNORECASE and MULTILINE only) finds one."""
    return fold_safe(source, flags) and _plain(source, flags)


def _plain(source: str, flags: int) -> bool:
    return (_PLAIN_SYNTAX.fullmatch(source) is not None and not flags & ~(re.I | re.M)
            and ("$" not in source or bool(flags & re.M)))


def _hs_database(sources: list[str], ids: list[int], flags: int):
    hs_flags = hyperscan.HS_FLAG_SINGLEMATCH | (hyperscan.HS_FLAG_MULTILINE if flags & re.M else 0)
    db = hyperscan.Database()
    # UTF-8: a non-ASCII literal ("£") becomes bytes that ASCII text never holds, as re never matches it there.
    db.compile(expressions=[s.encode("utf-8") for s in sources], ids=ids, elements=len(sources),
               flags=[hs_flags] * len(sources))
    return db


def _compiles(source: str, flags: int) -> bool:
    try:
        _hs_database([source], [0], flags)
    except hyperscan.error:
        return False
    return True


def _on_match(pattern_id, start, end, hs_flags, found):
    found.append(pattern_id)


class CaselessSet:
    """Case-insensitive patterns searched together: ``found(text)`` lists those with a match in ``text``."""

    def __init__(self, patterns: list[CaselessPattern], flags: int = 0):
        self.patterns, self.flags = patterns, flags
        self._db, screened = None, []
        if hyperscan is not None:
            # p.lowered: fold_safe held (screenable's first half)
            screened = [j for j, p in enumerate(patterns) if p.lowered is not None and _plain(p.pattern.pattern, flags)]
            try:
                self._db = _hs_database([patterns[j].pattern.pattern for j in screened], screened, flags) if screened else None
            except hyperscan.error:  # some pattern Hyperscan refuses (e.g. one matching ""): find which, search it with re
                screened = [j for j in screened if _compiles(patterns[j].pattern.pattern, flags)]
                self._db = _hs_database([patterns[j].pattern.pattern for j in screened], screened, flags) if screened else None
        self._always = [j for j in range(len(patterns)) if j not in screened]
        self._local = threading.local()  # Hyperscan's scratch space serves one scan at a time: one per thread

    def __reduce__(self):  # a Hyperscan database does not pickle: it is compiled again
        return (CaselessSet, (self.patterns, self.flags))

    def found(self, text: str) -> list[int]:
        """``[j for j, p in enumerate(patterns) if p.search(text, ascii_lower(text))]``, ascending."""
        lower = ascii_lower(text)
        patterns = self.patterns
        if lower is None or self._db is None:
            return [j for j, p in enumerate(patterns) if p.search(text, lower)]
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = hyperscan.Scratch(self._db)
        candidates = list(self._always)
        self._db.scan(lower.encode("ascii"), match_event_handler=_on_match, context=candidates, scratch=scratch)
        return [j for j in sorted(candidates) if patterns[j].search(text, lower)]
