#!/usr/bin/env python
"""Soak with abandonment: many streaming clients for minutes, half of them hanging up mid-stream.

The code is `codefill.jobs.bench.soak` (clients: `codefill.jobs.bench.soak_load`; the server's gauges and memory:
`codefill.jobs.bench.soak_server`); see its docstring and benchmarks/README.md.
"""

from codefill.jobs.bench.soak import main

if __name__ == "__main__":
    raise SystemExit(main())
