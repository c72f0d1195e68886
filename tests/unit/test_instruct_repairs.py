"""What `data instruct` does about a small teacher's habits: forgotten imports, answers that echo the
instruction's code, wrong asserts about right code (`--prune-tests`), the same task asked again, and
answers that stop before their tests."""

from __future__ import annotations

import pytest

from codefill.jobs.instruct_data.distinct_tasks import distinct_instructions, task_name
from codefill.jobs.instruct_data.evolve import Instruction
from codefill.jobs.instruct_data.missing_imports import missing_imports
from codefill.jobs.instruct_data.responses import parse_response
from codefill.jobs.instruct_data.pruned_tests import split_statements
from codefill.jobs.instruct_data.sandbox import SandboxLimits
from codefill.jobs.instruct_data.validate import Candidate, validate
from tests.fakes import FakeServer
from tests.instruct_fakes import instruct_app, requests_of

LIMITS = SandboxLimits(timeout_s=5, memory_mb=512)


def answer(code: str, tests: str) -> str:
    return (f"[Reasoning]\nSort, then index.\n\n[Implementation]\n```python\n{code.strip()}\n```\n\n"
            f"[Explanation]\nSorting puts the k-th smallest at k - 1.\n\n[Tests]\n```python\n{tests.strip()}\n```")


KTH = "def kth_smallest(nums: List[int], k: int) -> int:\n    return sorted(nums)[k - 1]\n"


# --------------------------------------------------------------------------- forgotten imports

@pytest.mark.parametrize(("program", "expected"), [
    (KTH, ["from typing import List"]),
    ("def f(xs: Optional[List[int]]) -> Dict[str, int]:\n    return Counter(xs)\n",
     ["from typing import Dict, List, Optional", "from collections import Counter"]),
    ("def f(x):\n    return math.sqrt(x) + reduce(lambda a, b: a + b, [x])\n",
     ["from functools import reduce", "import math"]),
    # bound somewhere in the program: nothing to add
    ("from typing import List\nimport math\n\ndef f(List, Counter):\n    return math.pi\n", []),
    ("Counter = 3\nfor math in range(2):\n    pass\nprint(Counter, math.real)\n", []),
    # unknown names stay unknown (the sandbox reports the NameError), and a name used as a value
    # is not taken for a module
    ("def f():\n    return helper(x) + json\n", []),
    ("def f(:\n    return List\n", []),  # does not parse: left alone
])
def test_missing_imports(program, expected):
    assert missing_imports(program) == expected


def test_forgotten_imports_go_into_the_kept_answer_too():
    parsed, why = parse_response(answer(KTH, "assert kth_smallest([3, 1, 2], 1) == 1"))
    assert why == "ok" and parsed.imports_added == ("from typing import List",)
    assert parsed.code.startswith("from typing import List\n\ndef kth_smallest(")
    assert "[Implementation]\n```python\nfrom typing import List\n\ndef kth_smallest(" in parsed.text
    assert parsed.text.count("from typing import List") == 1


def test_an_answer_missing_only_an_import_passes(sandbox):
    outcomes, kept, stats = validate([Candidate("k", 0, answer(KTH, "assert kth_smallest([3, 1, 2], 2) == 2"))],
                                     limits=LIMITS, sandbox=sandbox)
    assert outcomes[0].outcome == "passed" and "k" in kept and stats.imports_added == 1


# --------------------------------------------------------------------------- echoing the instruction

ECHO_INSTRUCTION = ("Write tests for this function:\n```python\ndef area(w, h):\n    if w < 0 or h < 0:\n"
                    "        raise ValueError('negative')\n    return w * h\n```")


def test_an_answer_that_repeats_the_instructions_code_is_not_run(sandbox):
    echo = answer("def area(w, h):\n    if w < 0 or h < 0:\n        raise ValueError('negative')\n    return w * h",
                  "assert area(2, 3) == 6")
    own = answer("def area(w, h):\n    if min(w, h) < 0:\n        raise ValueError('negative side')\n"
                 "    result = w * h\n    return result", "assert area(2, 3) == 6")
    signature_only = "Complete this function:\n```python\ndef area(w, h):\n    \"\"\"w times h.\"\"\"\n```"
    filled = answer('def area(w, h):\n    """w times h."""\n    return w * h', "assert area(2, 3) == 6")
    outcomes, kept, stats = validate([Candidate("echo", 0, echo, ECHO_INSTRUCTION),
                                      Candidate("echo", 1, own, ECHO_INSTRUCTION),
                                      Candidate("sig", 0, filled, signature_only)],
                                     limits=LIMITS, sandbox=sandbox)
    assert [o.outcome for o in outcomes] == ["copies_instruction", "passed", "passed"]
    assert kept["echo"].index == 1 and stats.run == 2


