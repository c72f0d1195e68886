"""`codefill bench replay`: real edits typed key by key through an editor's ways of
asking for completions, measured the way an editor user feels them.

- `histories`: edit sessions cut from consecutive released versions of real packages
  (pinned in `histories.json`), or from any two sets of files.
- `typist`: when each key is pressed (a seeded human rhythm, or a constant one).
- `positions`: string offsets and LSP positions (UTF-16 columns).
- `judge`: is an arrived suggestion still right to show, and did the user type it next?
- `lsp_client`: a minimal JSON-RPC client of a language server over stdio.
- `askers`: the three ways of asking: `codefill lsp`, a plain prefix/suffix client of
  /v1/completions, and raw vLLM with a prompt built by the client.
- `session`: one edit session typed through one asker.
- `runner`: the whole run: sessions and clients chosen, warm-up, every session by every client in turn.
- `report`: figures, JSON, Markdown and the PNG plot.
"""
