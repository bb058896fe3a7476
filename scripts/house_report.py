"""The house in figures: lines of code and the import graph between the parts.

    .venv/bin/python scripts/house_report.py            # table
    .venv/bin/python scripts/house_report.py --edges    # and every package-level edge

Counts code lines (not blank, not comments, docstrings counted) of the product packages,
and from grimp (import-linter's graph) the imports between second-level packages or
top-level modules, the cycles among them and any import crossing between the programs.
"""

from __future__ import annotations

import argparse
import io
import sys
import tokenize
from collections import defaultdict
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("appliance", "bridge", "salon")


def code_lines(path: Path) -> int:
    lines: set[int] = set()
    with path.open("rb") as f:
        for tok in tokenize.tokenize(f.readline):
            if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.ENCODING,
                            tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
                continue
            lines.update(range(tok.start[0], tok.end[0] + 1))
    return len(lines)


def part(module: str) -> str:
    """appliance.media.mixer → appliance.media; appliance.app → appliance.app."""
    return ".".join(module.split(".")[:2])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edges", action="store_true")
    args = ap.parse_args()
    present = [p for p in PACKAGES if (ROOT / p).is_dir()]
    sys.path.insert(0, str(ROOT))
    for pkg in present:
        files = list((ROOT / pkg).rglob("*.py"))
        print(f"{pkg}: {sum(code_lines(f) for f in files)} code lines in {len(files)} modules")
    graph = grimp.build_graph(*present)
    edges: dict[tuple[str, str], int] = defaultdict(int)
    for mod in graph.modules:
        for imported in graph.find_modules_directly_imported_by(mod):
            a, b = part(mod), part(imported)
            if a != b:
                edges[(a, b)] += 1
    parts = {p for e in edges for p in e}
    cycles = sorted({tuple(sorted((a, b))) for (a, b) in edges if (b, a) in edges})
    crossing = {e: n for e, n in edges.items() if e[0].split(".")[0] != e[1].split(".")[0]}
    print(f"parts: {len(parts)}, edges between parts: {len(edges)}, two-way pairs: {len(cycles)}")
    for a, b in cycles:
        print(f"  two-way: {a} <-> {b}")
    for (a, b), n in sorted(crossing.items()):
        print(f"  crosses programs: {a} -> {b} ({n} imports)")
    if args.edges:
        out = io.StringIO()
        for (a, b), n in sorted(edges.items()):
            out.write(f"  {a} -> {b} ({n})\n")
        print(out.getvalue(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
