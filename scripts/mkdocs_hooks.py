"""MkDocs hooks: serve the benchmark plots that docs/benchmarks.md links from outside docs/.

docs/benchmarks.md links ``../benchmarks/results/<plot>.png`` so that the plots render on
GitHub, where ``make bench`` writes them. The site copies them to ``benchmark-plots/`` and
points the links there, so ``mkdocs build --strict`` can check every other link.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"
SITE_DIR = "benchmark-plots"


def on_files(files: Files, config: Any) -> Files:
    """Add each committed plot as a file of the site."""
    for plot in sorted(RESULTS.glob("*.png")):
        files.append(File.generated(config, f"{SITE_DIR}/{plot.name}", abs_src_path=str(plot)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Point the benchmark page's plot links at the site's copies."""
    if page.file.src_uri != "benchmarks.md":
        return markdown
    return markdown.replace("../benchmarks/results/", f"{SITE_DIR}/")
