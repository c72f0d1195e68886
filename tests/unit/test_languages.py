"""One extension table (model/languages.py) for the language server and the training data.

The two used to keep a copy each, and `.pyx`, `.kts` and `.groovy` had drifted
apart: a Kotlin script was labelled Kotlin for training but was plain text
(with `#` comments) in the editor.
"""

from __future__ import annotations

import pytest

from codefill.lsp.languages import comment_markers, language_for
from codefill.model.grammars import grammar
from codefill.model.languages import language_of_extension
from codefill.jobs.training.languages import detect_language


@pytest.mark.parametrize(("path", "language", "comment"), [
    ("src/fast.pyx", "cython", ("# ", "")),
    ("build.gradle.kts", "kotlin", ("// ", "")),
    ("ci/Jenkins.groovy", "groovy", ("// ", "")),
])
def test_drifted_extensions_resolve_the_same_for_both(path, language, comment):
    assert language_of_extension(path) == language
    assert detect_language(path) == language
    # The editor parses the file with the same grammar, where the pack has one.
    assert language_for(None, path) == (language if grammar(language) is not None else None)
    assert comment_markers(language_for(None, path), path) == comment


def test_the_editor_leaves_formats_without_context_support_as_plain_text():
    # The shared table names them, but the LSP parses only the languages it has ids for.
    assert detect_language("conf/app.yaml") == "yaml"
    assert language_for(None, "conf/app.yaml") is None
    assert comment_markers(None, "conf/app.yaml") == ("# ", "")
    assert comment_markers(None, "page.html") == ("<!-- ", " -->")


def test_the_language_id_still_wins_over_the_extension():
    assert language_for("typescriptreact", "a.js") == "tsx"
    assert language_for("groovy", "Jenkinsfile") == "groovy"


# The extension table model/postprocess/syntax.py kept before it used the shared one.
_SYNTAX_RULE_EXTENSIONS = {
    ".py": "python", ".pyi": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx",
    ".go": "go", ".rs": "rust", ".java": "java",
    ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp",
    ".hxx": "cpp", ".cu": "cpp",
    ".cs": "csharp", ".rb": "ruby", ".php": "php", ".kt": "kotlin", ".swift": "swift", ".scala": "scala",
    ".lua": "lua", ".sh": "bash", ".bash": "bash",
}


@pytest.mark.parametrize(("ext", "language"), sorted(_SYNTAX_RULE_EXTENSIONS.items()))
def test_the_syntax_rule_reads_the_extensions_it_knew_as_before(ext, language):
    from codefill.model.postprocess import grammar_name

    assert grammar_name(None, f"src/file{ext}") == language
    assert grammar_name(None, f"SRC/FILE{ext.upper()}") == language


def test_the_syntax_rule_stays_off_for_extensions_of_languages_it_does_not_parse():
    from codefill.model.postprocess import grammar_name

    for path in ("conf/app.yaml", "README.md", "view.m", "page.html", "data.json", "Main.hs"):
        assert grammar_name(None, path) is None, path
    # Languages it parses, by extensions only the shared table had.
    assert [grammar_name(None, p) for p in ("build.gradle.kts", "kernel.cuh", "rc.zsh")] == ["kotlin", "cpp", "bash"]
