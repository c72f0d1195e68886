"""`textDocument/completion`: one item carrying the model's text, for clients without
inline completion (Helix, older Neovim and VS Code clients).

The item's edit starts where the word under the cursor starts, so clients that filter
items by the typed word keep it; the list is marked incomplete so the client asks
again as the user types (the cache answers those without a model request).
"""

from __future__ import annotations

import re

from lsprotocol import types

from lsp.features.telemetry_commands import accepted_command
from lsp.server import CodefillLanguageServer

NOTHING = types.CompletionList(is_incomplete=True, items=[])
_WORD_TAIL = re.compile(r"\w*\Z")


def _label(text: str) -> str:
    first = next((line for line in text.splitlines() if line.strip()), text).strip()
    more = " …" if "\n" in text.strip() else ""
    return (first[:80] + ("…" if len(first) > 80 else "")) + more


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def register(server: CodefillLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(resolve_provider=False))
    async def completion(ls: CodefillLanguageServer, params: types.CompletionParams) -> types.CompletionList:
        # Clients ask for completion items on purpose (a key, or as-you-type menus that
        # request anyway): only a re-request for an incomplete list counts as automatic.
        trigger = params.context.trigger_kind if params.context else types.CompletionTriggerKind.Invoked
        invoked = trigger != types.CompletionTriggerKind.TriggerForIncompleteCompletions
        position = params.position
        result = await ls.pipeline.complete(params.text_document.uri, position.line, position.character,
                                            invoked=invoked)
        if result is None:
            return NOTHING
        word = _WORD_TAIL.search(result.line_prefix).group(0)
        start = types.Position(line=position.line, character=position.character - _utf16_len(word))
        text = word + result.text
        return types.CompletionList(is_incomplete=True, items=[types.CompletionItem(
            label=_label(text),
            kind=types.CompletionItemKind.Text,
            detail="codefill",
            documentation=result.text,
            filter_text=text,
            sort_text="0",
            preselect=True,
            insert_text_format=types.InsertTextFormat.PlainText,
            text_edit=types.TextEdit(range=types.Range(start=start, end=position), new_text=text),
            command=accepted_command(result.id),
        )])
