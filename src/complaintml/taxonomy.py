"""Label sets ("heads") and how they are stored in a table.

A taxonomy is data (``configs/taxonomy/*.yaml``), never code: the codebook's labels are
only the default file. Each head is either

* ``multiclass``: one column holding exactly one label per row (e.g. polarity), or
* ``multilabel``: zero or more labels per row, stored either ``delimited`` (one column of
  ``;``-joined names) or ``onehot`` (one 0/1 column per label, named exactly as the label).

Example::

    >>> tax = Taxonomy.from_dict({"name": "demo", "heads": [
    ...     {"name": "polarity", "kind": "multiclass", "labels": ["negative", "positive"]}]})
    >>> tax.heads[0].output_columns
    ['polarity']
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .errors import InputError, TaxonomyError

__all__ = ["Label", "Head", "Taxonomy", "load_taxonomy", "ROLES"]

ROLES = ("polarity", "feelings", "causes")
_TOP_KEYS = {"name", "description", "text_column", "id_column", "context_columns", "heads"}
_HEAD_KEYS = {"name", "role", "kind", "column", "encoding", "separator", "labels", "description"}
_LABEL_KEYS = {"name", "description"}


def _check_keys(given: dict, allowed: set, where: str) -> None:
    for key in given:
        if key not in allowed:
            hint = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            extra = f"; did you mean '{hint[0]}'?" if hint else f"; allowed: {', '.join(sorted(allowed))}"
            raise TaxonomyError(f"{where}: unknown key '{key}'{extra}")


@dataclass(frozen=True)
class Label:
    name: str
    description: str = ""


@dataclass(frozen=True)
class Head:
    """One output of the model: a set of labels and the column(s) that hold them."""

    name: str
    kind: str
    labels: tuple[Label, ...]
    column: str = ""
    role: str | None = None
    encoding: str = "delimited"
    separator: str = ";"
    description: str = ""

    @property
    def label_names(self) -> list[str]:
        return [lab.name for lab in self.labels]

    @property
    def is_multilabel(self) -> bool:
        return self.kind == "multilabel"

    @property
    def output_columns(self) -> list[str]:
        """Columns that hold this head in a labeled or scored table."""
        if self.is_multilabel and self.encoding == "onehot":
            return self.label_names
        return [self.column]

    def proba_column(self, label: str) -> str:
        return f"proba__{self.name}__{label}"

    # -- table <-> arrays -------------------------------------------------------------
    def encode(self, df: pd.DataFrame, source: str = "data") -> np.ndarray:
        """Read this head from ``df``: a string array (multiclass) or an n x L 0/1 matrix.

        Raises InputError naming the file, column and rows of any value outside the taxonomy.
        """
        for col in self.output_columns:
            if col not in df.columns:
                raise InputError(f"{source}: label column '{col}' of head '{self.name}' is missing")
        known = set(self.label_names)
        if self.kind == "multiclass":
            values = df[self.column].astype("string").str.strip()
            bad = values.isna() | ~values.isin(known)
            _raise_bad_rows(source, self.column, df.index[bad.to_numpy()], values[bad], known)
            return values.to_numpy(dtype=object)
        if self.encoding == "onehot":
            mat = df[self.label_names].apply(pd.to_numeric, errors="coerce")
            bad_cells = ~mat.isin([0, 1])
            if bad_cells.any().any():
                col = bad_cells.any().idxmax()
                rows = df.index[bad_cells[col].to_numpy()]
                raise InputError(f"{source}: column '{col}' must hold 0 or 1; bad value at row(s) {_rows(rows)}")
            return mat.to_numpy(dtype=np.int8)
        raw = df[self.column].tolist()
        parts = [[p.strip() for p in str(v).split(self.separator) if p.strip()] if isinstance(v, str) else [] for v in raw]
        bad = [i for i, labs in enumerate(parts) if any(x not in known for x in labs)]
        if bad:
            first = next(x for x in parts[bad[0]] if x not in known)
            _raise_bad_rows(source, self.column, df.index[bad], pd.Series([first]), known)
        index = {name: j for j, name in enumerate(self.label_names)}
        mat = np.zeros((len(df), len(index)), dtype=np.int8)
        for i, labs in enumerate(parts):
            for lab in labs:
                mat[i, index[lab]] = 1
        return mat

    def decode(self, y: np.ndarray, valid: np.ndarray | None = None) -> pd.DataFrame:
        """Inverse of :meth:`encode`; rows where ``valid`` is False are left empty (null)."""
        n = len(y)
        valid = np.ones(n, dtype=bool) if valid is None else valid
        if self.kind == "multiclass":
            out = pd.Series(pd.array(y, dtype="string"))
            out[~valid] = pd.NA
            return pd.DataFrame({self.column: out})
        if self.encoding == "onehot":
            frame = pd.DataFrame(y.astype("int8"), columns=self.label_names).astype("Int8")
            frame[~valid] = pd.NA
            return frame
        names = np.array(self.label_names, dtype=object)
        # Each distinct label combination is joined once (a few dozen per chunk), not once per row.
        combos, which = np.unique(np.asarray(y).astype(bool), axis=0, return_inverse=True)
        joined = np.array([self.separator.join(names[row]) for row in combos] or [""], dtype=object)[which.reshape(-1)]
        out = pd.Series(pd.array(joined, dtype="string"))
        out[~valid] = pd.NA
        return pd.DataFrame({self.column: out})


def _rows(index) -> str:
    # Row numbers as a person counts them in the file: 1 = first data row.
    shown = [str(int(i) + 1) for i in list(index)[:5]]
    more = f" and {len(index) - 5} more" if len(index) > 5 else ""
    return ", ".join(shown) + more


def _raise_bad_rows(source: str, column: str, rows, values, known: set) -> None:
    if len(rows) == 0:
        return
    first = values.iloc[0]
    shown = "empty" if pd.isna(first) or first == "" else f"'{first}'"
    hint = difflib.get_close_matches(str(first), sorted(known), n=1) if not pd.isna(first) else []
    extra = f" (did you mean '{hint[0]}'?)" if hint else f" (allowed: {', '.join(sorted(known))})"
    raise InputError(f"{source}: column '{column}' has a value outside the taxonomy at row(s) {_rows(rows)}: {shown}{extra}")


@dataclass(frozen=True)
class Taxonomy:
    """A named set of heads plus the names of the text and id columns."""

    name: str
    heads: tuple[Head, ...]
    text_column: str = "text"
    id_column: str = "id"
    description: str = ""
    # Columns read as categorical context beside the text (e.g. the survey question: "nothing"
    # answers "what could we improve?" differently from "what was good?").
    context_columns: tuple[str, ...] = ()
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, spec: dict, where: str = "taxonomy") -> Taxonomy:
        if not isinstance(spec, dict):
            raise TaxonomyError(f"{where}: expected a mapping with keys name and heads")
        _check_keys(spec, _TOP_KEYS, where)
        if not spec.get("name"):
            raise TaxonomyError(f"{where}: 'name' is required")
        heads_spec = spec.get("heads")
        if not isinstance(heads_spec, list) or not heads_spec:
            raise TaxonomyError(f"{where}: 'heads' must be a non-empty list")
        heads = tuple(_head_from_dict(h, f"{where}: head {i + 1}") for i, h in enumerate(heads_spec))
        names = [h.name for h in heads]
        if len(set(names)) != len(names):
            raise TaxonomyError(f"{where}: head names must be unique, got {names}")
        cols = [c for h in heads for c in h.output_columns]
        dup = sorted({c for c in cols if cols.count(c) > 1})
        if dup:
            raise TaxonomyError(f"{where}: column(s) {dup} are used by more than one head")
        context = spec.get("context_columns") or []
        if not isinstance(context, list) or not all(isinstance(c, str) and c for c in context):
            raise TaxonomyError(f"{where}: 'context_columns' must be a list of column names")
        return cls(
            name=str(spec["name"]),
            heads=heads,
            text_column=str(spec.get("text_column", "text")),
            id_column=str(spec.get("id_column", "id")),
            description=str(spec.get("description", "")),
            context_columns=tuple(context),
            raw=spec,
        )

    def to_dict(self) -> dict:
        heads = []
        for h in self.heads:
            d = {"name": h.name, "kind": h.kind, "labels": [{"name": lab.name, "description": lab.description} for lab in h.labels]}
            if h.role:
                d["role"] = h.role
            if h.kind == "multiclass" or h.encoding == "delimited":
                d["column"] = h.column
            if h.is_multilabel:
                d["encoding"] = h.encoding
                if h.encoding == "delimited":
                    d["separator"] = h.separator
            heads.append(d)
        out = {"name": self.name, "description": self.description, "text_column": self.text_column,
               "id_column": self.id_column, "heads": heads}
        if self.context_columns:  # absent otherwise, so digests of older taxonomies do not change
            out["context_columns"] = list(self.context_columns)
        return out

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def head(self, name: str) -> Head:
        for h in self.heads:
            if h.name == name:
                return h
        raise KeyError(name)

    def head_by_role(self, role: str) -> Head | None:
        return next((h for h in self.heads if h.role == role), None)

    @property
    def label_columns(self) -> list[str]:
        return [c for h in self.heads for c in h.output_columns]

    def with_columns(self, text_column: str | None = None, id_column: str | None = None) -> Taxonomy:
        """Copy with the command line's ``--text-col`` / ``--id-col`` applied."""
        from dataclasses import replace

        return replace(self, text_column=text_column or self.text_column, id_column=id_column or self.id_column)


