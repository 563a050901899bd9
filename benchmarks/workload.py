"""The benchmark workload: synthetic clustered vectors, Zipf workspaces, access cells.

Everything is derived from one seed, so two runs of the same size measure the same data.

- ``n`` chunks of dimension ``dim``: unit vectors drawn around ``clusters`` random
  centres (cosine distance), split into 20 workspaces whose sizes follow Zipf's law
  (the largest holds about 28% of the chunks), in resources of 6 to 14 chunks (10 on
  average).
- Queries are measured in the largest workspace. A *cell* is one accessible list:
  ``selectivity`` of that workspace's chunks are visible (whole resources), and the list
  the permission service returns is padded to ``list_size`` ids with resources that have
  no chunks in this collection (documents of the same type not indexed here), as a real
  ``accessible()`` answer of that size would be.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import numpy as np

N_WORKSPACES = 20
SELECTIVITIES = (0.10, 0.01, 0.001)
LIST_SIZES = (10, 1_000, 10_000, 100_000)


@dataclass(frozen=True)
class Dataset:
    """The chunks: vectors and, per chunk, its workspace and resource."""

    vectors: np.ndarray  # (n, dim) float32, unit norm
    workspace_of: np.ndarray  # (n,) int: workspace index
    resource_of: list[str]  # resource UUID per chunk
    workspaces: list[str]  # workspace UUIDs, largest first
    owners: list[str]  # one owner (user UUID) per workspace
    queries: np.ndarray  # (q, dim) float32, unit norm

    @property
    def n(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def chunk_id(self, i: int) -> str:
        return f"c{i}"

    def in_workspace(self, w: int) -> np.ndarray:
        return np.flatnonzero(self.workspace_of == w)

    def resources_in(self, w: int) -> list[str]:
        return sorted({self.resource_of[i] for i in self.in_workspace(w)})


@dataclass(frozen=True)
class Cell:
    """One accessible list of the measured workspace."""

    selectivity: float  # the target fraction of the workspace's chunks
    list_size: int  # ids in the accessible() answer
    visible: frozenset[str]  # resources with chunks that are visible
    ids: list[str] = field(repr=False)  # the whole accessible list (visible + padding)
    chunks: np.ndarray = field(repr=False)  # indices of the visible chunks
    actual: float = 0.0  # the visible fraction of the workspace's chunks

    @property
    def label(self) -> str:
        return f"{self.selectivity:.1%} / {self.list_size:,} ids"


def make_dataset(n: int, dim: int, n_queries: int, *, seed: int = 7, clusters: int = 64) -> Dataset:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    assign = rng.integers(0, clusters, size=n)
    vectors = centres[assign] + rng.normal(scale=0.9, size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    weights = 1.0 / np.arange(1, N_WORKSPACES + 1)
    sizes = np.floor(n * weights / weights.sum()).astype(int)
    sizes[0] += n - int(sizes.sum())
    workspace_of = np.repeat(np.arange(N_WORKSPACES), sizes)
    rng.shuffle(workspace_of)
    resource_of: list[str] = [""] * n
    for w in range(N_WORKSPACES):
        members = np.flatnonzero(workspace_of == w)
        start = 0
        while start < len(members):
            size = int(rng.integers(6, 15))
            rid = str(uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | w))
            for i in members[start : start + size]:
                resource_of[int(i)] = rid
            start += size
    q_assign = rng.integers(0, clusters, size=n_queries)
    queries = centres[q_assign] + rng.normal(scale=0.9, size=(n_queries, dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return Dataset(
        vectors=vectors.astype(np.float32),
        workspace_of=workspace_of,
        resource_of=resource_of,
        workspaces=[str(uuid.UUID(int=(w + 1) << 100 | 0xA)) for w in range(N_WORKSPACES)],
        owners=[str(uuid.UUID(int=(w + 1) << 100 | 0xB)) for w in range(N_WORKSPACES)],
        queries=queries.astype(np.float32),
    )


def make_cells(
    data: Dataset,
    *,
    selectivities: tuple[float, ...] = SELECTIVITIES,
    list_sizes: tuple[int, ...] = LIST_SIZES,
    seed: int = 11,
) -> list[Cell]:
    """Every (selectivity, list size) cell whose visible resources fit in the list."""
    rng = np.random.default_rng(seed)
    members = data.in_workspace(0)
    resources = data.resources_in(0)
    per_resource: dict[str, list[int]] = {}
    for i in members:
        per_resource.setdefault(data.resource_of[int(i)], []).append(int(i))
    order = [resources[int(j)] for j in rng.permutation(len(resources))]
    padding = [
        str(uuid.UUID(int=int(x) << 1 | 1)) for x in rng.integers(1, 2**62, size=max(list_sizes))
    ]
    cells: list[Cell] = []
    for sel in selectivities:
        target = sel * len(members)
        visible: list[str] = []
        count = 0
        for rid in order:
            if count >= target:
                break
            visible.append(rid)
            count += len(per_resource[rid])
        for size in list_sizes:
            if len(visible) > size:
                continue
            ids = visible + padding[: size - len(visible)]
            chunks = np.array(sorted(i for rid in visible for i in per_resource[rid]))
            cells.append(
                Cell(
                    selectivity=sel,
                    list_size=size,
                    visible=frozenset(visible),
                    ids=ids,
                    chunks=chunks,
                    actual=len(chunks) / len(members),
                )
            )
    return cells


def exact_top_k(data: Dataset, q: np.ndarray, allowed: np.ndarray, k: int) -> list[str]:
    """numpy brute force: the k nearest (cosine) among the allowed chunk indices."""
    sims = data.vectors[allowed] @ q
    top = np.argsort(-sims, kind="stable")[:k]
    return [data.chunk_id(int(allowed[j])) for j in top]


def recall(found: list[str], truth: list[str]) -> float:
    if not truth:
        return 1.0
    return len(set(found) & set(truth)) / len(truth)


@dataclass
class FixedAuth:
    """An in-process ``AuthContext`` with a fixed ``accessible()`` answer.

    The latency cells use it so that P1-P3 compare store queries, not HTTP lookups; P4
    measures the lookups with the real SDK against the emulator.
    """

    workspace_id: uuid.UUID
    user_id: uuid.UUID
    ids: list[str]
    full: bool = False
    workspace_role: str = "viewer"
    groups: list[uuid.UUID] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._answer = [uuid.UUID(i) for i in self.ids]  # as the SDK returns them

    async def accessible(
        self, resource_type: str, action: str, limit: int | None = None
    ) -> tuple[list[uuid.UUID], bool]:
        return self._answer, self.full

    async def get_resource_acl(self, resource_type: str, resource_id: uuid.UUID) -> dict[str, str]:
        """Every synthetic resource is registered in this auth's workspace.

        Full-access writers ask it (the write rule, invariant 8); the datasets' resources
        all belong to the writer's workspace.
        """
        return {"resource_id": str(resource_id), "workspace_id": str(self.workspace_id)}
