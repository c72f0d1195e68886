#!/usr/bin/env python
"""Cross-file completion quality: exact match with vs without `codefill lsp`'s cross-file context.

The code is `codefill.jobs.bench.crossfile_quality` (cases: `codefill.jobs.bench.crossfile_cases`; context and scores:
`codefill.jobs.bench.crossfile_scoring`); see its docstring and benchmarks/README.md.
"""

from codefill.jobs.bench.crossfile_quality import main

if __name__ == "__main__":
    raise SystemExit(main())
