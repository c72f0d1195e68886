"""The context engine: local windows, headers, cross-file pieces, multiline hint, raw prompt layout."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types as lsp_types

from codefill.lsp.context import CompletionContext, ContextBuilder, render_prompt
from codefill.lsp.documents import DocumentStore, SyntaxDocument
from codefill.model.templates import ContextFile, get_fim_template

# --- helpers (also used by test_lsp_context_imports.py) ------------------------

CURSOR = "█"


def split_cursor(text: str) -> tuple[str, int, int]:
    """The text without the cursor mark, and the mark's (line, character)."""
    index = text.index(CURSOR)
    before = text[:index]
    line = before.count("\n")
    character = len(before) - (before.rfind("\n") + 1)
    return text.replace(CURSOR, "", 1), line, character


def write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def open_file(store: DocumentStore, root: Path, rel: str, language_id: str, text: str | None = None) -> SyntaxDocument:
    path = root / rel
    if text is None:
        text = path.read_text()
    return store.open(path.as_uri(), language_id, 1, text)


def insert(store: DocumentStore, doc: SyntaxDocument, line: int, character: int, text: str) -> None:
    change = lsp_types.TextDocumentContentChangePartial(
        range=lsp_types.Range(lsp_types.Position(line, character), lsp_types.Position(line, character)), text=text)
    store.change(doc.uri, doc.version + 1, [change])


# --- local windows -----------------------------------------------------------


def statements_module(n: int) -> str:
    """Statements that each span several lines: a cut inside one is easy to recognize."""
    parts = []
    for i in range(n):
        parts.append(f"result_{i} = compute(\n    alpha_{i},\n    beta_{i},\n)\n")
        if i % 3 == 0:
            parts.append(f"total_{i} = result_{i} + {i}\n")
    return "".join(parts)


def test_windows_respect_budget_and_cut_on_line_and_statement_boundaries(tmp_path):
    text = statements_module(400)
    lines = text.split("\n")
    store = DocumentStore([str(tmp_path)])
    doc = open_file(store, tmp_path, "mod.py", "python", text)
    for budget in range(100, 400, 7):  # from the budget where the suffix holds one whole statement
        builder = ContextBuilder(store, budget_tokens=budget, chars_per_token=4.0, crossfile_budget_tokens=0)
        line = len(lines) // 2
        ctx = builder.build(doc.uri, line, 3)
        offset = doc.offset_at(line, 3)
        assert len(ctx.prefix) + len(ctx.suffix) <= budget * 4
        # The prefix is the text right before the cursor, from a line start.
        assert text[:offset].endswith(ctx.prefix)
        start = offset - len(ctx.prefix)
        assert start == 0 or text[start - 1] == "\n"
        # The suffix runs from the cursor to the end of a line.
        assert text[offset:].startswith(ctx.suffix)
        assert ctx.suffix.endswith("\n")
        # Never inside a multi-line call: the window starts and ends at statements.
        first_line = ctx.prefix.split("\n")[0]
        assert first_line.startswith(("result_", "total_")), (budget, first_line)
        next_line = text[offset + len(ctx.suffix):].split("\n")[0]
        assert next_line.startswith(("result_", "total_")), (budget, next_line)
        assert ctx.line_prefix == lines[line][:3] and ctx.line_suffix == lines[line][3:]


def test_the_suffix_gets_about_fifteen_percent():
    store = DocumentStore()
    text = "".join(f"value_{i} = {i}\n" for i in range(2000))
    doc = store.open("file:///w/values.py", "python", 1, text)
    ctx = ContextBuilder(store, budget_tokens=1000, chars_per_token=4.0, crossfile_budget_tokens=0).build(
        doc.uri, 1000, 0)
    assert 0.75 * 4000 <= len(ctx.prefix) <= 0.85 * 4000
    assert 0.1 * 4000 <= len(ctx.suffix) <= 0.15 * 4000 + 20


def test_a_short_prefix_does_not_lengthen_the_suffix():
    # The suffix is computed again at every keystroke: near a file's top it stays at its share.
    store = DocumentStore()
    text = "".join(f"value_{i} = {i}\n" for i in range(2000))
    doc = store.open("file:///w/values.py", "python", 1, text)
    builder = ContextBuilder(store, budget_tokens=1000, chars_per_token=4.0, crossfile_budget_tokens=0)
    ctx = builder.build(doc.uri, 3, 0)
    assert ctx.prefix == text[:doc.offset_at(3, 0)]
    assert len(ctx.suffix) <= 0.15 * 4000 + 20
    wider = ContextBuilder(store, budget_tokens=1000, chars_per_token=4.0, crossfile_budget_tokens=0,
                           suffix_share=0.5).build(doc.uri, 3, 0)
    assert 0.4 * 4000 <= len(wider.suffix) <= 0.5 * 4000 + 20


