#!/usr/bin/env python
"""Probes of issue 18 (Hardening II), run from outside against a running `codefill serve`.

The code is `codefill.jobs.bench.probe_hardening`; see its docstring and benchmarks/README.md.
"""

from codefill.jobs.bench.probe_hardening import main

if __name__ == "__main__":
    raise SystemExit(main())
