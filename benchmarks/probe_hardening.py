#!/usr/bin/env python
"""Probes of issue 18 (Hardening II), run from outside against a running `codefill serve`.

The code is `server.bench.probe_hardening`; see its docstring and benchmarks/README.md.
"""

from server.bench.probe_hardening import main

if __name__ == "__main__":
    raise SystemExit(main())