def test_unused_suffix_budget_goes_to_the_prefix():
    store = DocumentStore()
    text = "".join(f"value_{i} = {i}\n" for i in range(2000))
    doc = store.open("file:///w/values.py", "python", 1, text)
    ctx = ContextBuilder(store, budget_tokens=1000, chars_per_token=4.0, crossfile_budget_tokens=0).build(
        doc.uri, 2000, 0)
    assert ctx.suffix == ""
    assert len(ctx.prefix) > 0.9 * 4000


def test_header_of_the_enclosing_class_and_method_kept_3000_lines_down():
    body = "".join(f"        x_{i} = helper(x_{i - 1 if i else 0}, {i})\n" for i in range(3000))
    text = (
        "import os\n\n\nclass Big(Base):\n    \"\"\"Doc.\"\"\"\n\n"
        "    def long_method(\n        self, a: int,\n        b: int,\n    ) -> int:\n"
        + body + "        return x_2999\n\n\ndef after():\n    pass\n"
    )
    store = DocumentStore()
    doc = store.open("file:///w/big.py", "python", 1, text)
    builder = ContextBuilder(store, budget_tokens=512, chars_per_token=3.5, crossfile_budget_tokens=0)
    line = 10 + 2990  # deep in the body
    ctx = builder.build(doc.uri, line, 8)
    header = "class Big(Base):\n    def long_method(\n        self, a: int,\n        b: int,\n    ) -> int:\n"
    assert ctx.prefix.startswith(header)
    assert ctx.headers == ("class Big(Base):\n", "    def long_method(\n        self, a: int,\n        b: int,\n    ) -> int:\n")
    assert ctx.prefix[len(header):].startswith("        x_")
    assert len(ctx.prefix) + len(ctx.suffix) <= 512 * 3.5
    assert ctx.prefix.endswith(doc.line_text(line)[:8])
    # On a blank line at the end of the body the cursor is still inside the method.
    blank = text.replace("        return x_2999\n", "        return x_2999\n        \n")
    doc2 = store.open("file:///w/big2.py", "python", 1, blank)
    ctx2 = builder.build(doc2.uri, 10 + 3001, 8)
    assert ctx2.prefix.startswith(header)
    # Outside the class no header is added.
    ctx3 = builder.build(doc.uri, doc.line_count - 2, 4)
    assert ctx3.headers == ()


def test_header_of_a_long_c_like_function():
    body = "".join(f"  total += step({i});\n" for i in range(2000))
    text = "#include <stdio.h>\n\nstatic int\nlong_function(int a, int b)\n{\n  int total = 0;\n" + body + "  return total;\n}\n"
    store = DocumentStore()
    doc = store.open("file:///w/long.c", "c", 1, text)
    ctx = ContextBuilder(store, budget_tokens=400, crossfile_budget_tokens=0).build(doc.uri, 1500, 2)
    assert ctx.prefix.startswith("static int\nlong_function(int a, int b)\n{\n  total += step(")


def test_unknown_language_gets_plain_line_windows():
    text = "".join(f"note line {i}\n" for i in range(500))
    store = DocumentStore()
    doc = store.open("file:///w/notes.txt", "plaintext", 1, text)
    ctx = ContextBuilder(store, budget_tokens=100, chars_per_token=4.0).build(doc.uri, 250, 5)
    assert ctx.language is None and ctx.files == () and ctx.headers == ()
    offset = doc.offset_at(250, 5)
    assert text[:offset].endswith(ctx.prefix) and text[offset:].startswith(ctx.suffix)
    assert text[offset - len(ctx.prefix) - 1] == "\n"
    assert ctx.suffix.endswith("\n")
    assert len(ctx.prefix) + len(ctx.suffix) <= 400
    assert ctx.line_prefix == "note " and ctx.multiline is False


def test_a_giant_single_line_is_cut_inside_the_line():
    text = "x = [" + ", ".join(str(i) for i in range(20000)) + "]\n"
    store = DocumentStore()
    doc = store.open("file:///w/min.py", "python", 1, text)
    ctx = ContextBuilder(store, budget_tokens=100, chars_per_token=4.0).build(doc.uri, 0, 50000)
    assert 0 < len(ctx.prefix) <= 400 and len(ctx.prefix) + len(ctx.suffix) <= 400


