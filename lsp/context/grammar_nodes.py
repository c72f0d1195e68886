"""What the context engine needs to know about each grammar's node types.

Node type names differ between grammars (a Python `block`, a Go
`statement_list`, a C `compound_statement`), so each language lists which of
its nodes hold statements, which are definitions, and which name things.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from tree_sitter import Query

from codefill.lsp.languages import grammar

CALLABLE = "callable"  # functions and methods: long ones shrink to their signature
CONTAINER = "container"  # classes, traits, impls: long ones shrink to their members' signatures
DATA = "data"  # types, constants, macros: long ones are cut after some lines


@dataclass(frozen=True)
class LanguageSpec:
    name: str
    # Nodes whose children are statements or members: a line where one of
    # their children starts is a clean place to cut a window.
    blocks: frozenset[str]
    # Definitions whose header line(s) stay in the prompt while the cursor is in their body.
    scopes: frozenset[str]
    # Top-level definitions that other files can use, by kind.
    definitions: dict[str, str]
    # Nodes to look inside for top-level definitions (exports, include guards, namespaces).
    wrappers: frozenset[str]
    # Node types that name something, for the identifier query.
    identifiers: tuple[str, ...]
    comments: frozenset[str] = frozenset({"comment"})
    # Nodes that belong to the definition right after them (doc comments, attributes).
    leading: frozenset[str] = frozenset({"comment"})
    # Members of containers that are shown as signatures.
    member_callables: frozenset[str] = frozenset()
    braces: bool = True  # bodies are delimited by { }
    elision: str = "// ..."  # the line that stands for an omitted body


_C_LIKE_BLOCKS = frozenset({
    "compound_statement", "declaration_list", "field_declaration_list", "translation_unit",
    "preproc_ifdef", "preproc_if", "preproc_else", "preproc_elif", "case_statement",
    "enumerator_list", "linkage_specification",
})

SPECS: dict[str, LanguageSpec] = {
    "python": LanguageSpec(
        name="python",
        blocks=frozenset({"module", "block"}),
        scopes=frozenset({"function_definition", "class_definition"}),
        definitions={
            "function_definition": CALLABLE,
            "class_definition": CONTAINER,
            "assignment": DATA,
            "expression_statement": DATA,
            "type_alias_statement": DATA,
        },
        wrappers=frozenset({"decorated_definition"}),
        identifiers=("identifier",),
        leading=frozenset(),
        member_callables=frozenset({"function_definition", "decorated_definition"}),
        braces=False,
        elision="...",
    ),
    "javascript": LanguageSpec(
        name="javascript",
        blocks=frozenset({"program", "statement_block", "class_body", "switch_body", "switch_case"}),
        scopes=frozenset({
            "function_declaration", "generator_function_declaration", "function_expression",
            "arrow_function", "method_definition", "class_declaration", "class",
        }),
        definitions={
            "function_declaration": CALLABLE,
            "generator_function_declaration": CALLABLE,
            "class_declaration": CONTAINER,
            "lexical_declaration": DATA,
            "variable_declaration": DATA,
        },
        wrappers=frozenset({"export_statement"}),
        identifiers=("identifier", "property_identifier", "shorthand_property_identifier"),
        member_callables=frozenset({"method_definition"}),
    ),
    "go": LanguageSpec(
        name="go",
        blocks=frozenset({"source_file", "block", "statement_list", "expression_case",
                          "default_case", "type_case", "communication_case"}),
        scopes=frozenset({"function_declaration", "method_declaration", "func_literal"}),
        definitions={
            "function_declaration": CALLABLE,
            "method_declaration": CALLABLE,
            "type_declaration": DATA,
            "const_declaration": DATA,
            "var_declaration": DATA,
        },
        wrappers=frozenset(),
        identifiers=("identifier", "type_identifier", "field_identifier", "package_identifier"),
    ),
    "rust": LanguageSpec(
        name="rust",
        blocks=frozenset({"source_file", "block", "declaration_list", "field_declaration_list",
                          "match_block", "enum_variant_list"}),
        scopes=frozenset({"function_item", "impl_item", "trait_item", "mod_item"}),
        definitions={
            "function_item": CALLABLE,
            "function_signature_item": CALLABLE,
            "struct_item": DATA,
            "enum_item": DATA,
            "union_item": DATA,
            "type_item": DATA,
            "const_item": DATA,
            "static_item": DATA,
            "macro_definition": DATA,
            "trait_item": CONTAINER,
            "impl_item": CONTAINER,
        },
        wrappers=frozenset(),
        identifiers=("identifier", "type_identifier", "field_identifier"),
        comments=frozenset({"line_comment", "block_comment"}),
        leading=frozenset({"line_comment", "block_comment", "attribute_item"}),
        member_callables=frozenset({"function_item", "function_signature_item"}),
    ),
    "java": LanguageSpec(
        name="java",
        blocks=frozenset({"program", "block", "class_body", "interface_body", "enum_body",
                          "constructor_body", "switch_block", "switch_block_statement_group"}),
        scopes=frozenset({
            "class_declaration", "interface_declaration", "enum_declaration", "record_declaration",
            "method_declaration", "constructor_declaration", "lambda_expression",
        }),
        definitions={
            "class_declaration": CONTAINER,
            "interface_declaration": CONTAINER,
            "enum_declaration": CONTAINER,
            "record_declaration": CONTAINER,
            "annotation_type_declaration": DATA,
        },
        wrappers=frozenset(),
        identifiers=("identifier", "type_identifier"),
        comments=frozenset({"line_comment", "block_comment"}),
        leading=frozenset({"line_comment", "block_comment"}),
        member_callables=frozenset({"method_declaration", "constructor_declaration"}),
    ),
    "c": LanguageSpec(
        name="c",
        blocks=_C_LIKE_BLOCKS,
        scopes=frozenset({"function_definition", "struct_specifier", "union_specifier"}),
        definitions={
            "function_definition": CALLABLE,
            "declaration": DATA,
            "struct_specifier": DATA,
            "union_specifier": DATA,
            "enum_specifier": DATA,
            "type_definition": DATA,
            "preproc_def": DATA,
            "preproc_function_def": DATA,
        },
        wrappers=frozenset({"preproc_ifdef", "preproc_if", "preproc_else", "preproc_elif",
                            "linkage_specification", "declaration_list"}),
        identifiers=("identifier", "type_identifier", "field_identifier"),
    ),
}

# TypeScript and TSX extend JavaScript with type-level declarations.
_TS_EXTRA_DEFS = {
    "abstract_class_declaration": CONTAINER,
    "interface_declaration": DATA,
    "type_alias_declaration": DATA,
    "enum_declaration": DATA,
    "function_signature": CALLABLE,
}
for _ts in ("typescript", "tsx"):
    _js = SPECS["javascript"]
    SPECS[_ts] = LanguageSpec(
        name=_ts,
        blocks=_js.blocks | {"interface_body", "enum_body", "object_type"},
        scopes=_js.scopes | {"abstract_class_declaration", "interface_declaration", "internal_module"},
        definitions={**_js.definitions, **_TS_EXTRA_DEFS},
        wrappers=_js.wrappers | {"ambient_declaration"},
        identifiers=(*_js.identifiers, "type_identifier"),
        member_callables=_js.member_callables | {"method_signature", "abstract_method_signature"},
    )

_c = SPECS["c"]
SPECS["cpp"] = LanguageSpec(
    name="cpp",
    blocks=_c.blocks,
    scopes=_c.scopes | {"class_specifier", "namespace_definition", "lambda_expression"},
    definitions={**_c.definitions, "class_specifier": CONTAINER, "alias_declaration": DATA,
                 "concept_definition": DATA},
    wrappers=_c.wrappers | {"namespace_definition", "template_declaration"},
    identifiers=(*_c.identifiers, "namespace_identifier"),
    member_callables=frozenset({"function_definition", "field_declaration", "declaration",
                                "template_declaration"}),
)


def spec_for(language: str | None) -> LanguageSpec | None:
    return SPECS.get(language) if language else None


@cache
def identifier_query(language: str) -> Query | None:
    """A query capturing every identifier-like node of the grammar."""
    spec = SPECS.get(language)
    lang = grammar(language)
    if spec is None or lang is None:
        return None
    kinds = [k for k in spec.identifiers if lang.id_for_node_kind(k, True) is not None]
    if not kinds:
        return None
    return Query(lang, "[" + " ".join(f"({k})" for k in kinds) + "] @name")

