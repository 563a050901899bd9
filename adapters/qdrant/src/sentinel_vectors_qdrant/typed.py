"""Payload values a typed payload index would not see are refused on write.

A Qdrant payload index gives its key a type, and a filter condition the index serves is
answered from the index alone. An ``integer`` index leaves out a stored ``0.5`` (it
cannot hold it), so ``Range(lt=1)`` misses that point on a server and on qdrant-edge,
while the neutral filter algebra (``sentinel_vectors.filters.matches``) and local mode
(which ignores indexes) say it matches. The differential tests of the filter compiler on
qdrant-edge (``tests/qdrant/test_edge_filters.py``) found this to be the only
disagreement for scalar values; keyword, float and bool indexes agree with the algebra
on every value type.

So the scoped client refuses, before anything is written, a non-integral number under a
key with an ``integer`` index (in ``upsert``/``upload_points``, ``set_payload`` and
``overwrite_payload``). Values stored by other means are matched as the index sees them.
Only top-level keys are checked (an index on a nested path is not).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qdrant_client import models

from sentinel_vectors.errors import InvalidInputError

__all__ = ["IndexedTypes"]


@dataclass(frozen=True)
class IndexedTypes:
    """The top-level payload keys whose index type constrains the values they may hold."""

    integer_keys: frozenset[str] = frozenset()

    @classmethod
    def of(cls, info: models.CollectionInfo) -> IndexedTypes:
        """Read the payload indexes of ``get_collection()`` (local mode reports none)."""
        schema = info.payload_schema or {}
        return cls(
            integer_keys=frozenset(
                key
                for key, index in schema.items()
                if index.data_type == models.PayloadSchemaType.INTEGER
            )
        )

    def check(self, payload: Mapping[str, Any], *, what: str) -> None:
        """Raise :class:`InvalidInputError` for a value the key's index would not hold."""
        for key in self.integer_keys & payload.keys():
            value = payload[key]
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, float) and not (math.isfinite(item) and item.is_integer()):
                    raise InvalidInputError(
                        f"{what}[{key!r}] is {item!r}, but {key!r} has an integer payload "
                        f"index: Qdrant's index cannot hold it, so filters on {key!r} would "
                        f"not find this point. Store an integer, or index {key!r} as float. "
                        f"Nothing was written."
                    )
