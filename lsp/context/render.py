"""The whole raw FIM prompt, for servers that take a prompt string but no `suffix`.

Laid out exactly as codefill's server would lay it out (the same template
code builds it), so a completion does not depend on which server answers.
Families without a repository format get the other files as comments headed
by their path, in the language of the file being edited.
"""

from __future__ import annotations

from codefill.model.templates import ContextFile, get_fim_template

from codefill.lsp.context.completion_context import CompletionContext
from codefill.lsp.languages import comment_markers


def render_prompt(ctx: CompletionContext, template_name: str) -> str:
    template = get_fim_template(template_name)
    files = [ContextFile(path=path, content=content) for path, content in ctx.files]
    if template.supports_repo_level():
        return template.build(ctx.prefix, ctx.suffix, repo_name=ctx.repo_name, path=ctx.path, files=files).text
    return template.build(comment_header(ctx) + ctx.prefix, ctx.suffix).text


def comment_header(ctx: CompletionContext) -> str:
    """`# Path: a.py` and the file's lines as comments, for each piece; then the edited file's path."""
    opener, closer = comment_markers(ctx.language, ctx.path)
    out: list[str] = []
    for path, content in ctx.files:
        out.append(f"{opener}Path: {path}{closer}")
        out += [f"{opener}{line}{closer}" if line.strip() else opener.rstrip() + closer for line in
                content.split("\n")]
        out.append("")
    if ctx.path is not None:
        out.append(f"{opener}Path: {ctx.path}{closer}")
    return "\n".join(out) + "\n" if out else ""
