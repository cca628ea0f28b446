"""Errors that the command line turns into one clear line and a documented exit code."""

__all__ = ["ComplaintMLError", "InputError", "ModelError", "TaxonomyError", "ConfigError", "RowCountError"]


class ComplaintMLError(Exception):
    """Base class: a problem the user can fix, reported without a traceback."""

    exit_code = 1


class InputError(ComplaintMLError):
    """Bad input data: missing column, empty file, unknown label, unreadable encoding..."""

    exit_code = 2


class TaxonomyError(InputError):
    """A taxonomy file that does not follow the schema."""


class ConfigError(InputError):
    """A training config that does not follow the schema."""


class ModelError(ComplaintMLError):
    """A model that cannot be found, does not verify, or does not fit the request."""

    exit_code = 3


class RowCountError(ComplaintMLError):
    """Rows out differ from rows in: the output is not trustworthy."""

    exit_code = 4
