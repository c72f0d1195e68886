"""`codefill lsp`: a language server that turns keystrokes into FIM requests.

It is an HTTP client of any OpenAI-compatible `/v1/completions` endpoint (codefill serve
first), so it never imports the server or the engines: the editor's machine needs no GPU.
"""
