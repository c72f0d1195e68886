"""`textDocument/completion`: one item carrying the model's text, for clients without
inline completion (Helix, older Neovim and VS Code clients).

The item inserts the whole text, whatever the client:

* `textEdit` replaces the cursor's line up to the cursor (in the document version the
  answer is for: the user may have typed since the request) with that same text plus
  the completion. A range that starts at the line start makes snippet-expanding clients
  (Helix, Neovim's `vim.lsp.completion`, VS Code) indent the completion's further lines
  by nothing, so the text lands exactly as the model wrote it; `insertTextMode: asIs`
  says so to the clients that read it.
* For clients that support snippets (Neovim, Helix, VS Code say so) the item is a
  snippet (with `\\`, `$` and `}` escaped, so it expands to the plain text), because
  Neovim derives the text its omnifunc (`<C-x><C-o>`) inserts from the
  item's format: for a plain-text item it is `textEdit.newText` up to its first
  whitespace (`(a.x` of `(a.x + b.x, a.y + b.y)`; nothing for text that starts with a
  newline or indentation), for a snippet it is the `label`.
* So the label is the whole text too (Neovim shows it in the menu; the documentation
  popup shows the completion alone). Vim inserts a completion word by deleting the line
  from the item's start (column 0) to the cursor and typing the word, opening every
  further line at the indentation of what is left of the line (the text right of the
  cursor, normally none): the text lands as written. Only when what is right of the
  cursor starts with whitespace would Vim indent the further lines by it; the label is
  then the first line alone (`<C-y>` with `vim.lsp.completion` enabled inserts all).
* Clients without snippet support get the same edit as plain text.

The list is marked incomplete so the client asks again as the user types (the cache
answers those without a model request).
"""

from __future__ import annotations

from lsprotocol import types

from codefill.lsp.features.telemetry_commands import accepted_command
from codefill.lsp.server import CodefillLanguageServer

NOTHING = types.CompletionList(is_incomplete=True, items=[])


def snippet_escape(text: str) -> str:
    """`text` as an LSP snippet that expands to exactly `text`."""
    return text.replace("\\", "\\\\").replace("$", "\\$").replace("}", "\\}")


def vim_word(text: str, line_suffix: str) -> str:
    """What Vim's own insertion of a completion word (replacing the line up to the cursor)
    turns into `text`, given the text right of the cursor: all of it, but for a
    multi-line text when `line_suffix` starts with whitespace, which Vim would add to the
    further lines' indentation: then its first line."""
    if "\n" in text and line_suffix[:1] in (" ", "\t"):
        return text.split("\n", 1)[0]
    return text


def _snippet_support(ls: CodefillLanguageServer) -> bool:
    document = ls.client_capabilities.text_document
    completion = document.completion if document else None
    item = completion.completion_item if completion else None
    return bool(item and item.snippet_support)


def register(server: CodefillLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(resolve_provider=False))
    async def completion(ls: CodefillLanguageServer, params: types.CompletionParams) -> types.CompletionList:
        # Clients ask for completion items on purpose (a key, or as-you-type menus that
        # request anyway): only a re-request for an incomplete list counts as automatic.
        trigger = params.context.trigger_kind if params.context else types.CompletionTriggerKind.Invoked
        invoked = trigger != types.CompletionTriggerKind.TriggerForIncompleteCompletions
        uri = params.text_document.uri
        position = params.position
        result = await ls.pipeline.complete(uri, position.line, position.character, invoked=invoked)
        if result is None:
            return NOTHING
        doc = ls.store.get(uri)
        if doc is None or doc.version != result.version:
            return NOTHING  # the range would be for another version of the document
        line_suffix = doc.line_text(result.line)[len(result.line_prefix):]
        text = result.line_prefix + result.text
        snippet = _snippet_support(ls)
        return types.CompletionList(is_incomplete=True, items=[types.CompletionItem(
            label=vim_word(text, line_suffix) if snippet else text,
            kind=types.CompletionItemKind.Text,
            detail="codefill",
            documentation=result.text,
            filter_text=text,
            sort_text="0",
            preselect=True,
            insert_text_format=types.InsertTextFormat.Snippet if snippet else types.InsertTextFormat.PlainText,
            insert_text_mode=types.InsertTextMode.AsIs,
            text_edit=types.TextEdit(
                range=types.Range(start=types.Position(line=result.line, character=0),
                                  end=types.Position(line=result.line, character=result.character)),
                new_text=snippet_escape(text) if snippet else text),
            command=accepted_command(result.id),
        )])