# --- multiline hint ------------------------------------------------------------


@pytest.mark.parametrize(
    ("language_id", "uri", "source", "expected"),
    [
        ("python", "a.py", "def f(x):\n    █\n\nprint(1)\n", True),
        ("python", "a.py", "def f(x):\n█", True),
        ("python", "a.py", "class A:\n    def g(self):█\n", True),
        ("python", "a.py", "def f(x):\n    y = 1\n    █\n    return y\n", None),
        ("python", "a.py", "def f(x):\n    return g(█)\n", False),
        ("python", "a.py", "def f(x):\n    return █\n", False),
        ("python", "a.py", 's = """\ntext:\n█\n"""\n', None),
        ("c", "a.c", "int main(void) {\n    █\n}\n", True),
        ("c", "a.c", "int main(void) {█}\n", True),
        ("c", "a.c", "int main(void) {\n    █\n    return 0;\n}\n", None),
        ("c", "a.c", "int main(void) {\n    printf(█);\n}\n", False),
        ("c", "a.c", "int main(void) {\n  // comment {\n  █\n  return 0;\n}\n", None),
        ("javascript", "a.js", "function f(a) {\n  █\n}\n", True),
        ("go", "a.go", "package a\n\nfunc F() {\n\t█\n}\n", True),
    ],
)
def test_multiline_hint(language_id, uri, source, expected):
    text, line, character = split_cursor(source)
    store = DocumentStore()
    doc = store.open(f"file:///w/{uri}", language_id, 1, text)
    assert ContextBuilder(store).build(doc.uri, line, character).multiline is expected


# --- cross-file context ----------------------------------------------------------

UTIL = '''"""Utilities."""
import math


def compute_total(items: list[int], scale: float = 1.0) -> float:
    """Sum the items and scale the result.

    An empty list gives 0.
    """
    total = 0.0
    for item in items:
        total += item
    if total < 0:
        total = -total
    total = math.floor(total)
    total = total + 0
    return total * scale


def unrelated_helper(a):
    return a


class Basket:
    """Items bought together."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.items: list[int] = []

    def add(self, item: int) -> None:
        """Add one item."""
        self.items.append(item)
        self.items.sort()
        self.items.reverse()
        self.items.reverse()

    def total(self) -> float:
        return compute_total(self.items)
'''

MAIN = '''from .util import compute_total, Basket
from pkg.models import Order


def checkout(values):
    basket = Basket("me")
    order = Order(basket)
    amount = compute_total(values, █)
    return amount
'''

MODELS = '''class Order:
    """One order."""

    def __init__(self, basket):
        self.basket = basket
'''


@pytest.fixture
def python_workspace(tmp_path: Path):
    write_tree(tmp_path, {"pkg/__init__.py": "", "pkg/util.py": UTIL, "pkg/models.py": MODELS,
                          "pkg/unused.py": "def compute_total():\n    return 'wrong module'\n"})
    text, line, character = split_cursor(MAIN)
    write_tree(tmp_path, {"pkg/main.py": text})
    store = DocumentStore([str(tmp_path)])
    doc = open_file(store, tmp_path, "pkg/main.py", "python")
    return store, doc, line, character


def files_dict(ctx: CompletionContext) -> dict[str, str]:
    out: dict[str, str] = {}
    for path, content in ctx.files:
        out[path] = out.get(path, "") + content
    return out


def test_imported_definitions_from_disk_give_signature_and_docstring(python_workspace, tmp_path):
    store, doc, line, character = python_workspace
    ctx = ContextBuilder(store).build(doc.uri, line, character)
    assert ctx.path == "pkg/main.py" and ctx.repo_name == tmp_path.name
    files = files_dict(ctx)
    util = files["pkg/util.py"]
    assert "def compute_total(items: list[int], scale: float = 1.0) -> float:\n" \
           '    """Sum the items and scale the result.\n\n    An empty list gives 0.\n    """\n    ...' in util
    assert "total += item" not in util  # the long body is left out
    assert "class Basket:" in util and "    def add(self, item: int) -> None:" in util
    assert "unrelated_helper" not in util  # not used at the cursor
    assert "class Order:" in files["pkg/models.py"]  # absolute `from pkg.models import` resolved too
    assert "wrong module" not in "".join(files.values())  # a same-named function elsewhere is not imported
    # Stable order: definition pieces sorted by path.
    assert [p for p, _ in ctx.files] == sorted(p for p, _ in ctx.files)


