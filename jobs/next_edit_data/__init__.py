"""Next-edit cases from a repository's git history, shared by `codefill train --next-edit` and
`codefill eval next-edit`: changed files (git_history), cases cut from one change (cases), and the
split by commit (collect)."""
