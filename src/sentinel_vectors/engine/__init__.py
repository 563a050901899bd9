"""The tenancy engine: the read and write workflows of every scoped wrapper, once.

Sans-I/O: the workflows are generators that yield effects (ask the permission service,
call the store's client) and are resumed with the answers; they decide nothing
themselves (the :class:`~sentinel_vectors.policy.TenancyPolicy` does) and hold no
per-call state on shared objects. :mod:`sentinel_vectors.drive` runs them, async or
blocking, so the async and the sync form of an adapter are one code.

- :mod:`~sentinel_vectors.engine.effects`: what a workflow may ask for;
- :mod:`~sentinel_vectors.engine.reads`: top-k search, listing, counting;
- :mod:`~sentinel_vectors.engine.writes`: add/upsert, update, delete.

An adapter writes *sources* and *targets* (small objects that turn a neutral filter
into native calls and native results into :class:`~sentinel_vectors.engine.effects.Row`)
and keeps its native method names and result shapes on top.
"""

from sentinel_vectors.engine.effects import AskAccess, AskRegistered, Effect, Native, Row, Step
from sentinel_vectors.engine.reads import (
    Counted,
    CountSource,
    Listed,
    ListSource,
    ReadSettings,
    SearchSource,
    TopK,
    counting,
    listing,
    top_k,
)
from sentinel_vectors.engine.writes import (
    DeleteTarget,
    Probe,
    PutTarget,
    Reached,
    UpdateTarget,
    delete,
    put,
    reach,
    update,
)

__all__ = [
    "AskAccess",
    "AskRegistered",
    "CountSource",
    "Counted",
    "DeleteTarget",
    "Effect",
    "ListSource",
    "Listed",
    "Native",
    "Probe",
    "PutTarget",
    "Reached",
    "ReadSettings",
    "Row",
    "SearchSource",
    "Step",
    "TopK",
    "UpdateTarget",
    "counting",
    "delete",
    "listing",
    "put",
    "reach",
    "top_k",
    "update",
]
