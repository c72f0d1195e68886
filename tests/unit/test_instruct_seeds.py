"""Seeds of `codefill data instruct`: every filter step counted on a generated repository."""

from __future__ import annotations

import pytest

from codefill.jobs.instruct_data.seeds import STEPS, extract_seeds, find_functions, limit_seeds, seed_id
from codefill.jobs.training.decontaminate import Decontaminator
from tests.instruct_fakes import SEED_STEPS, humaneval_seed, make_seed_repo, mbpp_seed


@pytest.fixture(scope="module")
def decontaminator() -> Decontaminator:
    return Decontaminator()


@pytest.fixture(scope="module")
def seed_report(tmp_path_factory, decontaminator):
    repo = make_seed_repo(tmp_path_factory.mktemp("seed-repo"))
    return extract_seeds(repo, decontaminator=decontaminator)


def _benchmark_file_functions() -> tuple[int, int]:
    """(functions, of which without docstring) in the HumanEval and MBPP files (helpers included)."""
    import ast

    total = undocumented = 0
    for _, text in (humaneval_seed(), mbpp_seed()):
        for fn in find_functions(text):
            total += 1
            node = ast.parse(fn.code).body[0]
            undocumented += ast.get_docstring(node) is None
    return total, undocumented


def test_every_filter_step_is_counted_exactly(seed_report):
    bench_functions, bench_undocumented = _benchmark_file_functions()
    expected = dict(SEED_STEPS)
    # shapes.py 7, copy 1, stats 1, mathy 9, broken 2, plus the benchmark files' functions
    expected["functions"] = 20 + bench_functions
    expected["no_docstring"] = 2 + bench_undocumented  # no_doc, Box.__init__ (+ benchmark helpers)
    assert list(seed_report.steps) == list(STEPS)
    assert seed_report.steps == expected
    accounted = sum(v for k, v in seed_report.steps.items() if k not in ("python_files", "functions", "seeds"))
    assert seed_report.steps["functions"] - accounted == seed_report.steps["seeds"]
    assert seed_report.other_languages == {"javascript": 1}


def test_the_dropped_functions_name_their_reason(seed_report):
    reasons = {(d["qualname"], d["reason"]) for d in seed_report.dropped}
    assert {("no_doc", "no_docstring"), ("Box.__init__", "no_docstring"), ("stub", "trivial"),
            ("Box.shape_name", "trivial"), ("placeholder", "trivial"), ("ok_broken", "unparseable"),
            ("ok_area", "exact_duplicates"), ("ok_histogram", "near_duplicates")} <= reasons
    contaminated = [d for d in seed_report.dropped if d["reason"] == "contaminated"]
    assert sorted(d["problems"] for d in contaminated) == sorted([humaneval_seed()[0], mbpp_seed()[0]])
    assert seed_report.contaminated_by_benchmark == {"humaneval": 1, "mbpp": 1}
    near = next(d for d in seed_report.dropped if d["reason"] == "near_duplicates")
    assert near["path"] == "src/stats.py" and near["duplicate_of"] == "src/shapes.py::ok_histogram"


def test_seeds_carry_code_docstring_and_a_content_id(seed_report):
    by_name = {s.qualname: s for s in seed_report.seeds}
    assert sorted(by_name) == sorted([
        "ok_area", "Box.ok_volume", "ok_histogram", "bad_div", "mixed_mul", "notests_sub", "garbled_pow",
        "ok_evosame", "ok_evosorry", "ok_evostop", "ok_evocopy", "ok_fine"])
    volume = by_name["Box.ok_volume"]
    assert volume.code.startswith("def ok_volume(self):\n")  # a method, dedented
    assert volume.docstring == "The box's volume."
    assert volume.path == "src/shapes.py" and volume.line == 24
    assert volume.id == seed_id(volume.code) == seed_id(volume.code + "   \n")  # trailing space: same id


def test_without_a_decontaminator_the_benchmark_functions_stay(tmp_path):
    report = extract_seeds(make_seed_repo(tmp_path), decontaminator=None)
    assert report.steps["contaminated"] == 0
    assert report.steps["seeds"] == SEED_STEPS["seeds"] + 2 + 0  # the HumanEval and MBPP functions come back
    assert report.contaminated_by_benchmark == {}


def test_decorated_async_and_nested_definitions():
    text = (
        "import functools\n\n"
        "@functools.cache\n"
        "def cached(x):\n    \"\"\"Cached.\"\"\"\n    return x\n\n"
        "class Outer:\n    class Inner:\n        async def run(self):\n            \"\"\"Run.\"\"\"\n"
        "            def helper():\n                return 1\n            return helper()\n"
    )
    found = find_functions(text, "m.py")
    assert [(f.qualname, f.line) for f in found] == [("cached", 3), ("Outer.Inner.run", 10)]
    assert found[0].code.startswith("@functools.cache\ndef cached(x):")
    assert found[1].code.startswith("async def run(self):")


def test_limit_is_deterministic_and_a_larger_limit_keeps_the_smaller_ones(seed_report):
    seeds = seed_report.seeds
    three = limit_seeds(seeds, 3, seed=0)
    six = limit_seeds(seeds, 6, seed=0)
    assert len(three) == 3 and len(six) == 6
    assert {s.id for s in three} <= {s.id for s in six}
    assert limit_seeds(seeds, 3, seed=0) == three
    assert [s.id for s in six] == [s.id for s in seeds if s.id in {x.id for x in six}]  # repository order
    assert limit_seeds(seeds, None) == seeds and limit_seeds(seeds, 100) == seeds