def _head_from_dict(spec: dict, where: str) -> Head:
    if not isinstance(spec, dict):
        raise TaxonomyError(f"{where}: expected a mapping")
    _check_keys(spec, _HEAD_KEYS, where)
    name = spec.get("name")
    if not name:
        raise TaxonomyError(f"{where}: 'name' is required")
    where = f"{where} ('{name}')"
    kind = spec.get("kind", "multilabel")
    if kind not in ("multiclass", "multilabel"):
        raise TaxonomyError(f"{where}: kind must be multiclass or multilabel, got '{kind}'")
    encoding = spec.get("encoding", "delimited")
    if encoding not in ("delimited", "onehot"):
        raise TaxonomyError(f"{where}: encoding must be delimited or onehot, got '{encoding}'")
    role = spec.get("role")
    if role is not None and role not in ROLES:
        raise TaxonomyError(f"{where}: role must be one of {', '.join(ROLES)}, got '{role}'")
    labels = []
    for lab in spec.get("labels") or []:
        if isinstance(lab, dict):
            _check_keys(lab, _LABEL_KEYS, f"{where} label")
            if not lab.get("name"):
                raise TaxonomyError(f"{where}: a label mapping needs 'name'")
            labels.append(Label(str(lab["name"]), str(lab.get("description", ""))))
        else:
            labels.append(Label(str(lab)))
    if len(labels) < (2 if kind == "multiclass" else 1):
        raise TaxonomyError(f"{where}: needs at least {2 if kind == 'multiclass' else 1} labels")
    names = [lab.name for lab in labels]
    if len(set(names)) != len(names):
        raise TaxonomyError(f"{where}: duplicate labels")
    column = spec.get("column", "" if (kind == "multilabel" and encoding == "onehot") else name)
    return Head(name=str(name), kind=kind, labels=tuple(labels), column=str(column), role=role,
                encoding=encoding if kind == "multilabel" else "delimited",
                separator=str(spec.get("separator", ";")), description=str(spec.get("description", "")))


def load_taxonomy(path: str | Path) -> Taxonomy:
    """Read and check a taxonomy YAML file."""
    path = Path(path)
    if not path.is_file():
        raise TaxonomyError(f"{path}: taxonomy file not found")
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise TaxonomyError(f"{path}: not valid YAML{at}") from None
    return Taxonomy.from_dict(spec, where=str(path))
