"""The suite's table (printed and written as Markdown) and its plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TARGETS = "P1 <= 1.05; P2 >= 0.98 at 1% and 0.1%; P3 <= 2.0 at 10k and 100k ids"


def _f(value: Any, fmt: str = "{:.2f}") -> str:
    if value is None:
        return "-"
    if isinstance(value, float | int):
        return fmt.format(value)
    return str(value)


def table(result: dict[str, Any]) -> str:
    lines = []
    for b in result["backends"]:
        lines.append(
            f"\n### {b['backend']}\n\n{b['note'].rstrip('.')}. Load: "
            + ", ".join(f"{k} {v} s" for k, v in b["load_seconds"].items())
            + ".\n"
        )
        lines.append(
            "| cell (visible / ids) | native ms | scoped ms | P1 | P3 | recall scoped "
            "| recall native | post ms | post recall | post complete | pre ms | wardowl ms "
            "| wardowl recall |"
        )
        lines.append("|---|" + "---:|" * 12)
        for r in b["rows"]:
            err = r.get("errors") or {}
            w_ms = _f(r.get("wardowl_ms")) if "wardowl" not in err else "error"
            if "wardowl_samples" in r:
                w_ms += f" (n={r['wardowl_samples']})"
            ms = {v: _f(r.get(f"{v}_ms")) for v in ("native", "scoped", "postfilter", "prefilter")}
            for v in ms:
                if f"{v}_samples" in r:
                    ms[v] += f" (n={r[f'{v}_samples']})"
            lines.append(
                f"| {r['cell']} | {ms['native']} | {ms['scoped']} | {_f(r.get('p1'))} "
                f"| {_f(r.get('p3'))} | {_f(r.get('scoped_recall'), '{:.3f}')} "
                f"| {_f(r.get('native_recall'), '{:.3f}')} | {ms['postfilter']} "
                f"| {_f(r.get('postfilter_recall'), '{:.3f}')} "
                f"| {_f(r.get('postfilter_complete'))} | {ms['prefilter']} "
                f"| {w_ms} | {_f(r.get('wardowl_recall'), '{:.3f}')} |"
            )
        errors: dict[tuple[str, str], list[str]] = {}
        for r in b["rows"]:
            for variant, e in (r.get("errors") or {}).items():
                errors.setdefault((variant, e), []).append(r["cell"])
        for (variant, e), cells in errors.items():
            lines.append(f"\n- {variant}, {'; '.join(cells)}: `{e}`")
        w = b["writes"]
        lines.append(
            f"\nP4 writes: scoped batch of {w['batch']} {w['scoped_ms']} ms "
            f"vs raw {w['raw_ms']} ms "
            f"(x{w['ratio']}, median of {w['repeats']})."
        )
    lk = result.get("lookups")
    if lk:
        lines.append("\n### P4: permission lookups\n")
        lines.append("| accessible ids | accessible() ms |\n|---:|---:|")
        for size, ms in lk["latency_ms"].items():
            lines.append(f"| {int(size):,} | {ms} |")
        for key in (
            "query_fresh_request",
            "second_query_same_request",
            "write_50_chunks_5_new_resources",
        ):
            lines.append(f"\n- {key.replace('_', ' ')}: {lk[key]}")
    return "\n".join(lines)


def render(result: dict[str, Any], out: Path) -> str:
    label = result["label"]
    m = result["machine"]
    head = (
        f"## Suite '{label}': {result['n']:,} chunks x {result['dim']}, k={result['k']}, "
        f"{result['queries']} queries per cell\n\n"
        f"Machine: {m['cpus']} CPUs, {m['platform']}, Python {m['python']}; load average "
        f"{m['load_average_at_start']} at start, {m['load_average_at_end']} at end. "
        f"Run time {result['seconds']} s. Targets: {TARGETS}.\n"
    )
    text = head + table(result)
    (out / f"summary-{label}.md").write_text(text + "\n")
    plots(result, out)
    return text


def plots(result: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    label = result["label"]
    backends = result["backends"]
    # P3: scoped latency / workspace-only query vs list size, one line per selectivity.
    fig, axes = plt.subplots(1, len(backends), figsize=(5 * len(backends), 4), squeeze=False)
    for ax, b in zip(axes[0], backends, strict=True):
        for sel in sorted({r["selectivity"] for r in b["rows"] if r["selectivity"]}, reverse=True):
            rows = sorted(
                (r for r in b["rows"] if r["selectivity"] == sel), key=lambda r: r["list_size"]
            )
            xs = [r["list_size"] for r in rows if "p3" in r]
            ax.plot(
                xs,
                [r["p3"] for r in rows if "p3" in r],
                marker="o",
                label=f"scoped (auto), {sel:.1%} visible",
            )
            post = [
                (r["list_size"], r["postfilter_ms"] / b["rows"][0]["native_ms"])
                for r in rows
                if "postfilter_ms" in r
            ]
            if post:
                ax.plot(
                    *zip(*post, strict=True),
                    linestyle="--",
                    marker="x",
                    label=f"postfilter (forced), {sel:.1%}",
                )
        ax.axhline(2.0, color="red", linewidth=0.8, label="target 2x")
        ax.axhline(1.0, color="grey", linewidth=0.5)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("accessible ids")
        ax.set_ylabel("latency / workspace-only native query")
        ax.set_title(f"P3 {b['backend']}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / f"{label}-p3-list-size.png", dpi=110)
    plt.close(fig)

    # P2: recall@10 per selectivity, the worst cell (any list size) of each variant.
    fig, axes = plt.subplots(1, len(backends), figsize=(5 * len(backends), 4), squeeze=False)
    for ax, b in zip(axes[0], backends, strict=True):
        sels = sorted({r["selectivity"] for r in b["rows"] if r["selectivity"]}, reverse=True)
        width = 0.2
        names = [
            ("native", "native by hand"),
            ("scoped", "scoped (auto)"),
            ("postfilter", "postfilter (forced)"),
            ("wardowl", "wardowl"),
        ]
        for j, (v, name) in enumerate(names):
            ys = [
                min(
                    (
                        r[f"{v}_recall"]
                        for r in b["rows"]
                        if r["selectivity"] == s and f"{v}_recall" in r
                    ),
                    default=0.0,
                )
                for s in sels
            ]
            ax.bar([i + (j - 1.5) * width for i in range(len(sels))], ys, width, label=name)
        ax.axhline(0.98, color="red", linewidth=0.8)
        ax.set_xticks(range(len(sels)), [f"{s:.1%}" for s in sels])
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("visible share of the workspace (worst list size)")
        ax.set_ylabel("recall@10")
        ax.set_title(f"P2 {b['backend']}")
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(out / f"{label}-p2-recall.png", dpi=110)
    plt.close(fig)

    # P1 and wardowl: median latency per cell.
    fig, axes = plt.subplots(1, len(backends), figsize=(6 * len(backends), 4.5), squeeze=False)
    for ax, b in zip(axes[0], backends, strict=True):
        rows = b["rows"]
        xs = range(len(rows))
        for j, v in enumerate(("native", "scoped", "wardowl")):
            ax.bar(
                [x + (j - 1) * 0.27 for x in xs],
                [r.get(f"{v}_ms", 0.0) for r in rows],
                0.27,
                label=v,
            )
        ax.set_xticks(
            list(xs),
            [r["cell"].replace(" (full access)", "") for r in rows],
            rotation=60,
            ha="right",
            fontsize=6,
        )
        ax.set_yscale("log")
        ax.set_ylabel("median ms")
        ax.set_title(f"P1 / wardowl {b['backend']}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / f"{label}-p1-latency.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    import json
    import sys

    # Re-render a suite's summary and plots from its JSON: python -m benchmarks.report FILE
    path = Path(sys.argv[1])
    print(render(json.loads(path.read_text()), path.parent))
