#!/usr/bin/env python
"""Next-edit whitespace-rule ablation, offline, from raw (--no-postprocess) `codefill eval next-edit` runs.

The code is `codefill.jobs.bench.next_edit_ablation`; see its docstring and benchmarks/README.md.
"""

from codefill.jobs.bench.next_edit_ablation import main

if __name__ == "__main__":
    raise SystemExit(main())
