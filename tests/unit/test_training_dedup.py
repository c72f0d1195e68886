"""Exact and MinHash-LSH near-duplicate removal over keyed texts."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

from codefill.jobs.training.dedup import EXACT, NEAR, deduplicate, exact_hash, minhash, shingles
from tests.unit.training_repo import APP_PY, MAIN_JS, SERVER_GO, UTIL_PY


def test_exact_duplicates_ignore_line_endings_and_trailing_spaces():
    assert exact_hash(APP_PY) == exact_hash(APP_PY.replace("\n", "  \r\n"))
    assert exact_hash(APP_PY) != exact_hash(APP_PY.replace("total", "sum_"))
    result = deduplicate([("a", APP_PY), ("b", UTIL_PY), ("c", APP_PY.replace("\n", "\r\n"))])
    assert result.kept == ["a", "b"]
    assert [(r.key, r.duplicate_of, r.reason, r.similarity) for r in result.removed] == [("c", "a", EXACT, 1.0)]


def test_a_renamed_identifier_is_a_near_duplicate_and_different_code_is_not():
    renamed = UTIL_PY.replace("truncate_words", "shorten_words")
    result = deduplicate([("util", UTIL_PY), ("app", APP_PY), ("js", MAIN_JS), ("go", SERVER_GO), ("renamed", renamed)])
    assert result.kept == ["util", "app", "js", "go"]
    (removed,) = result.removed
    assert (removed.key, removed.duplicate_of, removed.reason) == ("renamed", "util", NEAR)
    assert 0.5 <= removed.similarity < 1
    assert result.count(NEAR) == 1 and result.count(EXACT) == 0


def test_half_rewritten_code_stays():
    lines = UTIL_PY.split("\n")
    half = "\n".join(lines[: len(lines) // 2]) + "\n" + APP_PY
    sim = minhash(UTIL_PY).jaccard(minhash(half))
    assert sim < 0.5
    assert deduplicate([("util", UTIL_PY), ("half", half)]).kept == ["util", "half"]


def test_first_of_each_group_is_kept_and_results_are_deterministic():
    base = [(f"f{i}", f"def fn_{i}(x):\n    return x * {i} + {i * 7} - call_{i}(x, y_{i}, z_{i})\n") for i in range(30)]
    copies = [(f"copy{i}", text.replace("return", "return  ")) for i, (_, text) in enumerate(base[:5])]
    items = base + copies
    first = deduplicate(items, seed=1)
    again = deduplicate(items, seed=1)
    assert (first.kept, first.removed) == (again.kept, again.removed)
    assert first.kept == [k for k, _ in base]
    shuffled = items[:]
    random.Random(0).shuffle(shuffled)
    order = [k for k, _ in shuffled]
    kept = deduplicate(shuffled, seed=1).kept
    assert kept == sorted(kept, key=order.index)  # kept keys in input order, whichever came first


def test_shingles_are_word_five_grams():
    assert shingles("a b c d e f") == {b"a b c d e", b"b c d e f"}
    assert shingles("x = y") == {b"x y"}  # shorter than five words: one shingle


_PROCESS_SCRIPT = """
import json
from codefill.jobs.training.dedup import deduplicate
from codefill.jobs.training.split import split_files
from tests.unit.training_repo import APP_PY, UTIL_PY
items = [(f"f{i}.py", (APP_PY if i % 2 else UTIL_PY).replace("total", f"t{i // 4}")) for i in range(24)]
result = deduplicate(items)
print(json.dumps([result.kept, [r.__dict__ for r in result.removed], split_files(result.kept, seed=1).held_out]))
"""


def test_results_do_not_depend_on_the_process_hash_seed():
    root = Path(__file__).resolve().parents[2]
    outputs = {
        subprocess.run([sys.executable, "-c", _PROCESS_SCRIPT], cwd=root, capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1 and '"near"' in outputs.pop()
