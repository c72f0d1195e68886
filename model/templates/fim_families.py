"""The FIM prompt format of each model family, as the model was trained on it.

Sources (checked against the model cards / reference code):
- Qwen2.5-Coder: QwenLM/Qwen2.5-Coder README and examples/Qwen2.5-Coder.md
  (file-level FIM and "repository level code infilling").
- StarCoder / StarCoder2: the StarCoder2 paper, section 5 (repository format
  `<repo_name>r<file_sep>path\\ncode...<file_sep><fim_prefix>path\\npre...`).
- DeepSeek-Coder: model card (`<｜fim▁begin｜>pre<｜fim▁hole｜>suf<｜fim▁end｜>`).
- CodeLlama: paper and transformers' CodeLlamaTokenizer, which builds
  `<s>▁<PRE> {pre}▁<SUF>{suf}▁<MID>` (the control tokens themselves carry the
  leading "▁", i.e. a space).
- CodeGemma: model card (same three FIM tokens as Qwen, `<|file_separator|>`
  ends a file).
- Codestral: mistral-common `encode_fim`: `<s>[SUFFIX]suf[PREFIX]pre`
  (suffix first, no middle token).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from codefill.model.templates.fim_prompt import ContextFile, FimPrompt, Segment, join_segments, plain, token

# (prefix, suffix) -> segments
Layout = Callable[[str, str], list[Segment]]
# (prefix, suffix, repo_name, path, files) -> segments
RepoLayout = Callable[[str, str, "str | None", "str | None", Sequence[ContextFile]], list[Segment]]


@dataclass(frozen=True)
class FimTemplate:
    name: str
    stop_tokens: tuple[str, ...]  # token strings that end generation for this family
    add_bos: bool  # prepend the tokenizer's BOS token id when encoding
    # Control tokens the vocabulary must hold for `build`'s output to encode.
    required_tokens: tuple[str, ...]
    layout: Layout = field(repr=False, compare=False)
    repo_layout: RepoLayout | None = field(default=None, repr=False, compare=False)

    def build(
        self,
        prefix: str,
        suffix: str,
        *,
        repo_name: str | None = None,
        path: str | None = None,
        files: Sequence[ContextFile] = (),
    ) -> FimPrompt:
        """The prompt for a hole between `prefix` and `suffix`.

        Repository context (repo_name, path, files) is used where the family
        was trained with it and silently left out where it was not: it is a
        hint that improves completions, never a requirement.
        """
        wants_repo = repo_name is not None or path is not None or bool(files)
        if self.repo_layout is not None and wants_repo:
            return join_segments(self.repo_layout(prefix, suffix, repo_name, path, files))
        return join_segments(self.layout(prefix, suffix))

    def supports_repo_level(self) -> bool:
        return self.repo_layout is not None


def _psm(pre_tok: str, suf_tok: str, mid_tok: str) -> Layout:
    """Prefix-suffix-middle, the order of "Efficient Training of LMs to Fill in the Middle"."""

    def layout(prefix: str, suffix: str) -> list[Segment]:
        return [token(pre_tok), plain(prefix), token(suf_tok), plain(suffix), token(mid_tok)]

    return layout


# --- Qwen2.5-Coder --------------------------------------------------------

_QWEN_FIM = ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>")


def _qwen_repo(prefix: str, suffix: str, repo_name: str | None, path: str | None,
               files: Sequence[ContextFile]) -> list[Segment]:
    segs: list[Segment] = []
    if repo_name is not None:
        segs += [token("<|repo_name|>"), plain(repo_name + "\n")]
    for f in files:
        segs += [token("<|file_sep|>"), plain(f"{f.path}\n{f.content}\n")]
    # The file being edited comes last, nearest the hole; its path line is
    # written only when known.
    segs += [token("<|file_sep|>"), plain(f"{path}\n" if path is not None else "")]
    return segs + _psm(*_QWEN_FIM)(prefix, suffix)


QWEN = FimTemplate(
    name="qwen",
    stop_tokens=(
        "<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
        "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<|im_end|>",
    ),
    add_bos=False,
    required_tokens=_QWEN_FIM,
    layout=_psm(*_QWEN_FIM),
    repo_layout=_qwen_repo,
)

# --- CodeGemma -------------------------------------------------------------

CODEGEMMA = FimTemplate(
    name="codegemma",
    stop_tokens=("<|file_separator|>", "<eos>", *_QWEN_FIM),
    add_bos=True,  # Gemma models are trained with <bos> at the start of every sequence
    required_tokens=_QWEN_FIM,
    layout=_psm(*_QWEN_FIM),
)

# --- StarCoder / StarCoder2 -----------------------------------------------

_STARCODER_FIM = ("<fim_prefix>", "<fim_suffix>", "<fim_middle>")
STARCODER_REPO_TOKENS = ("<repo_name>", "<file_sep>")


def _starcoder2_repo(prefix: str, suffix: str, repo_name: str | None, path: str | None,
                     files: Sequence[ContextFile]) -> list[Segment]:
    # StarCoder2 puts the path of the FIM file *inside* the prefix section and
    # adds no newline after a file's content.
    segs: list[Segment] = []
    if repo_name is not None:
        segs += [token("<repo_name>"), plain(repo_name)]
    for f in files:
        segs += [token("<file_sep>"), plain(f"{f.path}\n{f.content}")]
    head = f"{path}\n" if path is not None else ""
    segs += [token("<file_sep>"), token("<fim_prefix>"), plain(head + prefix),
             token("<fim_suffix>"), plain(suffix), token("<fim_middle>")]
    return segs


STARCODER = FimTemplate(
    name="starcoder",
    stop_tokens=("<|endoftext|>", "<file_sep>", "<filename>", *_STARCODER_FIM),
    add_bos=False,
    required_tokens=_STARCODER_FIM,
    layout=_psm(*_STARCODER_FIM),
    repo_layout=_starcoder2_repo,
)

# --- DeepSeek-Coder --------------------------------------------------------

_DEEPSEEK_FIM = ("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>")

DEEPSEEK = FimTemplate(
    name="deepseek",
    stop_tokens=("<｜end▁of▁sentence｜>", "<|EOT|>"),
    add_bos=True,
    required_tokens=_DEEPSEEK_FIM,
    layout=_psm(*_DEEPSEEK_FIM),
)

# --- CodeLlama -------------------------------------------------------------

_CODELLAMA_FIM = ("▁<PRE>", "▁<SUF>", "▁<MID>")


def _codellama(prefix: str, suffix: str) -> list[Segment]:
    # The space after <PRE> is part of the trained format (transformers'
    # CodeLlamaTokenizer encodes " " + prefix); the suffix gets none.
    return [token("▁<PRE>"), plain(" " + prefix), token("▁<SUF>"), plain(suffix), token("▁<MID>")]


CODELLAMA = FimTemplate(
    name="codellama",
    stop_tokens=("▁<EOT>", "<EOT>", "</s>"),
    add_bos=True,
    required_tokens=_CODELLAMA_FIM,
    layout=_codellama,
)

# --- Codestral -------------------------------------------------------------


def _codestral(prefix: str, suffix: str) -> list[Segment]:
    # Suffix first: the model continues right after the prefix, so the prefix
    # must be the last thing it reads.
    return [token("[SUFFIX]"), plain(suffix), token("[PREFIX]"), plain(prefix)]


CODESTRAL = FimTemplate(
    name="codestral",
    stop_tokens=("</s>",),
    add_bos=True,
    required_tokens=("[SUFFIX]", "[PREFIX]"),
    layout=_codestral,
)

FAMILIES: tuple[FimTemplate, ...] = (QWEN, STARCODER, DEEPSEEK, CODELLAMA, CODEGEMMA, CODESTRAL)