# --------------------------------------------------------------------------- --prune-tests

RIGHT_CODE_WRONG_ASSERT = answer(
    "def kth_smallest(nums, k):\n    return sorted(nums)[k - 1]",
    "data = [5, 1, 4]\n"
    "assert kth_smallest(data, 1) == 1\n"
    "assert kth_smallest([1, 2, 3, 4, 5], 2) == 3  # the teacher's arithmetic, not the code, is wrong\n"
    "assert kth_smallest(data, 3) == 5\n"
    "for bad in (4, 9):\n"
    "    try:\n"
    "        kth_smallest(data, bad)\n"
    "    except IndexError:\n"
    "        pass\n"
    "    else:\n"
    "        raise AssertionError(bad)")
WRONG_CODE = answer("def kth_smallest(nums, k):\n    return sorted(nums, reverse=True)[k - 1]",
                    "assert kth_smallest([1, 2, 3], 2) == 2\nassert kth_smallest([4, 1], 1) == 1\n"
                    "assert kth_smallest([7, 8, 9], 1) == 7")


def test_checks_are_the_statements_that_assert():
    statements = split_statements("data = [1]\nassert data\n@staticmethod\ndef f():\n    pass\n"
                                  "for x in data:\n    if not x:\n        raise AssertionError(x)\n")
    assert [(s.check, s.source.split("\n")[0]) for s in statements] == [
        (False, "data = [1]"), (True, "assert data"), (False, "@staticmethod"), (True, "for x in data:")]


def test_pruning_keeps_right_code_and_drops_only_the_wrong_assert(sandbox):
    strict, _, _ = validate([Candidate("k", 0, RIGHT_CODE_WRONG_ASSERT)], limits=LIMITS, sandbox=sandbox)
    assert strict[0].outcome == "failed"

    outcomes, kept, stats = validate([Candidate("k", 0, RIGHT_CODE_WRONG_ASSERT),
                                      Candidate("w", 0, WRONG_CODE)],
                                     limits=LIMITS, sandbox=sandbox, prune_tests=True)
    assert [o.outcome for o in outcomes] == ["pruned", "failed"]  # the wrong code passes 1 of its 3 checks
    response = kept["k"].response
    assert response.tests == ("data = [5, 1, 4]\nassert kth_smallest(data, 1) == 1\n"
                              "assert kth_smallest(data, 3) == 5\nfor bad in (4, 9):\n    try:\n"
                              "        kth_smallest(data, bad)\n    except IndexError:\n        pass\n"
                              "    else:\n        raise AssertionError(bad)\n")
    assert "== 3  # the teacher" not in response.text and response.text.endswith(response.tests + "```")
    assert stats.checks_dropped == 1 and stats.outcomes["passed"] == 0 and stats.instructions_kept == 1


def test_a_strict_pass_is_kept_over_a_pruned_one(sandbox):
    strict = answer("def kth_smallest(nums, k):\n    return sorted(nums)[k - 1]", "assert kth_smallest([2, 1], 1) == 1")
    _, kept, _ = validate([Candidate("k", 0, RIGHT_CODE_WRONG_ASSERT), Candidate("k", 1, strict)],
                          limits=LIMITS, sandbox=sandbox, prune_tests=True)
    assert (kept["k"].index, kept["k"].outcome) == (1, "passed")


# --------------------------------------------------------------------------- one instruction per task

def test_the_same_task_asked_again_is_dropped():
    texts = ["Write a Python function `find_kth_smallest` that returns the k-th smallest element.",
             "Write a function `find_kth_smallest(nums: List[int], k: int) -> int` for a list of non-negative ints.",
             "Create a class `Document` with a `title`.",
             "Write a Python function `Find_Kth_Smallest` that raises ValueError for a bad k.",
             "Parse a size such as 10KB into bytes, rejecting unknown units and negative numbers please.",
             "Parse a size such as 10KB into bytes, rejecting unknown units and negative numbers, please."]
    insts = [Instruction(f"i{n}", f"s{n}", t, "c") for n, t in enumerate(texts)]
    assert [task_name(t) for t in texts] == ["find_kth_smallest", "find_kth_smallest", "document",
                                             "find_kth_smallest", None, None]
    kept, counts = distinct_instructions(insts)
    assert [i.id for i in kept] == ["i0", "i2", "i4"]
    assert counts == {"same_name": 2, "near_duplicates": 1}


# --------------------------------------------------------------------------- answers without tests

