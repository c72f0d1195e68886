"""Post-processing ablation on HumanEval infilling, offline: which rule earns its place.

Reads a `codefill eval humaneval-infill` report whose texts are the model's raw
output (asked with `--extra-body '{"codefill": {"postprocess": false}}'`, so each
result's `raw_text` is everything the model wrote up to `--max-tokens`) and, with
no server, runs codefill's own post-processing (`codefill.model.postprocess`, the
code the server runs) on each text under several rule sets, runs every program
with the problem's tests in the sandbox, and reports pass@1 and exact match per
variant, with the cases each rule wins and loses against the default:

* `default`: every rule, with `--language` (as `codefill lsp` sends it);
* `no-<rule>`: the default without that rule, one per rule;
* `no-language`: every rule, no language (the rules that need one are off);
* `postprocess-off`: the raw text as it came;
* `best-line oracle`: the raw text cut at its first 1, 2, ... lines, the first cut
  that passes (`codefill.jobs.evaluation.infill.line_cuts`, as `--oracle`).

The server stops the model early where the rules allow; a text post-processed
here comes from the whole raw text, which gives the same result because the
rules only ever remove text and never change a line once complete (the streaming
invariant that `tests/unit/test_postprocess.py` checks).

    codefill eval humaneval-infill --url URL --mode multi-line --limit 500 --max-tokens 128 \\
        --extra-body '{"codefill": {"postprocess": false}}' --out raw.json
    python benchmarks/infill_ablation.py raw.json --out ablation.json
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import shlex
import sys
from pathlib import Path
from typing import Any

DEFAULT = "default"
ORACLE = "best-line oracle"
OFF = "postprocess-off"
NO_LANGUAGE = "no-language"


def open_report(path: Path) -> dict[str, Any]:
    """A JSON report, gzipped (.gz) or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def load_report(path: Path) -> dict[str, Any]:
    report = open_report(path)
    codefill = report.get("server", {}).get("request", {}).get("extra_body", {}).get("codefill", {})
    if codefill.get("postprocess") is not False:
        raise ValueError(f"{path}: not a raw run; make it with --extra-body "
                         "'{\"codefill\": {\"postprocess\": false}}' so its texts are the model's own")
    return report


def variants(language: str | None) -> dict[str, dict[str, Any]]:
    """name -> how its text is made from the raw text."""
    from codefill.model.postprocess import RULES

    out: dict[str, dict[str, Any]] = {DEFAULT: {"language": language, "off": []}}
    for rule in RULES:
        out[f"no-{rule}"] = {"language": language, "off": [rule]}
    out[NO_LANGUAGE] = {"language": None, "off": []}
    out[OFF] = {"postprocess": False}
    out[ORACLE] = {"oracle": "first passing line cut of the raw text"}
    return out


