"""`textDocument/inlineCompletion` (LSP 3.18): the model's text as ghost text.

The item replaces the cursor's line up to the cursor with that same text plus the
completion (what Copilot's server does): a range that starts at the line start lets
clients keep showing the item while the user types into it or deletes back.

With `next_edit` on, the item may instead be the next edit near the cursor (a rename of the
next use of a renamed name: codefill.lsp.next_edit_delivery), whose range is that edit's own;
it carries `codefill.accepted` too (telemetry's `kind: "next_edit"`).
"""

from __future__ import annotations

from lsprotocol import types

from codefill.lsp.features.telemetry_commands import accepted_command
from codefill.lsp.next_edit_delivery import InlineEdit
from codefill.lsp.server import CodefillLanguageServer

NOTHING = types.InlineCompletionList(items=[])


def _range(lsp_range: dict) -> types.Range:
    start, end = lsp_range["start"], lsp_range["end"]
    return types.Range(start=types.Position(line=start["line"], character=start["character"]),
                       end=types.Position(line=end["line"], character=end["character"]))


def register(server: CodefillLanguageServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(ls: CodefillLanguageServer,
                                params: types.InlineCompletionParams) -> types.InlineCompletionList:
        context = params.context
        invoked = context is not None and context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
        position = params.position
        completion = await ls.pipeline.complete(params.text_document.uri, position.line, position.character,
                                                invoked=invoked, next_edit=True)
        if completion is None:
            return NOTHING
        if isinstance(completion, InlineEdit):
            return types.InlineCompletionList(items=[types.InlineCompletionItem(
                insert_text=completion.text, range=_range(completion.range),
                command=accepted_command(completion.id))])
        # The range is the completion's own: the user may have typed since the request.
        line_start = types.Position(line=completion.line, character=0)
        at = types.Position(line=completion.line, character=completion.character)
        return types.InlineCompletionList(items=[types.InlineCompletionItem(
            insert_text=completion.line_prefix + completion.text,
            range=types.Range(start=line_start, end=at),
            command=accepted_command(completion.id),
        )])
