#!/usr/bin/env python
"""Latency overhead of codefill over raw vLLM: same model, same prompts, same machine.

The code is `codefill.jobs.bench.overhead`; see its docstring and benchmarks/README.md.
"""

from codefill.jobs.bench.overhead import main

if __name__ == "__main__":
    raise SystemExit(main())
