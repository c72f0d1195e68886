#!/usr/bin/env python
"""Quality parity: HumanEval single-line infilling, codefill vs raw vLLM, same model.

The code is `codefill.jobs.bench.humaneval_infill_parity`; see its docstring and benchmarks/README.md.
"""

from codefill.jobs.bench.humaneval_infill_parity import main

if __name__ == "__main__":
    raise SystemExit(main())