def test_module_import_and_alias_are_followed(tmp_path):
    write_tree(tmp_path, {
        "app/__init__.py": "",
        "app/helpers.py": "def slugify(text: str) -> str:\n    \"\"\"Make a slug.\"\"\"\n    return text.lower()\n",
        "app/other.py": "def parse_date(s):\n    return s\n",
    })
    source = "import app.helpers\nfrom app.other import parse_date as pd\n\nx = app.helpers.slugify(pd(█))\n"
    text, line, character = split_cursor(source)
    store = DocumentStore([str(tmp_path)])
    doc = store.open((tmp_path / "main.py").as_uri(), "python", 1, text)
    files = files_dict(ContextBuilder(store).build(doc.uri, line, character))
    assert "def slugify(text: str) -> str:" in files["app/helpers.py"]
    assert "def parse_date(s):" in files["app/other.py"]


def test_imports_are_found_while_a_half_typed_line_breaks_the_parse(tmp_path):
    # `async with ` at the cursor makes tree-sitter wrap the whole module in one ERROR node.
    write_tree(tmp_path, {
        "app/__init__.py": "",
        "app/session.py": "def open_session(url: str):\n    \"\"\"Open a session.\"\"\"\n    return url\n",
    })
    source = ("from app.session import open_session\n\n\nasync def main(url):\n"
              "    session = open_session(url)\n    async with █\n")
    text, line, character = split_cursor(source)
    store = DocumentStore([str(tmp_path)])
    doc = store.open((tmp_path / "main.py").as_uri(), "python", 1, text)
    files = files_dict(ContextBuilder(store).build(doc.uri, line, character))
    assert "def open_session(url: str):" in files["app/session.py"]


def test_crossfile_pieces_fit_their_budget(python_workspace):
    store, doc, line, character = python_workspace
    for tokens in (0, 20, 60, 150, 400):
        ctx = ContextBuilder(store, crossfile_budget_tokens=tokens, chars_per_token=3.5).build(doc.uri, line, character)
        assert sum(len(p) + len(c) for p, c in ctx.files) <= tokens * 3.5
    assert ContextBuilder(store, crossfile_budget_tokens=0).build(doc.uri, line, character).files == ()


def test_a_name_defined_in_another_open_javascript_file_appears():
    store = DocumentStore(["/w"])
    store.open("file:///w/src/format.js", "javascript", 1,
               "/**\n * Format an amount of money.\n */\nexport function formatPrice(amount, currency) {\n"
               "  return `${amount.toFixed(2)} ${currency}`;\n}\n\nexport function unused() {}\n")
    text, line, character = split_cursor("const total = 3;\nconsole.log(formatPrice(total, █));\n")
    doc = store.open("file:///w/src/app.js", "javascript", 1, text)
    ctx = ContextBuilder(store).build(doc.uri, line, character)
    assert ctx.files == (("src/format.js", "/**\n * Format an amount of money.\n */\n"
                          "export function formatPrice(amount, currency) {\n"
                          "  return `${amount.toFixed(2)} ${currency}`;\n}"),)


def test_text_already_in_the_window_is_not_repeated():
    store = DocumentStore(["/w"])
    helper = "def helper(x):\n    return x + 1"
    other = store.open("file:///w/b.py", "python", 1, helper + "\n")
    text, line, character = split_cursor(helper + "\n\n\ny = helper(█)\n")
    doc = store.open("file:///w/a.py", "python", 1, text)
    builder = ContextBuilder(store)
    assert builder.build(doc.uri, line, character).files == ()
    # A recent edit in b.py whose lines the window shows already is dropped as well...
    change = lsp_types.TextDocumentContentChangePartial(
        range=lsp_types.Range(lsp_types.Position(1, 15), lsp_types.Position(1, 16)), text="1")
    store.change(other.uri, 2, [change])
    assert store.recent_edits() and builder.build(doc.uri, line, character).files == ()
    # ...but one that shows something new is not.
    insert(store, other, 2, 0, "LIMIT = 3\n")
    assert builder.build(doc.uri, line, character).files == (("b.py", helper + "\nLIMIT = 3\n"),)