async def run(report: dict[str, Any], language: str | None, *, exec_timeout_s: float, exec_workers: int,
              quiet: bool = False) -> dict[str, Any]:
    from tqdm import tqdm

    from codefill.jobs.evaluation.execution import run_program_async
    from codefill.jobs.evaluation.infill import exact_match, line_cuts
    from codefill.jobs.evaluation.infill_cases import build_cases
    from codefill.jobs.sandbox import get_sandbox
    from codefill.model.postprocess import PostprocessOptions, postprocess

    sandbox = get_sandbox()
    mode = report["mode"]
    multiline = mode == "multi-line"
    cases = {c.case_id: c for c in build_cases(mode=mode)}
    chosen = variants(language)
    sem = asyncio.Semaphore(max(1, exec_workers))
    ran: dict[tuple[str, str], asyncio.Future[bool]] = {}  # the same program runs once

    async def passes(case_id: str, text: str) -> bool:
        key = (case_id, text)
        if key not in ran:
            async def go() -> bool:
                async with sem:
                    result = await run_program_async(cases[case_id].program(text), timeout_s=exec_timeout_s,
                                                     sandbox=sandbox)
                return result.passed
            ran[key] = asyncio.ensure_future(go())
        return await ran[key]

    def text_for(spec: dict[str, Any], case_id: str, raw: str) -> str:
        if spec.get("postprocess") is False:
            return raw
        case = cases[case_id]
        options = PostprocessOptions(multiline=multiline, language=spec["language"],
                                     disabled_rules=frozenset(spec["off"]))
        return postprocess(raw, case.prefix, case.suffix, options)

    results = [r for r in report["results"] if r.get("error") is None]
    bar = tqdm(total=len(results), desc="ablation", unit="case", file=sys.stderr, disable=quiet,
               dynamic_ncols=True)

    async def one(r: dict[str, Any]) -> dict[str, Any]:
        case_id, raw = r["case_id"], r.get("raw_text") or ""
        row: dict[str, Any] = {"case_id": case_id}
        for name, spec in chosen.items():
            if name == ORACLE:
                text = ""
                ok = False
                for cut in line_cuts(raw):
                    if await passes(case_id, cut):
                        text, ok = cut, True
                        break
            else:
                text = text_for(spec, case_id, raw)
                ok = await passes(case_id, text)
            row[name] = {"text": text, "passed": ok, "exact_match": exact_match(text, cases[case_id].middle)}
        bar.update(1)
        return row

    try:
        rows = await asyncio.gather(*(one(r) for r in results))
    finally:
        bar.close()
    n = len(rows)
    summary = {}
    for name in chosen:
        passed = sum(row[name]["passed"] for row in rows)
        wins = [row["case_id"] for row in rows if row[DEFAULT]["passed"] and not row[name]["passed"]]
        losses = [row["case_id"] for row in rows if row[name]["passed"] and not row[DEFAULT]["passed"]]
        summary[name] = {"passed": passed, "pass_at_1": round(passed / n, 4) if n else None,
                         "exact_match": round(sum(row[name]["exact_match"] for row in rows) / n, 4) if n else None,
                         "default_wins": wins, "default_losses": losses}
    return {"benchmark": f"humaneval-infill-{mode}-postprocess-ablation", "mode": mode, "cases": n,
            "skipped_errors": len(report["results"]) - n, "language": language,
            "raw_run": {"command": report.get("command"), "date": report.get("date"),
                        "settings": report.get("settings")},
            "variants": chosen, "summary": summary, "results": rows}


def markdown(out: dict[str, Any], command: str) -> str:
    lines = [f"# HumanEval {out['mode']} infilling: post-processing ablation (offline)", "",
             "```", command, "```", "",
             f"- raw run: `{out['raw_run']['command']}` ({out['raw_run']['date']})",
             f"- cases: {out['cases']}; language sent: `{out['language']}`", "",
             "| variant | pass@1 | passed | exact match | default passes, this fails | this passes, default fails |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, s in out["summary"].items():
        wins, losses = s["default_wins"], s["default_losses"]
        lines.append(f"| {name} | {s['pass_at_1']:.3f} | {s['passed']}/{out['cases']} | {s['exact_match']:.3f} "
                     f"| {len(wins) if name != DEFAULT else '-'} | {len(losses) if name != DEFAULT else '-'} |")
    lines.append("")
    for name, s in out["summary"].items():
        if name in (DEFAULT, ORACLE, OFF) or not s["default_losses"]:
            continue
        lines.append(f"- **{name} passes where the default fails**: {', '.join(s['default_losses'])}")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("raw_report", help="a `codefill eval humaneval-infill` JSON report (.json or .json.gz) "
                                      "made with postprocess off")
    p.add_argument("--language", default="python", help="the language the default sends (default python)")
    p.add_argument("--exec-timeout", type=float, default=5.0, help="seconds per test program (default 5)")
    p.add_argument("--exec-workers", type=int, default=2, help="test programs run at once (default 2)")
    p.add_argument("--out", required=True, help="JSON report; the Markdown goes beside it with .md")
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = "python benchmarks/infill_ablation.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    try:
        report = load_report(Path(args.raw_report))
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = asyncio.run(run(report, args.language, exec_timeout_s=args.exec_timeout,
                          exec_workers=args.exec_workers, quiet=args.quiet))
    out["command"] = command
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1), encoding="utf-8")
    md = markdown(out, command)
    path.with_suffix(".md").write_text(md, encoding="utf-8")
    print(md)
    return 0
