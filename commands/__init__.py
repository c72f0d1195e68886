"""The `codefill` command: one thin module per subcommand; `cli.main` is the entry point."""
