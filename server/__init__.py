"""The HTTP server: OpenAI-compatible FIM and chat on one engine (README "Layout": its modules in order)."""
