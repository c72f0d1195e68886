"""Training and evaluation examples cut from source files: token ids and labels.

A FIM example's input is exactly what the server sends to the engine for the
same prefix and suffix (the template of `codefill.model.templates` fitted to the
context by `codefill.model.context_window.fit_fim`, as `server/serving_completions.py` does), then
the middle's tokens and the template's end token. Labels are -100 on the
prompt, so the loss is on the middle and the end token only: the model learns
to write the hole and to stop. A plain example is left-to-right text without
FIM tokens, learned on every token.

A long file is windowed as the server windows it: whole lines are dropped
from the far ends of the prefix and suffix until prompt + middle + end token
fit `seq_len`. Every random choice comes from a generator seeded with the
seed and the file's path, so a file's examples depend on nothing else.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from codefill.model.context_window import PromptTooLong, fit_fim
from codefill.model.templates.fim import FimTemplate, encode_text, get_fim_template, special_token_id
from codefill.jobs.training.fim_cuts import (
    BLOCK,
    FIM_KINDS,
    INLINE,
    LINE_END,
    PLAIN,
    Cut,
    FileLines,
    block_cuts,
    inline_cut,
    line_end_cut,
    lines_cut,
)
from codefill.jobs.training.progress import progress
from codefill.jobs.training.repo_files import SourceFile

IGNORE_INDEX = -100  # the label that PyTorch's cross-entropy (and transformers) skip

# Why a cut did not become an example.
NO_CUT = "no_cut"  # the file has no place for this kind of hole
MIDDLE_TOO_LONG = "middle_too_long"
PROMPT_TOO_LONG = "prompt_too_long"  # even the two cursor lines do not fit seq_len


@dataclass
class Example:
    kind: str  # INLINE, LINE_END, BLOCK, LINES or PLAIN
    path: str
    input_ids: list[int]
    labels: list[int]
    language: str | None = None
    middle: str | None = None  # FIM: the text the model should write
    # Evaluation examples keep the prompt's prefix and suffix as sent (after
    # windowing), so a running server can be asked the same question.
    prefix: str | None = None
    suffix: str | None = None
    repo_context: bool = False  # the prompt names the repository and path (the LSP's request shape)

    @property
    def prompt_length(self) -> int:
        """How many leading tokens are context, not target (0 for plain text)."""
        for i, label in enumerate(self.labels):
            if label != IGNORE_INDEX:
                return i
        return len(self.labels)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Example:
        return cls(**row)


@dataclass(frozen=True)
class ExampleOptions:
    seq_len: int = 2048
    fim_rate: float = 0.9  # the rest are plain left-to-right examples
    # Relative weights of the three FIM cuts.
    kind_weights: tuple[tuple[str, float], ...] = ((INLINE, 1.0), (LINE_END, 1.0), (BLOCK, 1.0))
    chars_per_example: int = 1500  # one example per this many characters of a file
    max_examples_per_file: int = 64
    max_middle_tokens: int = 256  # a completion longer than this is not what editors ask for
    # Share of FIM examples whose prompt carries the repository name and the
    # file's path, as the LSP sends them; the rest are bare prefix/suffix
    # prompts, as curl and the openai client send them.
    repo_context_rate: float = 0.5
    repo_name: str | None = None
    seed: int = 0
    attempts: int = 8  # tries to find a cut that fits before giving up on an example


@dataclass
class ExampleStats:
    built: Counter[str] = field(default_factory=Counter)  # kind -> examples
    failed: Counter[str] = field(default_factory=Counter)  # reason -> examples not built
    tokens: int = 0
    target_tokens: int = 0  # tokens that carry a label

    def add(self, other: ExampleStats) -> None:
        self.built.update(other.built)
        self.failed.update(other.failed)
        self.tokens += other.tokens
        self.target_tokens += other.target_tokens

    def to_dict(self) -> dict[str, Any]:
        return {"by_kind": dict(sorted(self.built.items())), "failed": dict(sorted(self.failed.items())),
                "tokens": self.tokens, "target_tokens": self.target_tokens}


def fim_end_token_id(tokenizer: Any, template: FimTemplate) -> int:
    """The token that closes a middle: the family's first stop token the vocabulary has (Qwen: <|endoftext|>)."""
    for text in template.stop_tokens:
        tid = special_token_id(tokenizer, text)
        if tid is not None:
            return tid
    if tokenizer.eos_token_id is None:
        raise ValueError(f"the tokenizer has none of {template.name}'s end tokens and no EOS token")
    return int(tokenizer.eos_token_id)


