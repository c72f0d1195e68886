#!/usr/bin/env python
"""Post-processing ablation on HumanEval infilling, offline, from a raw (postprocess off) run.

The code is `codefill.jobs.bench.infill_ablation`; see its docstring and benchmarks/README.md.
"""

from codefill.jobs.bench.infill_ablation import main

if __name__ == "__main__":
    raise SystemExit(main())
