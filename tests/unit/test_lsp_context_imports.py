"""Cross-file definitions through each language's imports: TypeScript, Go, Java, C/C++, Rust."""

from __future__ import annotations

from codefill.lsp.context import ContextBuilder
from codefill.lsp.documents import DocumentStore
from tests.unit.test_lsp_context import split_cursor, write_tree


def build_files(tmp_path, files: dict[str, str], current: str, language_id: str, source: str) -> dict[str, str]:
    """Write the workspace, open only `current` (the others stay on disk), build at the cursor."""
    write_tree(tmp_path, files)
    text, line, character = split_cursor(source)
    store = DocumentStore([str(tmp_path)])
    doc = store.open((tmp_path / current).as_uri(), language_id, 1, text)
    ctx = ContextBuilder(store).build(doc.uri, line, character)
    out: dict[str, str] = {}
    for path, content in ctx.files:
        out[path] = out.get(path, "") + content
    return out


def test_typescript_relative_import_with_named_imports(tmp_path):
    files = build_files(tmp_path, {
        "src/money.ts": (
            "/** Rounds to cents. */\n"
            "export function roundCents(value: number): number {\n  return Math.round(value * 100) / 100;\n}\n\n"
            "export interface Price {\n  amount: number;\n  currency: string;\n}\n\n"
            "export function notImported(): void {}\n"
        ),
    }, "src/cart.ts", "typescript",
        "import { roundCents, type Price } from './money';\n\nconst p: Price = { amount: roundCents(█), currency: 'EUR' };\n")
    money = files["src/money.ts"]
    assert "/** Rounds to cents. */\nexport function roundCents(value: number): number {" in money
    assert "export interface Price {" in money
    assert "notImported" not in money


def test_tsx_imports_a_js_module_through_its_emitted_name(tmp_path):
    files = build_files(tmp_path, {
        "ui/theme.ts": "export const colors = { primary: '#00f' };\n",
    }, "ui/Button.tsx", "typescriptreact",
        "import { colors } from './theme.js';\n\nexport const Button = () => <b style={{ color: colors.█ }} />;\n")
    assert files["ui/theme.ts"] == "export const colors = { primary: '#00f' };"


def test_go_same_package_and_module_imports(tmp_path):
    long_body = "".join(f"\tsum += {i}\n" for i in range(20))
    files = build_files(tmp_path, {
        "go.mod": "module example.com/shop\n\ngo 1.22\n",
        "cart/total.go": (
            "package cart\n\n// Total adds the prices.\nfunc Total(prices []int) int {\n\tsum := 0\n"
            + long_body + "\treturn sum\n}\n"
        ),
        "cart/total_test.go": "package cart\n\nfunc helperOnlyInTests() {}\n",
        "money/money.go": "package money\n\n// Cents is an amount.\ntype Cents int64\n\nfunc Format(c Cents) string { return \"\" }\n",
    }, "cart/checkout.go", "go",
        'package cart\n\nimport "example.com/shop/money"\n\nfunc Checkout(p []int) money.Cents {\n'
        '\treturn money.Cents(Total(█))\n}\n')
    total = files["cart/total.go"]
    assert total.startswith("// Total adds the prices.\nfunc Total(prices []int) int {\n\t// ...\n}")
    assert "sum += 3" not in total
    assert "// Cents is an amount.\ntype Cents int64" in files["money/money.go"]
    assert "helperOnlyInTests" not in "".join(files.values())


def test_java_import_resolved_from_the_package_root(tmp_path):
    files = build_files(tmp_path, {
        "src/main/java/com/shop/model/Order.java": (
            "package com.shop.model;\n\n/** An order. */\npublic class Order {\n"
            "    private final int id;\n\n    public Order(int id) {\n        this.id = id;\n    }\n\n"
            "    /** The id. */\n    public int getId() {\n        int x = id;\n        x = x + 0;\n"
            "        x = x * 1;\n        return x;\n    }\n}\n"
        ),
    }, "src/main/java/com/shop/app/Main.java", "java",
        "package com.shop.app;\n\nimport com.shop.model.Order;\n\npublic class Main {\n"
        "    void run() {\n        Order o = new Order(1);\n        int id = o.█\n    }\n}\n")
    order = files["src/main/java/com/shop/model/Order.java"]
    assert order.startswith("/** An order. */\npublic class Order {\n    private final int id;")
    assert "    public int getId() {\n        // ...\n    }" in order
    assert "x = x * 1" not in order


def test_c_include_of_a_header_behind_an_include_guard(tmp_path):
    files = build_files(tmp_path, {
        "include/vec.h": (
            "#ifndef VEC_H\n#define VEC_H\n\n/* A 2D vector. */\ntypedef struct { double x, y; } vec2;\n\n"
            "/* Dot product. */\ndouble vec2_dot(vec2 a, vec2 b);\n\n#endif\n"
        ),
    }, "src/main.c", "c",
        '#include <stdio.h>\n#include "vec.h"\n\nint main(void) {\n    vec2 a = {1, 2};\n'
        "    printf(\"%f\", vec2_dot(a, █));\n}\n")
    header = files["include/vec.h"]
    assert "/* A 2D vector. */\ntypedef struct { double x, y; } vec2;" in header
    assert "/* Dot product. */\ndouble vec2_dot(vec2 a, vec2 b);" in header


def test_cpp_class_in_a_namespace(tmp_path):
    files = build_files(tmp_path, {
        "shape.hpp": (
            "#pragma once\nnamespace geo {\n// A circle.\nclass Circle {\n public:\n"
            "  explicit Circle(double r);\n  double area() const;\n private:\n  double r_;\n};\n}\n"
        ),
    }, "main.cpp", "cpp", '#include "shape.hpp"\n\nint main() {\n  geo::Circle c(2);\n  return c.█;\n}\n')
    assert "// A circle.\nclass Circle {" in files["shape.hpp"]


def test_rust_mod_and_use_crate(tmp_path):
    files = build_files(tmp_path, {
        "Cargo.toml": "[package]\nname = \"shop\"\n",
        "src/lib.rs": "pub mod pricing;\npub mod util;\n",
        "src/pricing.rs": (
            "/// A price in cents.\npub struct Price {\n    pub cents: u64,\n}\n\n"
            "impl Price {\n    /// Make a price.\n    pub fn new(cents: u64) -> Self {\n        Price { cents }\n    }\n}\n"
        ),
        "src/util.rs": "/// Clamp a value.\npub fn clamp(v: u64, max: u64) -> u64 {\n    v.min(max)\n}\n",
        # `mod rounding;` in src/checkout.rs lives in src/checkout/rounding.rs (Rust 2018 layout).
        "src/checkout/rounding.rs": "pub fn round(v: u64) -> u64 {\n    v\n}\n",
    }, "src/checkout.rs", "rust",
        "use crate::pricing::Price;\nuse crate::util;\nmod rounding;\n\npub fn checkout(v: u64) -> Price {\n"
        "    Price::new(rounding::round(util::clamp(v, █)))\n}\n")
    pricing = files["src/pricing.rs"]
    assert "/// A price in cents.\npub struct Price {" in pricing
    assert "impl Price {" in pricing
    assert "/// Clamp a value.\npub fn clamp(v: u64, max: u64) -> u64 {" in files["src/util.rs"]
    assert "pub fn round(v: u64) -> u64 {" in files["src/checkout/rounding.rs"]
