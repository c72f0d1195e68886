"""Fit a prompt into the model's context window, keeping the code nearest the cursor.

A FIM prompt that is too long loses whole lines from its far ends: the first
lines of the prefix and the last lines of the suffix. The two cursor lines
(the prefix's last line and the suffix's first) are never cut, since the
completion depends on them most. Repository files go before any line does.

Tokenizing a long file is slow (a 5,000-line prefix takes ~0.2 s with the
Qwen tokenizer), so lines are costed from windows around the cursor that
are only as large as the budget needs, and the real tokenizer confirms the
final prompt once.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from codefill.model.templates.encoding import text_offsets
from codefill.model.templates.fim import ContextFile, FimPrompt, FimTemplate, encode_prompt, encode_text

# A prompt with more characters than this per token of budget almost surely
# does not fit (code averages 3-4 characters per token), so encoding it
# whole first would only waste time; the trimming path handles it either way.
_EAGER_CHARS_PER_TOKEN = 4
# How many times the estimate may be corrected by the real token count
# before falling back to the cursor lines alone.
_MAX_REFITS = 6


class PromptTooLong(ValueError):
    def __init__(self, prompt_tokens: int, max_tokens: int, max_model_len: int, *, after_trimming: bool = False):
        self.prompt_tokens = prompt_tokens
        self.max_tokens = max_tokens
        self.max_model_len = max_model_len
        trimmed = " (after trimming)" if after_trimming else ""
        super().__init__(
            f"prompt needs {prompt_tokens} tokens{trimmed} + max_tokens {max_tokens} > "
            f"the model's context of {max_model_len} tokens; shorten the prompt or lower max_tokens"
        )


@dataclass
class FitResult:
    prompt: FimPrompt
    token_ids: list[int]
    prefix: str  # the prefix as sent, after trimming
    suffix: str
    dropped_prefix_lines: int
    dropped_suffix_lines: int


def fit_tokens(token_ids: list[int], max_tokens: int, max_model_len: int) -> None:
    """Plain prompts are not trimmed: the caller's text is sent whole or refused."""
    if len(token_ids) + max_tokens > max_model_len:
        raise PromptTooLong(len(token_ids), max_tokens, max_model_len)


def fit_fim(
    tokenizer: Any,
    template: FimTemplate,
    prefix: str,
    suffix: str,
    *,
    max_tokens: int,
    max_model_len: int,
    repo_name: str | None = None,
    path: str | None = None,
    files: Sequence[ContextFile] = (),
) -> FitResult:
    budget = max_model_len - max_tokens  # tokens the prompt itself may use
    files = tuple(files) if template.supports_repo_level() else ()

    def encode(pre: str, suf: str, kept_files: Sequence[ContextFile]) -> tuple[FimPrompt, list[int]]:
        prompt = template.build(pre, suf, repo_name=repo_name, path=path, files=kept_files)
        return prompt, encode_prompt(tokenizer, prompt, add_bos=template.add_bos)

    total_chars = len(prefix) + len(suffix) + sum(len(f.content) + len(f.path) for f in files)
    if total_chars <= _EAGER_CHARS_PER_TOKEN * max(budget, 0):
        prompt, ids = encode(prefix, suffix, files)
        if len(ids) <= budget:
            return FitResult(prompt, ids, prefix, suffix, 0, 0)

    far_prefix_lines, cursor_prefix = _split_prefix(prefix)
    cursor_suffix, far_suffix_lines = _split_suffix(suffix)
    # Exact cost of the smallest prompt there is: the two cursor lines, no files.
    smallest, smallest_ids = encode(cursor_prefix, cursor_suffix, ())
    if len(smallest_ids) > budget:
        raise PromptTooLong(len(smallest_ids), max_tokens, max_model_len, after_trimming=True)

    selector = _Selector(
        prefix_costs=_LineCosts(tokenizer, far_prefix_lines[::-1], file_order_reversed=True),
        suffix_costs=_LineCosts(tokenizer, far_suffix_lines, file_order_reversed=False),
        files=files,
        file_cost=lambda f: _estimate_file_tokens(tokenizer, f),
    )
    spare = budget - len(smallest_ids)
    for _ in range(_MAX_REFITS):
        n_pre, n_suf, kept_files = selector.select(spare)
        kept_prefix = "".join(far_prefix_lines[len(far_prefix_lines) - n_pre:]) + cursor_prefix
        kept_suffix = cursor_suffix + "".join(far_suffix_lines[:n_suf])
        prompt, ids = encode(kept_prefix, kept_suffix, kept_files)
        over = len(ids) - budget
        if over <= 0:
            return FitResult(prompt, ids, kept_prefix, kept_suffix,
                             len(far_prefix_lines) - n_pre, len(far_suffix_lines) - n_suf)
        spare -= over  # the estimate was short by `over`: ask for that much less
    return FitResult(smallest, smallest_ids, cursor_prefix, cursor_suffix,
                     len(far_prefix_lines), len(far_suffix_lines))


def _split_prefix(prefix: str) -> tuple[list[str], str]:
    """(complete lines, each ending in "\\n"; the cursor line after the last "\\n")."""
    head, newline, cursor_line = prefix.rpartition("\n")
    if not newline:
        return [], prefix
    return [line + "\n" for line in head.split("\n")], cursor_line


def _split_suffix(suffix: str) -> tuple[str, list[str]]:
    """(the cursor line with its "\\n"; the lines after it, the last may lack "\\n")."""
    cursor_line, newline, rest = suffix.partition("\n")
    if not newline:
        return suffix, []
    parts = rest.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return cursor_line + "\n", lines


