"""pgvector P1 alone: the scoped query against the native one, per accessible-list size.

    .venv/bin/python -m benchmarks.pgvector_p1                      # 20,000 x 384, 1% visible
    .venv/bin/python -m benchmarks.pgvector_p1 --profile 100000     # + cProfile of that cell
    .venv/bin/python -m benchmarks.pgvector_p1 --n 5000 --dim 64 --queries 60

The same data, server, native query and scoped store as ``python -m benchmarks``
(:class:`benchmarks.backends.PgvectorRunner`), without the other variants, backends and
lookups: a quick loop for work on the pgvector read path. The two variants alternate
query by query (the order flips each query); P1 is the ratio of their medians.
``--profile SIZE`` then runs the scoped query of that cell under cProfile and prints
the top functions by cumulative time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import statistics
import time
import uuid

from benchmarks.backends import PgvectorRunner, exit_stack
from benchmarks.workload import FixedAuth, make_cells, make_dataset

K = 10


async def main(args: argparse.Namespace) -> None:
    data = make_dataset(args.n, args.dim, args.queries)
    sizes = tuple(int(s) for s in args.sizes.split(","))
    cells = [
        c
        for c in make_cells(data, selectivities=(args.visible,), list_sizes=sizes)
        if c.list_size in sizes
    ]
    async with exit_stack() as stack:
        runner = PgvectorRunner(stack, wardowl=False)
        loaded = await runner.load(data)
        print("load: " + ", ".join(f"{k} {v:.1f}s" for k, v in loaded.seconds.items()))
        ws = data.workspaces[0]
        viewer = uuid.UUID(int=0xC0FFEE)
        for cell in cells:
            auth = FixedAuth(uuid.UUID(ws), viewer, cell.ids)
            answer = [uuid.UUID(i) for i in cell.ids]
            store = runner.scoped_store(auth, None)
            times: dict[str, list[float]] = {"native": [], "scoped": []}

            async def native(q: object, answer: list[uuid.UUID] = answer) -> None:
                await runner.native(q, ws, answer, K)  # type: ignore[arg-type]

            async def scoped(q: object, store: object = store) -> None:
                await runner.scoped(store, q, K)  # type: ignore[arg-type]

            variants = {"native": native, "scoped": scoped}
            for fn in variants.values():  # warm-up
                await fn(data.queries[0])
            for qi in range(args.queries):
                q = data.queries[qi % len(data.queries)]
                order = list(variants) if qi % 2 == 0 else list(reversed(variants))
                for name in order:
                    t = time.perf_counter()
                    await variants[name](q)
                    times[name].append(time.perf_counter() - t)
            nat = statistics.median(times["native"]) * 1000
            sco = statistics.median(times["scoped"]) * 1000
            print(
                f"{cell.label:>22}: native {nat:7.2f} ms  scoped {sco:7.2f} ms  P1 {sco / nat:.2f}",
                flush=True,
            )
            if args.profile == cell.list_size:
                prof = cProfile.Profile()
                prof.enable()
                for qi in range(args.queries):
                    await scoped(data.queries[qi % len(data.queries)])
                prof.disable()
                out = io.StringIO()
                pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(40)
                print(out.getvalue())
                out = io.StringIO()
                pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(45)
                print(out.getvalue())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=20_000, help="chunks")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=40, help="queries per cell")
    parser.add_argument("--visible", type=float, default=0.01, help="visible share")
    parser.add_argument("--sizes", default="1000,10000,100000", help="list sizes")
    parser.add_argument("--profile", type=int, help="cProfile the scoped query of this size")
    asyncio.run(main(parser.parse_args()))
