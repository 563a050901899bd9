"""Compile the neutral filter algebra to a Chroma ``where`` dict."""

from __future__ import annotations

from typing import Any

from sentinel_vectors.filters import Comparison, FilterCompiler, Membership

__all__ = ["ChromaWhereCompiler"]

Where = dict[str, Any]


class ChromaWhereCompiler(FilterCompiler[Where]):
    """Neutral filter -> Chroma ``where``; ``NOT`` is pushed to the leaves (Chroma has none)."""

    def comparison(self, node: Comparison) -> Where:
        """``{key: {"$op": value}}``."""
        return {node.key: {f"${node.op}": node.value}}

    def membership(self, node: Membership) -> Where:
        """``{key: {"$in" | "$nin": [...]}}``."""
        return {node.key: {"$nin" if node.negated else "$in": list(node.values)}}

    def and_(self, items: list[Where]) -> Where:
        """``{"$and": [...]}``; Chroma rejects a one-item ``$and``, so that item alone."""
        return items[0] if len(items) == 1 else {"$and": items}

    def or_(self, items: list[Where]) -> Where:
        """``{"$or": [...]}``; a one-item ``$or`` is that item alone."""
        return items[0] if len(items) == 1 else {"$or": items}
