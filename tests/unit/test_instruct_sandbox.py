"""`data instruct`'s runs in the sandbox: the statuses it reports (passed, failed, timeout, memory).

What the sandbox keeps in (files, network, processes, namespaces, bombs) is tested in
tests/unit/test_sandbox_escapes.py, for every caller at once.
"""

from __future__ import annotations

import time

from codefill.jobs.instruct_data.sandbox import SandboxLimits, classify, run_sandboxed
from codefill.jobs.sandbox import UnsafeNoSandbox

FAST = SandboxLimits(timeout_s=5, memory_mb=512)


def run(program: str, sandbox, limits: SandboxLimits = FAST):
    return run_sandboxed(program, limits=limits, sandbox=sandbox)


def test_a_correct_program_passes_and_a_wrong_one_fails(sandbox):
    ok = run("def f():\n    return 42\n\nassert f() == 42\n", sandbox)
    assert ok.status == "passed" and ok.returncode == 0
    bad = run("def f():\n    return 41\n\nassert f() == 42, 'wrong'\n", sandbox)
    assert bad.status == "failed" and "AssertionError: wrong" in bad.stderr_tail


def test_an_infinite_loop_is_stopped_by_the_wall_clock(sandbox):
    limits = SandboxLimits(timeout_s=1.5, memory_mb=512)
    start = time.monotonic()
    busy = run("while True:\n    pass\n", sandbox, limits)
    sleepy = run("import time\nwhile True:\n    time.sleep(0.1)\n", sandbox, limits)  # no CPU time used
    assert busy.status == "timeout" and busy.returncode is None
    assert sleepy.status == "timeout" and "killed after 1.5 s" in sleepy.stderr_tail
    assert time.monotonic() - start < 2 * 1.5 + 4


def test_a_memory_bomb_gets_a_memory_error(sandbox):
    limits = SandboxLimits(timeout_s=20, memory_mb=256)
    start = time.monotonic()
    growing = run("blocks = []\nwhile True:\n    blocks.append(bytearray(16 * 2**20))\n", sandbox, limits)
    huge = run("x = bytearray(8 * 2**30)\n", sandbox, limits)
    assert growing.status == "memory" and "MemoryError" in growing.stderr_tail
    assert huge.status == "memory"
    assert time.monotonic() - start < 15


def test_writes_and_temporary_files_inside_its_folder_work(sandbox):
    program = (
        "import json, os, pathlib, shutil, tempfile\n"
        "pathlib.Path('data/sub').mkdir(parents=True)\n"
        "pathlib.Path('data/sub/a.json').write_text(json.dumps([1, 2]))\n"
        "assert json.loads(open('data/sub/a.json').read()) == [1, 2]\n"
        "with tempfile.TemporaryDirectory() as d:\n"
        "    open(os.path.join(d, 'x'), 'w').write('y')\n"
        "shutil.rmtree('data')\n"
        "assert os.path.expanduser('~') == os.getcwd()\n"
    )
    result = run(program, sandbox)
    assert result.status == "passed", result.stderr_tail


def test_ordinary_libraries_work(sandbox):
    program = (
        "import asyncio, collections, ctypes, dataclasses, decimal, fractions, functools, heapq, itertools, json\n"
        "import math, pickle, random, re, statistics, string, threading, typing, unittest\n"
        "@dataclasses.dataclass\nclass P:\n    x: int\n"
        "assert pickle.loads(pickle.dumps(P(1))) == P(1)\n"
        "assert asyncio.run(asyncio.sleep(0, result=3)) == 3\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "with ThreadPoolExecutor(4) as pool:\n    assert list(pool.map(abs, [-1, -2])) == [1, 2]\n"
    )
    result = run(program, sandbox)
    assert result.status == "passed", result.stderr_tail


def test_an_early_exit_is_not_a_pass(sandbox):
    for early in ("import sys\nsys.exit(0)\n", "import os\nos._exit(0)\n", "exit()\n"):
        result = run(early + "assert False\n", sandbox)
        assert result.status == "failed", early
        assert "ended before its last statement" in result.stderr_tail


def test_the_statuses():
    assert classify(None, True, "") == "timeout"
    assert classify(128 + 24, False, "") == "timeout"  # SIGXCPU, as bwrap reports a signal
    assert classify(0, False, "") == "passed"
    assert classify(0, False, "", completed=False) == "failed"
    assert classify(1, False, "MemoryError\n") == "memory"
    assert classify(1, False, "AssertionError\n") == "failed"


def test_the_unsafe_runner_keeps_the_same_statuses():
    unsafe = UnsafeNoSandbox(warn=False)
    assert run("assert 1 + 1 == 2\n", unsafe).status == "passed"
    assert run("import sys\nsys.exit(0)\nassert False\n", unsafe).status == "failed"
    assert run("while True:\n    pass\n", unsafe, SandboxLimits(timeout_s=1, memory_mb=512)).status == "timeout"
