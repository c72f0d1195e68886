#!/usr/bin/env python
"""How long `codefill lsp` takes to build a completion's context (target: p95 < 20 ms).

The code is `codefill.jobs.bench.context_bench`; see its docstring and benchmarks/README.md.
"""

from codefill.jobs.bench.context_bench import main

if __name__ == "__main__":
    raise SystemExit(main())
