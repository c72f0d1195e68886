"""`train-report.json` and `train-report.md`: what was trained, on what, how long, and what it changed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from codefill.jobs.training.checkpoints import TrainerState
from codefill.jobs.training.eval_results import EvalResult, comparison_markdown

REPORT_JSON = "train-report.json"
REPORT_MD = "train-report.md"


def build_report(
    *,
    config: dict[str, Any],
    run: dict[str, Any],
    data: dict[str, Any],
    state: TrainerState,
    eval_before: EvalResult | None,
    eval_after: EvalResult | None,
    outputs: dict[str, str],
) -> dict[str, Any]:
    losses = [entry["loss"] for entry in state.losses]
    tail = losses[-max(1, len(losses) // 10):] if losses else []
    return {
        "config": config,
        "run": run,
        "data": data,
        "training": {
            "steps": state.step,
            "total_steps": state.total_steps,
            "finished": state.step >= state.total_steps,
            "epochs_started": state.epoch + (1 if state.batches_done else 0),
            "labelled_tokens": state.tokens,
            "seconds": round(state.seconds, 1),
            "first_loss": losses[0] if losses else None,
            "last_loss": losses[-1] if losses else None,
            "last_10pct_mean_loss": sum(tail) / len(tail) if tail else None,
            "resumed_from_steps": state.resumed_from,
            "losses": state.losses,
        },
        "evaluation": {
            "before": eval_before.summary() if eval_before else None,
            "after": eval_after.summary() if eval_after else None,
        },
        "outputs": outputs,
    }


def write_report(out_dir: str | os.PathLike[str], report: dict[str, Any], eval_before: EvalResult | None,
                 eval_after: EvalResult | None) -> tuple[Path, Path]:
    out = Path(out_dir)
    json_path, md_path = out / REPORT_JSON, out / REPORT_MD
    _atomic_write(json_path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    _atomic_write(md_path, report_markdown(report, eval_before, eval_after))
    return json_path, md_path


def report_markdown(report: dict[str, Any], eval_before: EvalResult | None, eval_after: EvalResult | None) -> str:
    c, r, t = report["config"], report["run"], report["training"]
    mode = "full fine-tune" if c["full"] else (f"LoRA rank {c['lora_rank']}, alpha {c['lora_alpha']:g}, "
                                               f"dropout {c['lora_dropout']:g} on {', '.join(c['lora_targets'])}")
    lines = [
        f"# codefill train: {Path(c['repo']).name}",
        "",
        f"- command: `{r.get('command', '')}`",
        f"- base model: {r['model_path']} ({r['trainable_parameters']:,} of {r['total_parameters']:,} parameters "
        f"trained: {mode})",
        f"- hardware: {r['device']} x {r['processes']} process(es), {r['precision']} ({r['precision_reason']})",
        f"- schedule: {t['steps']} of {t['total_steps']} steps, batch {c['batch_size']} x {c['grad_accum']} "
        f"accumulation x {r['processes']} process(es), learning rate {r['learning_rate']:g} (warmup "
        f"{r['warmup_steps']} steps, cosine decay), sequence length {c['seq_len']}",
        f"- trained on {t['labelled_tokens']:,} labelled ({_labelled(c)}) tokens "
        f"in {t['seconds']:.0f} s",
    ]
    if t["first_loss"] is not None:
        lines.append(f"- training loss: {t['first_loss']:.3f} at the first step, {t['last_10pct_mean_loss']:.3f} "
                     "over the last tenth of the steps")
    if t["resumed_from_steps"]:
        lines.append(f"- resumed at step(s) {', '.join(map(str, t['resumed_from_steps']))}")
    counts = report["data"].get("counts", {})
    examples = counts.get("examples", {})
    if report["data"].get("template") == "next_edit":
        seen = report["data"].get("collected", {}).get("counts", {})
        dropped = ", ".join(f"{n} {why}" for why, n in counts.items() if why not in ("train", "eval",
                                                                                     "train_target_tokens"))
        lines.append(f"- data: {seen.get('commits', 0)} commits ({seen.get('files', 0)} changed code files) -> "
                     f"{counts.get('train', 0)} training ({counts.get('train_target_tokens', 0):,} window tokens), "
                     f"{counts.get('eval', 0)} held-out cases from held-out commits; dropped: {dropped or 'none'}")
    elif report["data"].get("template") == "chat":
        dropped = ", ".join(f"{n} {why}" for why, n in counts.get("dropped", {}).items()) or "none"
        lines.append(f"- data: {counts.get('dialogues', 0)} dialogues, {counts.get('train', 0)} training "
                     f"({counts.get('train_target_tokens', 0):,} assistant tokens), {counts.get('eval', 0)} held "
                     f"out; dropped: {dropped}")
    elif examples:
        tr, ev = examples.get("train", {}), examples.get("eval", {})
        lines.append(f"- data: {tr.get('total', 0)} training examples ({tr.get('target_tokens', 0):,} labelled "
                     f"tokens), {ev.get('total', 0)} held-out examples")
    lines += ["", "## Outputs", ""]
    lines += [f"- {name}: `{path}`" for name, path in report["outputs"].items()]
    table = comparison_markdown(eval_before, eval_after, "Held-out evaluation")
    if table:
        lines += ["", "#" + table]
    return "\n".join(lines) + "\n"


def _labelled(config: dict[str, Any]) -> str:
    if config.get("next_edit"):
        return "rewritten-window"
    return "assistant" if config.get("instruct") else "middle"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
