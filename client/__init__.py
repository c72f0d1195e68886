"""What every client of the API shares: the language server, `codefill eval`, `codefill bench` and
`codefill data instruct` all speak to a completion server through these modules."""
