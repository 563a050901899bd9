"""The typed errors of the operations API and the command line (all bad input)."""

from __future__ import annotations

from sentinel_vectors.errors import InvalidInputError

__all__ = ["ConnectionStringError", "MappingError"]


class ConnectionStringError(InvalidInputError):
    """A store connection string that cannot be used (scheme, host, collection, option)."""


class MappingError(InvalidInputError):
    """A backfill mapping that cannot be used: a bad ``module:function``, field or value."""
