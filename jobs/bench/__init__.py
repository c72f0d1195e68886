"""`codefill bench`: completion-shaped load against one OpenAI-compatible server, or two
compared in one interleaved run.

- `workload`: FIM requests cut from real Python source (the standard library), sized in tokens.
- `runner`: closed-loop load at each concurrency level, servers interleaved round by round, and
  `run_bench`, the whole run of `codefill bench`.
- `stats`: percentiles, throughput and the ratios of two servers.
- `report`: the JSON/Markdown report (and its files) and the table printed at the end.
- `plot`: latency against concurrency, one line per server (PNG).
- `scrape`: counters read from a server's /metrics (the replay's engine figures, the bench's
  draft acceptance in `drafts`); `chat_load`: background chat for `--chat-load`.

The measurements run by the scripts in `benchmarks/` (each `benchmarks/NAME.py` calls `main` of
the module of the same name):

- `humaneval_infill_parity`: HumanEval single-line infilling, codefill against raw vLLM, interleaved.
- `overhead`: codefill's latency over raw vLLM, same prompts.
- `crossfile_quality` (with `crossfile_cases`, `crossfile_scoring`): exact match with and without
  `codefill lsp`'s cross-file context.
- `soak` (with `soak_load`, `soak_server`): many streaming clients for minutes, half of them hanging up.
- `context_bench`: how long `codefill lsp` takes to build a context.
- `probe_hardening`: hostile requests against a running server.
- `fence_probabilities`: why an instruct adapter stops after a docstring (needs torch and peft).
"""