class _Selector:
    """Chooses what to keep for a given number of spare tokens, from estimates."""

    # The prefix gets this share of the spare tokens; the suffix the rest.
    # Code before the cursor says more about what comes next than code after.
    PREFIX_SHARE = 3 / 4

    def __init__(self, prefix_costs: _LineCosts, suffix_costs: _LineCosts,
                 files: tuple[ContextFile, ...], file_cost: Any) -> None:
        self.prefix_costs = prefix_costs
        self.suffix_costs = suffix_costs
        self.files = files
        self._file_cost = file_cost
        self._file_costs: dict[int, int] = {}

    def select(self, spare: int) -> tuple[int, int, tuple[ContextFile, ...]]:
        spare = max(spare, 0)
        pre, suf = self.prefix_costs, self.suffix_costs
        n_suf, suf_cost = suf.take(spare - int(spare * self.PREFIX_SHARE))
        n_pre, pre_cost = pre.take(spare - suf_cost)  # the suffix's unused share goes to the prefix
        if n_pre == pre.n_lines:  # and the prefix's unused share to the suffix
            n_suf, suf_cost = suf.take(spare - pre_cost)
        kept_files: tuple[ContextFile, ...] = ()
        if self.files and n_pre == pre.n_lines and n_suf == suf.n_lines:
            kept_files = self._nearest_files(spare - pre_cost - suf_cost)
        return n_pre, n_suf, kept_files

    def _nearest_files(self, spare: int) -> tuple[ContextFile, ...]:
        # Files listed last sit nearest the edited file in the prompt; the
        # farthest go first, whole (half a file is misleading context).
        kept = 0
        for i in range(len(self.files) - 1, -1, -1):
            f = self.files[i]
            # Skip tokenizing a file that cannot fit at any plausible density.
            if len(f.content) > 16 * spare + 64:
                break
            if i not in self._file_costs:
                self._file_costs[i] = self._file_cost(f)
            if self._file_costs[i] > spare:
                break
            spare -= self._file_costs[i]
            kept += 1
        return self.files[len(self.files) - kept:]


class _LineCosts:
    """Estimated token cost of lines, nearest the cursor first, computed on demand.

    Lines are tokenized in windows (one tokenizer call per window, with
    offsets to attribute each token to the line where it starts), so that
    the far end of a huge file is never tokenized at all.
    """

    MIN_WINDOW_CHARS = 2048

    def __init__(self, tokenizer: Any, lines_nearest_first: list[str], *, file_order_reversed: bool) -> None:
        self._tok = tokenizer
        self._lines = lines_nearest_first
        self._reversed = file_order_reversed  # prefix lines run backwards from the cursor
        self._cumulative = [0]  # cost of the nearest n lines, for n = 0..costed
        self._chars_costed = 0
        # Tokenizing costs time per character, so a window should hold about
        # as many tokens as are still wanted: start from a typical density
        # for code and then go by what this text has shown.
        self._chars_per_token = 3.0

    @property
    def n_lines(self) -> int:
        return len(self._lines)

    def take(self, spare: int) -> tuple[int, int]:
        """(how many nearest lines fit in `spare` tokens, their estimated cost)."""
        spare = max(spare, 0)
        while self._cumulative[-1] <= spare and len(self._cumulative) <= len(self._lines):
            self._cost_more(spare - self._cumulative[-1] + 1)
        n = bisect.bisect_right(self._cumulative, spare) - 1
        return n, self._cumulative[n]

    def _cost_more(self, tokens_wanted: int) -> None:
        start = len(self._cumulative) - 1
        chars, end = 0, start
        want_chars = max(self.MIN_WINDOW_CHARS, int(1.1 * self._chars_per_token * tokens_wanted))
        while end < len(self._lines) and chars < want_chars:
            chars += len(self._lines[end])
            end += 1
        window = self._lines[start:end]
        ordered = window[::-1] if self._reversed else window
        counts = _tokens_per_line(self._tok, ordered)
        if self._reversed:
            counts.reverse()
        total = self._cumulative[-1]
        for c in counts:
            total += max(c, 1)  # every line costs something, so a smaller budget always drops one
            self._cumulative.append(total)
        self._chars_costed += chars
        self._chars_per_token = max(self._chars_costed / max(total, 1), 1.0)


def _tokens_per_line(tokenizer: Any, lines: list[str]) -> list[int]:
    text = "".join(lines)
    offsets = _token_offsets(tokenizer, text)
    if offsets is None:
        # Tokenizers without offsets (pure-Python ones): cost lines one by one.
        return [len(ids) for ids in tokenizer(lines, add_special_tokens=False)["input_ids"]]
    counts = [0] * len(lines)
    line, line_end = 0, len(lines[0]) if lines else 0
    for begin, _end in offsets:  # token starts ascend, so walk both lists together
        while begin >= line_end and line < len(lines) - 1:
            line += 1
            line_end += len(lines[line])
        counts[line] += 1
    return counts


def _token_offsets(tokenizer: Any, text: str) -> list[tuple[int, int]] | None:
    # The Rust tokenizer directly: the estimate needs no Python-side post-processing,
    # and skipping it halves the time on long windows; text_offsets encodes as the
    # prompt will (control-token strings as text) and lets other threads run meanwhile.
    offsets = text_offsets(tokenizer, text)
    if offsets is not None:
        return offsets
    try:
        return tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    except (NotImplementedError, TypeError, ValueError):
        return None


def _estimate_file_tokens(tokenizer: Any, f: ContextFile) -> int:
    # + a few for the separator token and the newlines around the path.
    return len(encode_text(tokenizer, f.path)) + len(encode_text(tokenizer, f.content)) + 3
