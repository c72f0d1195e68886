"""How long `codefill lsp` takes to build a completion's context (target: p95 < 20 ms).

A generated Python workspace (deterministic with --seed): 200 modules that import each other
(`from proj.mod_017 import func_017_0, Model017`) and a 5,000-line proj/big.py that imports three
of them; four modules are open besides. All in one process, no server. Scenes:

1. ContextBuilder.build at random cursors in the 5,000-line file (cross-file context included);
2. typing in that file: statements typed one character at a time on new lines, each keystroke an
   incremental didChange then a build, timed apart; once with brackets auto-closed as editors do
   by default, once typed (an open bracket makes tree-sitter re-parse what follows it);
3. builds at random cursors in a module of the 200-file workspace;
4. the first build in each of the 200 modules with a fresh builder (imports read and parsed).

Every scene warms up first (--warmup builds, not timed). Prints a table of p50/p95/max ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types as lsp_types

from codefill.lsp.context import ContextBuilder
from codefill.lsp.documents import DocumentStore


def python_module(rng: random.Random, index: int, lines: int, imports: list[int]) -> str:
    """A plausible Python module of about `lines` lines: classes, functions, docstrings, calls."""
    out = ['"""Module %d of the generated benchmark project."""' % index, "", "import os", ""]
    for other in imports:
        out.append(f"from proj.mod_{other:03d} import func_{other:03d}_0, Model{other:03d}")
    out.append("")
    n = 0
    while len(out) < lines:
        if n % 5 == 4:
            out += [
                f"class Model{index:03d}_{n}:",
                f'    """A model class number {n}."""',
                "",
                "    def __init__(self, name: str, size: int = 0) -> None:",
                "        self.name = name",
                "        self.size = size",
                "",
            ]
            for m in range(rng.randint(2, 6)):
                out += [
                    f"    def method_{m}(self, value: int) -> int:",
                    f'        """Return value combined with method {m}."""',
                    "        result = value",
                    f"        for i in range({rng.randint(2, 9)}):",
                    f"            result += i * {m} + self.size",
                    "        return result",
                    "",
                ]
        else:
            callee = rng.choice(imports) if imports else None
            call = f"func_{callee:03d}_0(data, {n})" if callee is not None else f"len(data) + {n}"
            out += [
                f"def func_{index:03d}_{n}(data: list[int], limit: int = {n}) -> int:",
                f'    """Compute something about data, number {n}."""',
                "    total = 0",
                "    for item in data:",
                "        if item > limit:",
                "            total += item",
                "        else:",
                f"            total -= {call}",
                "    values = [",
                "        total,",
                f"        limit * {n},",
                "    ]",
                "    return sum(values)",
                "",
                "",
            ]
        n += 1
    if imports:
        out += [f"class Model{index:03d}(Model{imports[0]:03d}):", '    """The main model."""', "    pass", ""]
    else:
        out += [f"class Model{index:03d}:", '    """The main model."""', "    pass", ""]
    return "\n".join(out[: max(lines, len(out))]) + "\n"


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return p50, p95, ordered[-1]


def time_builds(builder: ContextBuilder, uri: str, positions: list[tuple[int, int]], warmup: int) -> list[float]:
    for line, char in positions[:warmup]:
        builder.build(uri, line, char)
    samples = []
    for line, char in positions[warmup:]:
        started = time.perf_counter()
        builder.build(uri, line, char)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def random_positions(rng: random.Random, text: str, count: int) -> list[tuple[int, int]]:
    lines = text.split("\n")
    out = []
    for _ in range(count):
        line = rng.randrange(len(lines))
        out.append((line, rng.randint(0, len(lines[line]))))
    return out


def keystrokes(statement: str, line: int, auto_close: bool) -> list[tuple[int, int, str]]:
    """(line, character, inserted text) of typing `statement` on `line`, as an editor sends them.

    With auto_close the editor inserts ")" with "(" and the typed ")" only moves
    over it (VS Code's default); without, the text has an open bracket for a while.
    """
    steps = []
    column = 0
    for ch in statement:
        if auto_close and ch == ")":
            column += 1
            continue
        steps.append((line, column, ch + (")" if auto_close and ch == "(" else "")))
        column += 1
    return steps


def time_typing(store: DocumentStore, builder: ContextBuilder, uri: str, rng: random.Random, runs: int,
                warmup: int, auto_close: bool) -> tuple[list[float], list[float]]:
    """Type statements on new lines at random places; time each didChange and the build after it."""
    doc = store.get(uri)
    assert doc is not None
    statement = "        total += func_000_0(data, limit) * 2"
    edit_ms: list[float] = []
    build_ms: list[float] = []
    count = 0
    while len(edit_ms) < runs:
        line = rng.randrange(doc.line_count - 1)
        steps = [(line, len(doc.line_text(line)), "\n")] + keystrokes(statement, line + 1, auto_close)
        for at_line, at_char, typed in steps:
            change = lsp_types.TextDocumentContentChangePartial(
                range=lsp_types.Range(lsp_types.Position(at_line, at_char), lsp_types.Position(at_line, at_char)),
                text=typed)
            started = time.perf_counter()
            store.change(uri, doc.version + 1, [change])
            edited = time.perf_counter()
            cursor = (line + 1, 0) if typed == "\n" else (at_line, at_char + 1)
            builder.build(uri, *cursor)
            done = time.perf_counter()
            count += 1
            if count > warmup and len(edit_ms) < runs:
                edit_ms.append((edited - started) * 1000)
                build_ms.append((done - edited) * 1000)
    return edit_ms, build_ms


def make_workspace(root: Path, rng: random.Random, files: int, big_lines: int) -> Path:
    """proj/mod_000..mod_NNN importing each other, and proj/big.py importing three of them."""
    (root / "proj").mkdir(parents=True)
    (root / "proj" / "__init__.py").write_text("")
    for index in range(files):
        imports = [i for i in sorted(rng.sample(range(files), k=min(4, files - 1))) if i != index][:3]
        text = python_module(rng, index, rng.randint(80, 400), imports)
        (root / "proj" / f"mod_{index:03d}.py").write_text(text)
    big = root / "proj" / "big.py"
    big.write_text(python_module(rng, 999, big_lines, [0, 1, 2]))
    return big


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=5000, help="lines of the big file")
    parser.add_argument("--files", type=int, default=200, help="files in the workspace")
    parser.add_argument("--runs", type=int, default=300, help="timed builds per scene")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    rows: list[tuple[str, list[float]]] = []

    with tempfile.TemporaryDirectory(prefix="codefill-context-bench-") as tmp:
        root = Path(tmp) / "bench"
        big = make_workspace(root, rng, args.files, args.lines)
        store = DocumentStore([str(root)])
        builder = ContextBuilder(store)
        others = [root / "proj" / f"mod_{i:03d}.py" for i in rng.sample(range(args.files), k=4)]
        for path in others:
            store.open(path.as_uri(), "python", 1, path.read_text())

        # --- the big file: builds at random cursors, then typing
        big_uri = big.as_uri()
        doc = store.open(big_uri, "python", 1, big.read_text())
        positions = random_positions(rng, doc.text, args.warmup + args.runs)
        rows.append((f"build, {doc.line_count}-line file", time_builds(builder, big_uri, positions, args.warmup)))
        for auto_close in (True, False):
            edit_ms, build_ms = time_typing(store, builder, big_uri, rng, args.runs, args.warmup, auto_close)
            how = "brackets auto-closed" if auto_close else "brackets typed"
            rows.append((f"keystroke ({how}): didChange + incremental reparse", edit_ms))
            rows.append((f"keystroke ({how}): build after it", build_ms))
        store.close(big_uri)

        # --- a module of the workspace: builds at random cursors (imports cached after the first)
        target = others[0]
        target_uri = target.as_uri()
        positions = random_positions(rng, target.read_text(), args.warmup + args.runs)
        started = time.perf_counter()
        cold = builder.build(target_uri, *positions[0])
        cold_ms = (time.perf_counter() - started) * 1000
        rows.append((f"build, {args.files}-file workspace", time_builds(builder, target_uri, positions, args.warmup)))

        # --- every module once, opened and closed: each first build reads and parses its imports
        fresh = ContextBuilder(store)
        walk: list[float] = []
        for index in range(args.files):
            path = root / "proj" / f"mod_{index:03d}.py"
            text = path.read_text()
            uri = path.as_uri()
            if store.get(uri) is None:
                store.open(uri, "python", 1, text)
                opened_here = True
            else:
                opened_here = False
            line, char = random_positions(rng, text, 1)[0]
            started = time.perf_counter()
            fresh.build(uri, line, char)
            walk.append((time.perf_counter() - started) * 1000)
            if opened_here:
                store.close(uri)
        rows.append((f"first build in each of the {args.files} files (cold cache)", walk))

    print(f"context build benchmark (python {sys.version.split()[0]}, seed {args.seed}, "
          f"{args.runs} timed runs per scene after {args.warmup} warm-up)")
    print()
    print("| scene | n | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|---|")
    for name, samples in rows:
        p50, p95, worst = percentiles(samples)
        print(f"| {name} | {len(samples)} | {p50:.2f} | {p95:.2f} | {worst:.2f} |")
    print()
    print(f"first build in the workspace module: {cold_ms:.2f} ms, {len(cold.files)} cross-file piece(s)")
    return 0