class ExampleBuilder:
    def __init__(self, tokenizer: Any, template: FimTemplate | str, options: ExampleOptions = ExampleOptions()) -> None:
        self.tokenizer = tokenizer
        self.template = get_fim_template(template) if isinstance(template, str) else template
        self.options = options
        self.end_token_id = fim_end_token_id(tokenizer, self.template)
        weights = dict(options.kind_weights)
        unknown = set(weights) - set(FIM_KINDS)
        if unknown or not any(w > 0 for w in weights.values()):
            raise ValueError(f"kind_weights must weigh some of {FIM_KINDS}, got {options.kind_weights}")
        self._kinds = [k for k in FIM_KINDS if weights.get(k, 0) > 0]
        self._weights = [weights[k] for k in self._kinds]

    # --- one example ------------------------------------------------------

    def fim_example(
        self,
        text: str,
        start: int,
        end: int,
        *,
        kind: str,
        path: str,
        language: str | None = None,
        repo_context: bool = False,
        keep_text: bool = False,
    ) -> Example | str:
        """The example with middle text[start:end], or why there is none."""
        prefix, middle, suffix = text[:start], text[start:end], text[end:]
        middle_ids = encode_text(self.tokenizer, middle)
        target = middle_ids + [self.end_token_id]
        if len(target) > min(self.options.max_middle_tokens, self.options.seq_len // 2):
            return MIDDLE_TOO_LONG
        # The server's own path: fit_fim with room for the answer (here: the
        # middle and its end token) is what POST /v1/completions sends.
        with_repo = repo_context and self.template.supports_repo_level()
        try:
            fit = fit_fim(
                self.tokenizer, self.template, prefix, suffix,
                max_tokens=len(target), max_model_len=self.options.seq_len,
                repo_name=self.options.repo_name if with_repo else None,
                path=path if with_repo else None,
            )
        except PromptTooLong:
            return PROMPT_TOO_LONG
        return Example(
            kind=kind,
            path=path,
            input_ids=fit.token_ids + target,
            labels=[IGNORE_INDEX] * len(fit.token_ids) + target,
            language=language,
            middle=middle,
            prefix=fit.prefix if keep_text else None,
            suffix=fit.suffix if keep_text else None,
            repo_context=with_repo,
        )

    def plain_example(self, text: str, start: int, *, path: str, language: str | None = None) -> Example:
        """Up to seq_len tokens of text from offset `start`, all of them learned."""
        seq_len = self.options.seq_len
        bos = [int(self.tokenizer.bos_token_id)] if self.template.add_bos and self.tokenizer.bos_token_id is not None else []
        # Ten characters per token is more than code ever needs, so the
        # window holds seq_len tokens without tokenizing the whole file.
        ids = encode_text(self.tokenizer, text[start:start + 10 * seq_len])[: seq_len - len(bos)]
        return Example(kind=PLAIN, path=path, input_ids=bos + ids,
                       labels=[IGNORE_INDEX] * len(bos) + ids, language=language)

    # --- a file's examples ------------------------------------------------

    def examples_per_file(self, text: str) -> int:
        o = self.options
        return max(1, min(o.max_examples_per_file, round(len(text) / o.chars_per_example)))

    def train_examples(self, file: SourceFile) -> tuple[list[Example], ExampleStats]:
        """FIM examples (at fim_rate) and plain ones for a training file."""
        rng = random.Random(f"{self.options.seed}:train:{file.path}")
        lines = FileLines(file.text, file.language)
        examples: list[Example] = []
        stats = ExampleStats()
        for _ in range(self.examples_per_file(file.text)):
            if rng.random() < self.options.fim_rate:
                kind = rng.choices(self._kinds, self._weights)[0]
                result = self.example_of_kind(file, kind, rng, lines=lines)
            else:
                result = self._plain(lines, rng, file)
            _record(result, examples, stats)
        return examples, stats

    def eval_examples(self, file: SourceFile) -> tuple[list[Example], ExampleStats]:
        """FIM examples only, the three kinds in turn, with their prefix/suffix/middle text."""
        rng = random.Random(f"{self.options.seed}:eval:{file.path}")
        lines = FileLines(file.text, file.language)
        examples: list[Example] = []
        stats = ExampleStats()
        first = rng.randrange(len(self._kinds))
        for i in range(self.examples_per_file(file.text)):
            kind = self._kinds[(first + i) % len(self._kinds)]
            _record(self.example_of_kind(file, kind, rng, keep_text=True, lines=lines), examples, stats)
        return examples, stats

    def example_of_kind(self, file: SourceFile, kind: str, rng: random.Random, *, keep_text: bool = False,
                        lines: FileLines | None = None) -> Example | str:
        """One FIM example of `kind` (INLINE, LINE_END or BLOCK) from the file, or why there is none.

        `lines` is the file already split (its tree-sitter parse is cached there).
        """
        f = lines if lines is not None else FileLines(file.text, file.language)
        repo_context = rng.random() < self.options.repo_context_rate
        reason = NO_CUT
        candidates = block_cuts(f) if kind == BLOCK else []
        for _ in range(self.options.attempts):
            cut = self._pick_cut(f, kind, rng, candidates)
            if cut is None:
                return reason
            result = self.fim_example(
                f.text, cut.start, cut.end, kind=cut.kind, path=file.path, language=file.language,
                repo_context=repo_context, keep_text=keep_text,
            )
            if isinstance(result, Example):
                return result
            reason = result
            if cut in candidates:
                candidates.remove(cut)  # that body is too long: try another
        return reason

    def _pick_cut(self, f: FileLines, kind: str, rng: random.Random, bodies: list[Cut]) -> Cut | None:
        if kind == INLINE:
            return inline_cut(f, rng)
        if kind == LINE_END:
            return line_end_cut(f, rng)
        # Bodies far longer than the middle may be (at a generous 6 characters
        # a token) are not worth tokenizing.
        limit = 6 * self.options.max_middle_tokens
        fitting = [c for c in bodies if c.end - c.start <= limit]
        if fitting:
            return rng.choice(fitting)
        return lines_cut(f, rng)

    def _plain(self, f: FileLines, rng: random.Random, file: SourceFile) -> Example:
        # Start on a line, and late enough in the file only where the file is
        # long enough to fill a window from there (about 3 characters a token).
        last_start = max(0, len(f.text) - 3 * self.options.seq_len)
        starts = [s for s in f.starts if s <= last_start] or [0]
        return self.plain_example(f.text, rng.choice(starts), path=file.path, language=file.language)


def _record(result: Example | str, examples: list[Example], stats: ExampleStats) -> None:
    if isinstance(result, Example):
        examples.append(result)
        stats.built[result.kind] += 1
        stats.tokens += len(result.input_ids)
        stats.target_tokens += sum(1 for label in result.labels if label != IGNORE_INDEX)
    else:
        stats.failed[result] += 1


def build_examples(
    files: Sequence[SourceFile], builder: ExampleBuilder, *, evaluation: bool = False,
    show_progress: bool = False,
) -> tuple[list[Example], ExampleStats]:
    """Examples of several files, in file order: training ones, or held-out evaluation ones."""
    examples: list[Example] = []
    stats = ExampleStats()
    desc = "evaluation examples" if evaluation else "training examples"
    for file in progress(files, show_progress, desc):
        file_examples, file_stats = builder.eval_examples(file) if evaluation else builder.train_examples(file)
        examples.extend(file_examples)
        stats.add(file_stats)
    return examples, stats


def build_eval_examples(
    files: Sequence[SourceFile], builder: ExampleBuilder, *, show_progress: bool = False,
) -> tuple[list[Example], ExampleStats]:
    """Held-out evaluation examples: FIM only, inline / line_end / block in turn."""
    return build_examples(files, builder, evaluation=True, show_progress=show_progress)


# --- JSON Lines -----------------------------------------------------------


def write_examples(path: str | os.PathLike[str], examples: Iterable[Example]) -> int:
    """Write one example per line (written to a temporary name, then renamed); returns the count."""
    tmp = f"{os.fspath(path)}.tmp"
    n = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for example in examples:
            f.write(json.dumps(example.to_json(), ensure_ascii=False, separators=(",", ":")))
            f.write("\n")
            n += 1
    os.replace(tmp, path)
    return n


def iter_examples(path: str | os.PathLike[str]) -> Iterator[Example]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield Example.from_json(json.loads(line))


def read_examples(path: str | os.PathLike[str]) -> list[Example]:
    return list(iter_examples(path))
