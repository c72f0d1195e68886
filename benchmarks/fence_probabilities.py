#!/usr/bin/env python
"""Why an instruct adapter answers a HumanEval problem with its signature and docstring and no body.

The code is `codefill.jobs.bench.fence_probabilities`; see its docstring and benchmarks/README.md.
"""

from codefill.jobs.bench.fence_probabilities import main

if __name__ == "__main__":
    raise SystemExit(main())
