"""Domain errors. Each edge (CLI, HTTP) translates these once, by class."""

from __future__ import annotations


class QAError(Exception):
    """Base of every error article-qa raises on purpose."""

    exit_code = 1
    http_status = 500


class BadInputError(QAError):
    """The caller's input is unusable: an empty question, a missing file, bad JSON."""

    exit_code = 2
    http_status = 422


class ConfigError(BadInputError):
    """A ``QA_*`` setting is invalid."""


class NotFoundError(QAError):
    """A named thing (article, session) does not exist."""

    exit_code = 3
    http_status = 404


class IndexError_(QAError):
    """The index on disk cannot be used as it is (corrupt, or built for another model)."""

    exit_code = 4
    http_status = 503


class ModelMismatchError(IndexError_):
    """The index was built with a different embedding model or chunking."""


class CorruptIndexError(IndexError_):
    """An index file is truncated or unreadable."""


class TooLargeError(BadInputError):
    """An input exceeds a configured size limit."""

    http_status = 413
