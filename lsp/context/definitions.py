"""The definitions a file offers to other files, each shrunk to what a caller needs.

A caller needs a function's signature and docstring, not its body; a class's
constructor and method signatures, not their code. Short definitions are
shown whole, because their body is as short as any summary and says more.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tree_sitter import Node, Tree

from codefill.lsp.context.grammar_nodes import CALLABLE, CONTAINER, DATA, LanguageSpec

# Definitions up to this size are shown whole.
SHORT_LINES = 12
SHORT_CHARS = 800
# Members of a class up to this size are shown whole.
SHORT_MEMBER_LINES = 3
# Caps on the parts of a summary.
_MAX_DOC_LINES = 12
_MAX_MEMBER_DOC_LINES = 4
_MAX_MEMBER_LINES = 60
_MAX_DATA_LINES = 20
_MAX_SIGNATURE_LINES = 8
_MAX_LEADING_LINES = 16

# Wrappers whose text belongs to the definition inside them (`export`, decorators,
# `template <...>`, `declare`): the summary starts at the wrapper.
_PREFIX_WRAPPERS = frozenset({
    "decorated_definition", "export_statement", "template_declaration", "ambient_declaration",
})
_FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "function", "generator_function"})
_DECLARATOR_NAMES = frozenset({
    "identifier", "field_identifier", "type_identifier", "operator_name", "destructor_name",
})


@dataclass(eq=False)
class Site:
    """One top-level definition: `outer` spans what is shown, `inner` is the definition itself."""

    name: str
    kind: str
    outer: Node
    inner: Node
    start_byte: int


@dataclass(eq=False)
class Outline:
    """The top-level definitions of one file, indexed by name, with summaries made on demand."""

    language: str
    spec: LanguageSpec
    tree: Tree
    lines: list[str]
    names: dict[str, list[Site]] = field(default_factory=dict)
    # Method names of classes, pointing at the class: `obj.method()` needs the class.
    members: dict[str, list[Site]] = field(default_factory=dict)
    _summaries: dict[int, str] = field(default_factory=dict)

    def summary(self, site: Site) -> str:
        key = id(site)
        if key not in self._summaries:
            self._summaries[key] = _Summarizer(self).definition(site)
        return self._summaries[key]


def build_outline(language: str, spec: LanguageSpec, tree: Tree, text: str) -> Outline:
    outline = Outline(language, spec, tree, text.split("\n"))
    for outer, inner in _top_level(tree.root_node, spec):
        kind = spec.definitions.get(inner.type)
        if kind is None:
            continue
        for name in _names(inner, spec):
            site = Site(name, _refine_kind(inner, kind), outer, inner, outer.start_byte)
            outline.names.setdefault(name, []).append(site)
            if site.kind == CONTAINER:
                for member in _member_names(inner, spec):
                    outline.members.setdefault(member, []).append(site)
    return outline


def _top_level(node: Node, spec: LanguageSpec, outer: Node | None = None):
    """(outer, inner) for each definition directly in `node`, looking through wrappers."""
    for child in node.named_children:
        if child.type in _PREFIX_WRAPPERS:
            yield from _top_level(child, spec, outer or child)
        elif child.type in spec.wrappers:
            body = child.child_by_field_name("body")
            yield from _top_level(body if body is not None else child, spec, None)
        elif child.type in spec.definitions:
            yield (outer or child), child


def _text(node: Node | None) -> str:
    if node is None or node.text is None:
        return ""
    return node.text.decode("utf-8", "replace")


def _declarator_name(node: Node | None) -> str | None:
    """The name inside a C declarator chain (`*f(int)`, `a[3]`, `ns::f`)."""
    for _ in range(12):
        if node is None:
            return None
        if node.type in _DECLARATOR_NAMES:
            return _text(node)
        if node.type in ("qualified_identifier", "scoped_identifier"):
            node = node.child_by_field_name("name")
            continue
        nxt = node.child_by_field_name("declarator")
        if nxt is None:
            named = [c for c in node.named_children if c.type in _DECLARATOR_NAMES]
            return _text(named[0]) if named else None
        node = nxt
    return None


def _names(node: Node, spec: LanguageSpec) -> list[str]:
    t = node.type
    if t in ("assignment", "expression_statement"):
        target = node if t == "assignment" else next(
            (c for c in node.named_children if c.type == "assignment"), None)
        left = target.child_by_field_name("left") if target is not None else None
        return [_text(left)] if left is not None and left.type == "identifier" else []
    if t in ("lexical_declaration", "variable_declaration"):
        return [_text(d.child_by_field_name("name")) for d in node.named_children
                if d.type == "variable_declarator" and d.child_by_field_name("name") is not None
                and d.child_by_field_name("name").type == "identifier"]
    if t in ("type_declaration", "const_declaration", "var_declaration"):
        names: list[str] = []
        for spec_node in node.named_children:
            # The field also covers the commas of `const a, b = 1, 2`.
            names += [_text(n) for n in spec_node.children_by_field_name("name") if n.is_named]
        return names
    if t == "impl_item":
        type_node = node.child_by_field_name("type")
        while type_node is not None and type_node.type in ("generic_type", "scoped_type_identifier"):
            type_node = type_node.child_by_field_name("type") or type_node.child_by_field_name("name")
        return [_text(type_node)] if type_node is not None else []
    if t in ("function_definition", "declaration") and spec.name in ("c", "cpp"):
        if t == "declaration":
            declarators = node.children_by_field_name("declarator")
            return [n for n in (_declarator_name(d) for d in declarators) if n]
        name = _declarator_name(node.child_by_field_name("declarator"))
        return [name] if name else []
    if t == "type_definition":
        return [n for n in (_declarator_name(d) for d in node.children_by_field_name("declarator")) if n]
    if t in ("struct_specifier", "union_specifier", "enum_specifier", "class_specifier"):
        if node.child_by_field_name("body") is None:
            return []  # a forward declaration says nothing
    name = node.child_by_field_name("name")
    if name is None:
        return []
    if name.type in ("qualified_identifier", "scoped_identifier"):
        return [_text(name.child_by_field_name("name"))]
    return [_text(name)]


def _refine_kind(node: Node, kind: str) -> str:
    # `const f = (x) => {...}` is a function that happens to be written as a variable.
    if node.type in ("lexical_declaration", "variable_declaration"):
        for d in node.named_children:
            value = d.child_by_field_name("value")
            if value is not None and value.type in _FUNCTION_VALUES:
                return CALLABLE
    return kind


def _member_names(node: Node, spec: LanguageSpec) -> list[str]:
    body = node.child_by_field_name("body")
    if body is None:
        return []
    names = []
    for member in body.named_children:
        inner = member
        if member.type == "decorated_definition":
            inner = member.child_by_field_name("definition") or member
        if inner.type in spec.member_callables or inner.type == "function_definition":
            name = inner.child_by_field_name("name")
            if name is None and inner.type in ("function_definition", "field_declaration", "declaration"):
                text = _declarator_name(inner.child_by_field_name("declarator"))
            else:
                text = _text(name) if name is not None else None
            # Private and constructor names would pull in every class that has one.
            if text and not text.startswith("_") and text != "constructor":
                names.append(text)
    return names


def _body_of(node: Node) -> Node | None:
    body = node.child_by_field_name("body")
    if body is not None:
        return body
    if node.type in ("lexical_declaration", "variable_declaration"):
        for d in node.named_children:
            value = d.child_by_field_name("value")
            if value is not None and value.type in _FUNCTION_VALUES:
                return value.child_by_field_name("body")
    return None


class _Summarizer:
    def __init__(self, outline: Outline) -> None:
        self.outline = outline
        self.spec = outline.spec
        self.lines = outline.lines

    def rows(self, first: int, last: int) -> list[str]:
        last = min(last, len(self.lines) - 1)
        return [line.rstrip("\r") for line in self.lines[first:last + 1]]

    def definition(self, site: Site) -> str:
        first = self.leading_start(site.outer)
        last = site.outer.end_point.row
        whole = self.rows(first, last)
        if len(whole) <= SHORT_LINES and sum(len(x) + 1 for x in whole) <= SHORT_CHARS:
            return "\n".join(whole)
        head = self.rows(first, site.outer.start_point.row - 1)
        if site.kind == CALLABLE:
            out = self.callable(site.outer, site.inner, _MAX_DOC_LINES)
        elif site.kind == CONTAINER:
            out = self.container(site.outer, site.inner)
        else:
            out = self.data(site.outer)
        return "\n".join(head + out)

    def leading_start(self, node: Node) -> int:
        """The first row of the comments/attributes right above the definition."""
        first = node.start_point.row
        prev = node.prev_named_sibling
        while (prev is not None and prev.type in self.spec.leading
               and prev.end_point.row >= first - 1 and node.start_point.row - prev.start_point.row
               <= _MAX_LEADING_LINES):
            first = prev.start_point.row
            prev = prev.prev_named_sibling
        return first

    def signature_end(self, node: Node, body: Node | None) -> int:
        if body is None:
            return node.end_point.row
        if body.text is not None and body.text[:1] == b"{" or body.prev_sibling is None:
            last = body.start_point.row
        else:
            last = body.prev_sibling.end_point.row
        return min(max(last, node.start_point.row), node.start_point.row + _MAX_SIGNATURE_LINES - 1)

    def docstring(self, body: Node | None, max_lines: int) -> list[str]:
        if body is None or self.spec.braces:
            return []
        first = next((c for c in body.named_children if c.type != "comment"), None)
        if first is not None and first.type == "expression_statement" and first.named_child_count == 1:
            first = first.named_children[0]
        if first is None or first.type not in ("string", "concatenated_string"):
            return []
        rows = self.rows(first.start_point.row, first.end_point.row)
        if len(rows) > max_lines:
            indent = _indent(rows[0])
            rows = rows[:max_lines - 1] + [indent + rows[0].strip()[:3]]  # close the string it cut
        return rows

    def elision(self, node: Node, body: Node | None) -> list[str]:
        """The line(s) standing for an omitted body: `...` or `// ...` and the closing brace."""
        start_line = self.lines[node.start_point.row] if node.start_point.row < len(self.lines) else ""
        indent = _indent(start_line) + "    "
        # The body's own indentation where it has a line of its own (tabs in Go, two spaces in JS).
        if body is not None and body.named_child_count:
            row = body.named_children[0].start_point.row
            if row > node.start_point.row and row < len(self.lines):
                indent = _indent(self.lines[row])
        out = [indent + self.spec.elision]
        if self.spec.braces and body is not None:
            closing = self.rows(body.end_point.row, body.end_point.row)
            if closing and closing[0].strip().startswith("}") and body.end_point.row > node.start_point.row:
                out.append(closing[0])
        return out

    def callable(self, outer: Node, inner: Node, doc_lines: int) -> list[str]:
        body = _body_of(inner)
        if body is None:
            return self.data(outer)
        rows = self.rows(outer.start_point.row, self.signature_end(inner, body))
        return rows + self.docstring(body, doc_lines) + self.elision(inner, body)

    def container(self, outer: Node, inner: Node) -> list[str]:
        body = _body_of(inner)
        if body is None:
            return self.data(outer)
        out = self.rows(outer.start_point.row, self.signature_end(inner, body))
        out += self.docstring(body, _MAX_DOC_LINES)
        budget = _MAX_MEMBER_LINES
        skipped = False
        members = body.named_children
        comments: list[Node] = []  # the comments right above the next member
        previous_end = body.start_point.row
        for position, member in enumerate(members):
            if member.type in self.spec.comments:
                adjacent = comments and comments[-1].end_point.row + 1 >= member.start_point.row
                comments = [*comments, member] if adjacent else [member]
                continue
            doc, comments = comments, []
            if position == 0 and not self.spec.braces and member.type in ("string", "expression_statement"):
                previous_end = member.end_point.row
                continue  # the docstring, shown above
            span = member.end_point.row - member.start_point.row + 1
            definition = member
            if member.type in ("decorated_definition", "template_declaration"):
                definition = member.child_by_field_name("definition") or member.named_children[-1]
            if span <= SHORT_MEMBER_LINES:
                piece = self.rows(member.start_point.row, member.end_point.row)
            elif definition.type in self.spec.member_callables or definition.type == "function_definition":
                piece = self.callable(member, definition, _MAX_MEMBER_DOC_LINES)
            else:
                skipped = True
                continue
            first_row = member.start_point.row
            if doc and doc[-1].end_point.row + 1 >= member.start_point.row and \
                    member.start_point.row - doc[0].start_point.row <= _MAX_MEMBER_DOC_LINES:
                first_row = doc[0].start_point.row
                piece = self.rows(first_row, member.start_point.row - 1) + piece
            if first_row > previous_end + 1 and len(out) > 1:
                piece = [""] + piece  # keep the blank line that separated members
            if len(piece) > budget:
                skipped = True
                break
            budget -= len(piece)
            previous_end = member.end_point.row
            out += piece
        if skipped:
            indent = _indent(out[-1]) if len(out) > 1 else "    "
            out.append(indent + self.spec.elision)
        if self.spec.braces:
            closing = self.rows(body.end_point.row, body.end_point.row)
            if closing and closing[0].strip().startswith("}") and body.end_point.row > inner.start_point.row:
                out.append(closing[0])
        return out

    def data(self, node: Node) -> list[str]:
        rows = self.rows(node.start_point.row, node.end_point.row)
        if len(rows) <= _MAX_DATA_LINES:
            return rows
        kept = rows[:_MAX_DATA_LINES]
        indent = _indent(kept[1]) if len(kept) > 1 else ""
        out = kept + [indent + self.spec.elision]
        if self.spec.braces and rows[-1].strip().startswith("}"):
            out.append(rows[-1])
        return out


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


__all__ = ["CALLABLE", "CONTAINER", "DATA", "Outline", "Site", "build_outline"]
