"""The language server's features, one per module; each has `register(server)`."""
