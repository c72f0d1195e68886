#!/usr/bin/env python
"""Next-edit latency of two servers side by side (speculation settings), interleaved case by case.

The code is `codefill.jobs.bench.next_edit_speed`; see its docstring and benchmarks/README.md.
"""

from codefill.jobs.bench.next_edit_speed import main

if __name__ == "__main__":
    raise SystemExit(main())
