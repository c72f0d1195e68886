"""One extension table (model/languages.py) for the language server and the training data.

The two used to keep a copy each, and `.pyx`, `.kts` and `.groovy` had drifted
apart: a Kotlin script was labelled Kotlin for training but was plain text
(with `#` comments) in the editor.
"""

from __future__ import annotations

import pytest

from lsp.languages import comment_markers, language_for
from model.grammars import grammar
from model.languages import language_of_extension
from model.training.languages import detect_language


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
