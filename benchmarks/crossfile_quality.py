#!/usr/bin/env python
"""Cross-file completion quality: exact match with vs without `codefill lsp`'s cross-file context.

The code is `server.bench.crossfile_quality` (cases: `server.bench.crossfile_cases`; context and scores:
`server.bench.crossfile_scoring`); see its docstring and benchmarks/README.md.
"""

from server.bench.crossfile_quality import main

if __name__ == "__main__":
    raise SystemExit(main())
