"""The HTTP server: OpenAI-compatible FIM and chat on one engine (README "Layout" lists its modules in request order)."""
