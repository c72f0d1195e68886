"""`codefill bench`: completion-shaped load against one OpenAI-compatible server, or two
compared in one interleaved run.

- `workload`: FIM requests cut from real Python source (the standard library), sized in tokens.
- `runner`: closed-loop load at each concurrency level, servers interleaved round by round.
- `stats`: percentiles, throughput and the ratios of two servers.
- `report`: the JSON/Markdown report and the table printed at the end.
- `plot`: latency against concurrency, one line per server (PNG).
"""