def test_answers_that_stop_before_their_tests_are_asked_for_them(tmp_path, sandbox):
    from codefill.jobs.instruct_data.pipeline import InstructConfig, run_instruct

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "m.py").write_text('def later_add(a, b):\n    """Sum of a and b."""\n    return a + b\n\n\n'
                               'def notests_sub(a, b):\n    """Difference of a and b."""\n    return a - b\n')
    log: list[dict] = []
    with FakeServer(instruct_app(log)) as server:
        config = InstructConfig(repo=str(repo), url=server.url, out=str(tmp_path / "x.jsonl"), responses=1,
                                progress=False)
        report = run_instruct(config, decontaminator=None, sandbox=sandbox)
    assert requests_of(log) == {"instruction": 2, "response": 2, "evolution": 0, "tests": 2}
    assert report.responses["tests_asked"] == 2
    assert report.validation["outcomes"]["passed"] == 1 and report.validation["outcomes"]["no_tests"] == 1
    row = (tmp_path / "x.jsonl").read_text().splitlines()
    assert len(row) == 1 and "[Tests]\\n```python\\nassert later_add() == 42" in row[0]


# --------------------------------------------------------------------------- answers to another question

def test_an_answer_must_define_what_the_instruction_names_and_not_be_an_example(sandbox):
    ask = "Write a Python class `Segment` with a `text` attribute and a `cell_length()` method."
    example = answer("def batched(items, n):\n    if not isinstance(n, int) or n <= 0:\n"
                     "        raise ValueError(\"n must be a positive integer\")\n"
                     "    return [items[i:i + n] for i in range(0, len(items), n)]",
                     "assert batched([1, 2, 3], 2) == [[1, 2], [3]]")
    other = answer("def cell_length(text):\n    return len(text)", "assert cell_length('ab') == 2")
    stub = answer('class Segment:\n    """A piece of text."""\n    ...', "assert Segment")
    real = answer("class Segment:\n    def __init__(self, text):\n        self.text = text\n\n"
                  "    def cell_length(self):\n        return len(self.text)",
                  "assert Segment('ab').cell_length() == 2")
    outcomes, kept, _ = validate([Candidate("s", i, a, ask) for i, a in enumerate((example, other, stub, real))],
                                 limits=LIMITS, sandbox=sandbox)
    assert [o.outcome for o in outcomes] == ["copies_example", "off_task", "off_task", "passed"]
    assert kept["s"].index == 3


def test_a_code_fence_is_not_a_name():
    assert task_name("Complete this:\n```python\ndef f(): ...\n```") is None
    assert task_name("Implement ``` `def area(w, h)` ```") == "area"


# --------------------------------------------------------------------------- answers in the model's own voice

def test_the_tests_of_an_own_answer_keep_only_checks():
    from codefill.jobs.instruct_data.own_answers import tests_from_reply

    reply = ("Sure:\n```python\nimport math\n\ndef area(r):\n    return math.pi * r * r\n\n"
             "class Helper:\n    pass\n\nassert area(1) == math.pi\nassert area(0) == 0\n```\nDone.")
    assert tests_from_reply(reply) == "import math\nassert area(1) == math.pi\nassert area(0) == 0\n"
    assert tests_from_reply("assert f(1) == 2") == "assert f(1) == 2\n"  # no fence: the reply itself
    assert tests_from_reply("I cannot write tests for this.") == ""
    assert tests_from_reply("```python\ndef f():\n    return 1\n```") == ""  # a solution, no checks
    cut = "```python\nassert f(1) == 2\nassert f(2) == 4\nassert f(3) == \"six and"  # cut at max_tokens
    assert tests_from_reply(cut) == "assert f(1) == 2\nassert f(2) == 4\n"


def test_an_own_answer_runs_whole_before_its_tests(sandbox):
    """Its example calls and self-checks run too: a reply whose own check asserts a wrong value fails."""
    from codefill.jobs.instruct_data.prompts import with_tests

    reply = ("```python\ndef double(x):\n    return 2 * x\n\ndef check():\n    assert double(2) == 5\n\n"
             "check()\n```")
    outcomes, kept, _ = validate([Candidate("s", 0, with_tests(reply, "assert double(2) == 4\n"), "Write `double`.")],
                                 limits=LIMITS, sandbox=sandbox)
    assert outcomes[0].outcome == "failed" and "check()" in outcomes[0].result.stderr_tail and not kept


def test_an_own_answer_is_run_with_the_tests_and_kept_without_them(sandbox):
    from codefill.jobs.instruct_data.own_answers import answer_of
    from codefill.jobs.instruct_data.prompts import with_tests

    reply = "Here it is:\n\n```python\ndef double(x):\n    return 2 * x\n```\n\nIt doubles `x`."
    joined = with_tests(reply, "assert double(2) == 4\n")
    outcomes, kept, _ = validate([Candidate("s", 0, joined, "Write `double`.")], limits=LIMITS, sandbox=sandbox)
    assert outcomes[0].outcome == "passed"
    assert answer_of(kept["s"].response.text) == reply