def test_recent_edits_of_other_files_come_last_newest_last(python_workspace, tmp_path):
    store, doc, line, character = python_workspace
    notes = open_file(store, tmp_path, "notes.py", "python", "".join(f"n_{i} = {i}\n" for i in range(50)))
    config = open_file(store, tmp_path, "config.py", "python", "".join(f"c_{i} = {i}\n" for i in range(50)))
    insert(store, notes, 20, 0, "RECENT_NOTE = 'first'\n")
    insert(store, config, 40, 0, "RECENT_CONFIG = 'second'\n")
    insert(store, doc, 0, 0, "# typing here is not a cross-file edit\n")
    ctx = ContextBuilder(store).build(doc.uri, line + 1, character)
    tail = ctx.files[-2:]
    assert tail[0][0] == "notes.py" and "RECENT_NOTE = 'first'" in tail[0][1]
    assert tail[1][0] == "config.py" and "RECENT_CONFIG = 'second'" in tail[1][1]
    assert "c_38 = 38" in tail[1][1] and "c_41 = 41" in tail[1][1]  # a few lines around the edit
    assert not any("typing here" in c for _, c in ctx.files)
    definitions = ctx.files[:-2]
    assert [p for p, _ in definitions] == ["pkg/models.py", "pkg/util.py"]
    # At most max_recent_edits of them.
    assert len(ContextBuilder(store, max_recent_edits=1).build(doc.uri, line + 1, character).files) == 3


def test_files_are_byte_identical_after_typing_one_character(python_workspace, tmp_path):
    store, doc, line, character = python_workspace
    notes = open_file(store, tmp_path, "notes.py", "python", "a = 1\nb = 2\n")
    insert(store, notes, 1, 0, "edited = True\n")
    builder = ContextBuilder(store)
    first = builder.build(doc.uri, line, character)
    insert(store, doc, line, character, "2")
    second = builder.build(doc.uri, line, character + 1)
    assert first.files and second.files == first.files
    assert second.prefix == first.prefix + "2" and second.suffix == first.suffix
    assert second.key != first.key
    assert builder.build(doc.uri, line, character + 1).key == second.key


def test_open_document_is_preferred_over_its_file_on_disk(python_workspace, tmp_path):
    store, doc, line, character = python_workspace
    open_file(store, tmp_path, "pkg/models.py", "python",
              MODELS.replace('"""One order."""', '"""One order, edited in the editor."""'))
    files = files_dict(ContextBuilder(store).build(doc.uri, line, character))
    assert "edited in the editor" in files["pkg/models.py"]


def test_changed_file_on_disk_is_read_again(python_workspace, tmp_path):
    store, doc, line, character = python_workspace
    builder = ContextBuilder(store)
    assert "class Order:" in files_dict(builder.build(doc.uri, line, character))["pkg/models.py"]
    path = tmp_path / "pkg" / "models.py"
    path.write_text(MODELS.replace("class Order:", "class Order(Base):  # changed"))
    import os

    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    assert "class Order(Base):  # changed" in files_dict(builder.build(doc.uri, line, character))["pkg/models.py"]


# --- raw prompt layout -----------------------------------------------------------


def test_render_prompt_for_qwen_is_what_the_server_template_builds(python_workspace):
    store, doc, line, character = python_workspace
    ctx = ContextBuilder(store).build(doc.uri, line, character)
    assert ctx.files
    expected = get_fim_template("qwen").build(
        ctx.prefix, ctx.suffix, repo_name=ctx.repo_name, path=ctx.path,
        files=[ContextFile(path=p, content=c) for p, c in ctx.files],
    ).text
    prompt = render_prompt(ctx, "qwen")
    assert prompt == expected
    assert prompt.startswith(f"<|repo_name|>{ctx.repo_name}\n<|file_sep|>pkg/models.py\n")
    assert prompt.endswith(f"<|file_sep|>pkg/main.py\n<|fim_prefix|>{ctx.prefix}<|fim_suffix|>{ctx.suffix}<|fim_middle|>")


def test_render_prompt_without_a_repo_format_uses_path_headed_comments(python_workspace):
    store, doc, line, character = python_workspace
    ctx = ContextBuilder(store).build(doc.uri, line, character)
    prompt = render_prompt(ctx, "deepseek")
    assert prompt.startswith("<｜fim▁begin｜># Path: pkg/models.py\n# class Order:\n")
    assert f"# Path: pkg/main.py\n{ctx.prefix}<｜fim▁hole｜>{ctx.suffix}<｜fim▁end｜>" in prompt
    store2 = DocumentStore()
    js = store2.open("file:///w/a.js", "javascript", 1, "let a = 1;\n")
    ctx2 = ContextBuilder(store2).build(js.uri, 1, 0)
    assert render_prompt(ctx2, "codellama").startswith("▁<PRE> // Path: a.js\nlet a = 1;\n")


def test_build_of_a_closed_document_raises():
    with pytest.raises(KeyError):
        ContextBuilder(DocumentStore()).build("file:///nope.py", 0, 0)
