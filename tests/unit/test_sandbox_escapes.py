"""Escape tests of the sandbox of model-written code (`codefill.jobs.sandbox`, bubblewrap).

Each program below tries to get out; each test then looks at the OUTSIDE world (files the test
made, a listener it opened, the host's process table), not at what the program says about itself.
Where a program has to be able to see something for the test to mean anything, a control run
without the sandbox (`UnsafeNoSandbox`) shows that it does.
"""

from __future__ import annotations

import os
import secrets
import shlex
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from codefill.jobs.sandbox import Limits, UnsafeNoSandbox, get_sandbox, seccomp

REPO = Path(__file__).resolve().parents[2]
FAST = Limits(timeout_s=10, memory_mb=512)
FORKS = Limits(timeout_s=10, memory_mb=512, new_processes=True)


def run(sandbox, program: str, limits: Limits = FAST):
    return sandbox.run(program, limits)


def guarded(*attempts: str) -> str:
    """A program that makes every attempt in turn, each in a try block, and then ends normally
    (so the test knows every attempt was made)."""
    body = ["import os, sys, socket, subprocess, ctypes", "def say(*a):", "    print(*a, file=sys.stderr)"]
    for i, attempt in enumerate(attempts):
        body.append("try:")
        body += ["    " + line for line in attempt.strip("\n").splitlines()]
        body.append(f"except BaseException as exc:\n    say('attempt {i}:', type(exc).__name__, exc)")
    body.append("say('all attempts made')")
    return "\n".join(body) + "\n"


# --------------------------------------------------------------------------- the ordinary case


def test_a_correct_program_passes_a_wrong_one_fails_a_loop_times_out(sandbox):
    from codefill.jobs.evaluation.execution import run_program
    from codefill.jobs.evaluation.humaneval import load_problems

    problem = next(p for p in load_problems() if p.task_id == "HumanEval/0")
    program = problem.prompt + problem.canonical_solution + "\n" + problem.test + f"\ncheck({problem.entry_point})\n"
    assert run_program(program, sandbox=sandbox).status == "passed"
    wrong = problem.prompt + "    return True\n" + "\n" + problem.test + f"\ncheck({problem.entry_point})\n"
    result = run_program(wrong, sandbox=sandbox)
    assert result.status == "failed" and "AssertionError" in result.stderr_tail
    start = time.monotonic()
    loop = run_program("while True:\n    pass\n", timeout_s=1.5, sandbox=sandbox)
    assert loop.status == "timeout" and time.monotonic() - start < 8


def test_the_sandbox_is_what_it_says(sandbox):
    """uid 65534 without capabilities, no_new_privs, a seccomp filter, a private pid namespace."""
    program = (
        "import os, socket\n"
        "assert (os.getuid(), os.getgid(), os.geteuid()) == (65534, 65534, 65534)\n"
        "status = dict(line.split(':', 1) for line in open('/proc/self/status').read().splitlines())\n"
        "assert status['NoNewPrivs'].strip() == '1' and status['Seccomp'].strip() == '2', status\n"
        "assert all(int(status[c], 16) == 0 for c in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'))\n"
        "assert sorted(n for _, n in socket.if_nameindex()) in ([], ['lo'])\n"
        "pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
        "assert pids == [1, os.getpid()], pids\n"
        "assert socket.gethostname() == 'codefill-sandbox'\n"
        "assert os.getcwd() == os.path.expanduser('~') == '/tmp'\n"
    )
    result = run(sandbox, program)
    assert result.passed, result.stderr_tail


# --------------------------------------------------------------------------- files


@pytest.fixture
def outside(tmp_path):
    """A folder outside the sandbox holding one file with known contents."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "existing.txt").write_text("original")
    return folder


def assert_untouched(folder: Path):
    assert sorted(p.name for p in folder.iterdir()) == ["existing.txt"]
    assert (folder / "existing.txt").read_text() == "original"


WRITES = [
    "open(TARGET, 'w').write('x')",
    "open(EXISTING, 'w').write('x')",
    "open(EXISTING, 'a').write('x')",
    "import pathlib\npathlib.Path(TARGET).write_text('x')",
    "os.makedirs(os.path.dirname(TARGET), exist_ok=True)\nopen(TARGET, 'w').write('x')",
    "fd = os.open(TARGET, os.O_WRONLY | os.O_CREAT)\nos.write(fd, b'x')",
    "open('inside.txt', 'w').write('x')\nos.rename('inside.txt', TARGET)",
    "import shutil\nopen('inside.txt', 'w').write('x')\nshutil.copyfile('inside.txt', TARGET)",
    "os.symlink(os.path.dirname(TARGET), 'out')\nopen('out/victim.txt', 'w').write('x')",
    "open('/proc/self/root' + TARGET, 'w').write('x')",
    "open('/proc/1/root' + TARGET, 'w').write('x')",
    "open(f'/proc/{HOST_PID}/root' + TARGET, 'w').write('x')",
    "os.remove(EXISTING)",
    "os.chmod(EXISTING, 0o777)",
]


def test_writes_outside_never_land(sandbox, outside):
    target = outside / "victim.txt"
    program = (f"TARGET = {str(target)!r}\nEXISTING = {str(outside / 'existing.txt')!r}\nHOST_PID = {os.getpid()}\n"
               + guarded(*WRITES))
    result = run(sandbox, program)
    assert "all attempts made" in result.stderr_tail, result.stderr_tail
    assert_untouched(outside)


def test_writes_by_child_processes_never_land(sandbox, outside):
    target = outside / "victim.txt"
    shell = f"mkdir -p {outside} && echo x > {target}; echo x > {outside / 'existing.txt'}"
    attempts = [
        f"os.system({shell!r})",
        f"subprocess.run(['sh', '-c', {shell!r}])",
        f"ctypes.CDLL(None).system({shell!r}.encode())",
    ]
    for limits in (FAST, FORKS):
        result = run(sandbox, guarded(*attempts), limits)
        assert "all attempts made" in result.stderr_tail, result.stderr_tail
        assert_untouched(outside)


def test_the_repository_the_venv_and_the_system_are_read_only(sandbox):
    """A .pth file in site-packages would run code in every later Python of the host."""
    import sysconfig

    name = f"codefill-escape-{secrets.token_hex(4)}"
    targets = [REPO / f"{name}.txt", Path(sysconfig.get_paths()["purelib"]) / f"{name}.pth",
               Path(sys.prefix) / f"{name}.txt", Path(sys.base_prefix) / f"{name}.txt", Path("/usr/lib") / name,
               Path("/etc") / name]
    program = f"TARGETS = {[str(t) for t in targets]!r}\n" + guarded(
        "for t in TARGETS:\n    try:\n        open(t, 'w').write('import os')\n    except OSError as e:\n"
        "        say(t, e)")
    try:
        result = run(sandbox, program)
        assert "all attempts made" in result.stderr_tail
        assert [t for t in targets if t.exists()] == []
    finally:
        for t in targets:
            t.unlink(missing_ok=True)


def test_reads_outside_see_nothing(sandbox, tmp_path, monkeypatch):
    secret = secrets.token_hex(16)
    (tmp_path / "secret.txt").write_text(secret)
    monkeypatch.setenv("CODEFILL_ESCAPE_SECRET", secret)  # in the environment of codefill itself
    program = f"SECRET = {str(tmp_path / 'secret.txt')!r}\nHOST_PID = {os.getpid()}\n" + guarded(
        "say(open(SECRET).read())",
        "say(os.listdir(os.path.dirname(SECRET)))",
        "say(open(f'/proc/{HOST_PID}/environ').read())",
        "say(open('/proc/1/environ').read())",
        "say(open('/proc/self/environ').read())",
        "say(dict(os.environ))",
        "say(open('/etc/shadow').read())",
        "say(open('/proc/1/cmdline').read())",
    )
    result = run(sandbox, program)
    assert "all attempts made" in result.stderr_tail
    assert secret not in result.stderr_tail
    control = run(UnsafeNoSandbox(warn=False), f"SECRET = {str(tmp_path / 'secret.txt')!r}\n" + guarded(
        "say(open(SECRET).read())"))  # the same read does see it without the sandbox
    assert secret in control.stderr_tail


def test_home_root_and_the_repository_cannot_be_listed(sandbox):
    home = Path.home()
    marker = home / f".codefill-escape-marker-{secrets.token_hex(4)}"
    marker.write_text("x")
    try:
        places = sorted({str(home), "/root", "/root/.ssh", "/home", str(REPO), str(REPO.parent)})
        program = f"PLACES = {places!r}\n" + guarded(
            "for p in PLACES:\n    try:\n        say(p, os.listdir(p))\n    except OSError as e:\n        say(p, e)")
        result = run(sandbox, program, Limits(timeout_s=10, memory_mb=512, file_mb=16))
        assert "all attempts made" in result.stderr_tail
        assert marker.name not in result.stderr_tail
        assert "pyproject.toml" not in result.stderr_tail  # the repository's files
        control = run(UnsafeNoSandbox(warn=False), program)
        assert marker.name in control.stderr_tail
    finally:
        marker.unlink(missing_ok=True)


# --------------------------------------------------------------------------- network


class Listener:
    """A TCP listener the test opened; `arrived()` says whether anything connected."""

    def __init__(self, family=socket.AF_INET, address=("127.0.0.1", 0)):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind(address)
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.address = self.sock.getsockname()

    def arrived(self) -> bool:
        # The kernel completes the handshake into the backlog: a non-blocking accept sees it.
        try:
            conn, _ = self.sock.accept()
        except BlockingIOError:
            return False
        conn.close()
        return True

    def close(self):
        self.sock.close()


def _host_ipv4_addresses() -> list[str]:
    import psutil

    return sorted({a.address for addrs in psutil.net_if_addrs().values() for a in addrs
                   if a.family == socket.AF_INET})


@pytest.fixture
def listeners(tmp_path):
    made = {"tcp4": Listener(socket.AF_INET, ("0.0.0.0", 0))}
    try:
        made["tcp6"] = Listener(socket.AF_INET6, ("::1", 0))
    except OSError:
        pass
    made["unix"] = Listener(socket.AF_UNIX, str(tmp_path / "listener.sock"))
    made["abstract"] = Listener(socket.AF_UNIX, "\0codefill-escape-" + secrets.token_hex(4))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("0.0.0.0", 0))
    udp.setblocking(False)
    yield made, udp
    for listener in made.values():
        listener.close()
    udp.close()


def test_no_connection_reaches_a_listener_of_the_host(sandbox, listeners):
    made, udp = listeners
    port = made["tcp4"].address[1]
    attempts = [f"socket.create_connection(({ip!r}, {port}), timeout=2).sendall(b'hi')"
                for ip in ["127.0.0.1", *_host_ipv4_addresses()]]
    if "tcp6" in made:
        attempts.append(f"socket.create_connection(('::1', {made['tcp6'].address[1]}), timeout=2)")
    for name in ("unix", "abstract"):
        attempts.append(f"s = socket.socket(socket.AF_UNIX)\ns.settimeout(2)\ns.connect({made[name].address!r})")
    for ip in ["127.0.0.1", *_host_ipv4_addresses()]:
        attempts.append(f"socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'hi', ({ip!r}, "
                        f"{udp.getsockname()[1]}))")
    result = run(sandbox, guarded(*attempts))
    assert "all attempts made" in result.stderr_tail, result.stderr_tail
    assert [n for n, listener in made.items() if listener.arrived()] == []
    with pytest.raises(BlockingIOError):
        udp.recv(100)
    control = run(UnsafeNoSandbox(warn=False), guarded(attempts[0]))
    assert "all attempts made" in control.stderr_tail and made["tcp4"].arrived()


# --------------------------------------------------------------------------- processes


def host_processes_with(marker: str) -> list[int]:
    """Pids of the host's processes whose command line holds `marker`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


def gone_soon(marker: str, within_s: float = 3.0) -> bool:
    deadline = time.monotonic() + within_s
    while host_processes_with(marker):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def survivor_attempts(seconds: str) -> list[str]:
    """Ways to leave a `sleep SECONDS` behind (SECONDS is unique to the test)."""
    return [
        f"os.system('setsid sleep {seconds} >/dev/null 2>&1 &')",
        f"os.system('nohup sleep {seconds} >/dev/null 2>&1 &')",
        f"subprocess.Popen(['sleep', '{seconds}'], start_new_session=True)",
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execv('/usr/bin/sleep', ['sleep', '{seconds}'])\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)",
        f"ctypes.CDLL(None).system(b'setsid sleep {seconds} &')",
        "import cffi\nffi = cffi.FFI()\nffi.cdef('int system(const char *);')\n"
        f"ffi.dlopen(None).system(b'setsid sleep {seconds} &')",
    ]


def wait_for_sleepers(seconds: str) -> str:
    """Program text: wait (up to 5 s) until the sleepers show in the sandbox's own /proc."""
    return (f"import time\nfor _ in range(100):\n"
            f"    n = sum(1 for p in os.listdir('/proc') if p.isdigit() and b'{seconds}' in "
            f"open(f'/proc/{{p}}/cmdline', 'rb').read())\n"
            f"    if n:\n        break\n    time.sleep(0.05)\nsay('sleepers running:', n)\n")


@pytest.mark.parametrize("limits", [FAST, FORKS], ids=["no-new-processes", "new-processes-allowed"])
def test_no_process_outlives_the_run(sandbox, limits):
    seconds = f"{secrets.randbelow(10**6) + 10**6}.{secrets.randbelow(1000)}"
    program = guarded(*survivor_attempts(seconds)) + wait_for_sleepers(seconds)
    result = run(sandbox, program, limits)
    assert "all attempts made" in result.stderr_tail
    if limits.new_processes:  # they did start (so the test is not vacuous) ...
        assert "sleepers running: 0" not in result.stderr_tail, result.stderr_tail
    assert gone_soon(seconds), host_processes_with(seconds)  # ... and are gone with the sandbox


def test_no_process_outlives_a_run_killed_at_the_time_limit(sandbox):
    seconds = f"{secrets.randbelow(10**6) + 10**6}.{secrets.randbelow(1000)}"
    program = guarded(*survivor_attempts(seconds)) + "while True:\n    pass\n"
    start = time.monotonic()
    result = run(sandbox, program, Limits(timeout_s=2, memory_mb=512, new_processes=True))
    assert result.timed_out and time.monotonic() - start < 8
    assert gone_soon(seconds), host_processes_with(seconds)


def test_the_control_a_survivor_does_survive_without_the_sandbox():
    seconds = f"{secrets.randbelow(10**6) + 10**6}.{secrets.randbelow(1000)}"
    result = run(UnsafeNoSandbox(warn=False), guarded(survivor_attempts(seconds)[0]) + "time = __import__('time')\n"
                 "time.sleep(0.5)\n")
    try:
        assert result.passed and host_processes_with(seconds)
    finally:
        for pid in host_processes_with(seconds):
            os.kill(pid, 9)


def test_ctypes_cffi_and_subinterpreters_do_not_get_out(sandbox, outside, listeners):
    made, _ = listeners
    target = outside / "victim.txt"
    port = made["tcp4"].address[1]
    touch = f"mkdir -p {outside}; touch {target}; echo x > {outside / 'existing.txt'}"
    connect = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)"
    write = f"open({str(target)!r}, 'w').write('x')"
    system = f"import os; os.system({touch!r})"
    attempts = [
        f"ctypes.CDLL(None).system({touch!r}.encode())",
        "import cffi\nffi = cffi.FFI()\nffi.cdef('int system(const char *);')\n"
        f"say('cffi system:', ffi.dlopen(None).system({touch!r}.encode()))",
        "try:\n    import _interpreters as interpreters\nexcept ImportError:\n    import _xxsubinterpreters as interpreters\n"
        "interp = interpreters.create()\n"
        f"interpreters.run_string(interp, {write!r})",
        "try:\n    import _interpreters as interpreters\nexcept ImportError:\n    import _xxsubinterpreters as interpreters\n"
        "interp = interpreters.create()\n"
        f"interpreters.run_string(interp, {system!r})",
        "try:\n    import _interpreters as interpreters\nexcept ImportError:\n    import _xxsubinterpreters as interpreters\n"
        f"interpreters.run_string(interpreters.create(), {connect!r})",
    ]
    execv = (f"ctypes.CDLL('libc.so.6').execv(b'/bin/sh', (ctypes.c_char_p * 4)(b'sh', b'-c', {touch!r}.encode(), "
             "None))")  # replaces the program: it has its own run
    for limits in (FAST, FORKS):
        result = run(sandbox, guarded(*attempts), limits)
        assert "all attempts made" in result.stderr_tail, result.stderr_tail
        run(sandbox, guarded(execv), limits)
        assert_untouched(outside)
        assert not made["tcp4"].arrived()


def test_the_modules_these_attempts_need_are_there():
    """The attempts above are not vacuous: cffi and a subinterpreter module import in this venv."""
    import ctypes  # noqa: F401

    import cffi  # noqa: F401

    try:
        import _interpreters  # noqa: F401
    except ImportError:
        import _xxsubinterpreters  # noqa: F401


def test_nsenter_unshare_and_raw_namespace_calls_do_not_get_out(sandbox, outside, listeners):
    made, _ = listeners
    port = made["tcp4"].address[1]
    target = outside / "victim.txt"
    connect = [sys.executable, "-I", "-c",
               f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)"]
    touch = ["sh", "-c", f"mkdir -p {outside}; touch {target}"]
    host = os.getpid()
    commands = {
        "nsenter 1": ["nsenter", "-t", "1", "-n", "-m", "-p", "--", *touch],
        "nsenter 1 net": ["nsenter", "-t", "1", "-n", "--", *connect],
        "nsenter host": ["nsenter", "-t", str(host), "-a", "--", *touch],
        "unshare -r": ["unshare", "-r", "-m", "-n", "--", *touch],
        "unshare -U": ["unshare", "-U", "--map-root-user", "--", *connect],
    }
    attempts = [
        *(f"say({name!r}, os.system({shlex.join(cmd)!r}))" for name, cmd in commands.items()),
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "for flags in (0x10000000, 0x40000000, 0x00020000, 0x20000000):\n"
        "    say('unshare', hex(flags), libc.unshare(flags), ctypes.get_errno())\n"
        "for path in ('/proc/1/ns/net', '/proc/1/ns/mnt', '/proc/1/ns/user'):\n"
        "    try:\n        fd = os.open(path, os.O_RDONLY)\n        say('setns', path, libc.setns(fd, 0), ctypes.get_errno())\n"
        "    except OSError as e:\n        say(path, e)\n"
        f"socket.create_connection(('127.0.0.1', {port}), timeout=2)",
        f"open({str(target)!r}, 'w').write('x')",
    ]
    for limits in (FAST, FORKS):
        result = run(sandbox, guarded(*attempts), limits)
        assert "all attempts made" in result.stderr_tail, result.stderr_tail
        assert not made["tcp4"].arrived()
        assert_untouched(outside)


def test_seccomp_refuses_the_calls_it_lists(sandbox):
    """From inside: every call of `seccomp.DENIED` fails with EPERM (arguments all zero: the filter
    answers before the kernel looks at them), so do fork and a clone into a new namespace; threads work."""
    column = 0 if os.uname().machine == "x86_64" else 1
    numbers = {name: nrs[column] for name, nrs in seccomp.SYSCALLS.items() if nrs[column] is not None}
    program = (
        "import ctypes, errno, os, threading\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"numbers = {numbers!r}\n"
        "wrong = []\n"
        "for name, nr in numbers.items():\n"
        "    ctypes.set_errno(0)\n"
        "    if libc.syscall(nr, 0, 0, 0, 0, 0, 0) != -1 or ctypes.get_errno() != errno.EPERM:\n"
        "        wrong.append(name)\n"
        "assert not wrong, wrong\n"
        "try:\n    os.fork()\nexcept PermissionError:\n    pass\nelse:\n    raise AssertionError('fork')\n"
        "assert libc.unshare(0x10000000) == -1 and ctypes.get_errno() == errno.EPERM\n"
        "t = threading.Thread(target=lambda: None)\nt.start()\nt.join()\n"
    )
    result = run(sandbox, program)
    assert result.passed, result.stderr_tail
    assert len(numbers) > 40


def test_the_seccomp_filter_is_well_formed():
    for machine in ("x86_64", "aarch64"):
        for new_processes in (False, True):
            bpf = seccomp.build_filter(new_processes=new_processes, machine=machine)
            assert bpf is not None and len(bpf) % 8 == 0 and 40 <= len(bpf) // 8 <= 120
    assert seccomp.build_filter(machine="riscv64") is None


# --------------------------------------------------------------------------- bombs


def _count_host_processes() -> int:
    return sum(1 for p in os.listdir("/proc") if p.isdigit())


@pytest.mark.parametrize("limits", [
    Limits(timeout_s=3, memory_mb=256, processes=16, new_processes=True),
    Limits(timeout_s=3, memory_mb=256),
], ids=["forks-allowed-nproc-16", "no-new-processes"])
def test_a_fork_bomb_is_bounded(sandbox, limits):
    program = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    baseline = _count_host_processes()
    peak = [baseline]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _count_host_processes())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    start = time.monotonic()
    try:
        result = run(sandbox, program, limits)
    finally:
        stop.set()
        sampler.join()
    assert result.timed_out and time.monotonic() - start < limits.timeout_s + 6
    # bwrap's two processes, at most `processes` of the program's, and whatever else the machine runs
    assert peak[0] - baseline <= limits.processes + 30, (baseline, peak[0])
    deadline = time.monotonic() + 5
    while _count_host_processes() > baseline + 30 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _count_host_processes() <= baseline + 30


def test_a_thread_bomb_is_bounded(sandbox):
    program = ("import threading, time, sys\nn = 0\ntry:\n    while True:\n"
               "        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n        n += 1\n"
               "except RuntimeError:\n    pass\nprint('threads', n, file=sys.stderr)\nassert n < 32, n\n")
    start = time.monotonic()
    result = run(sandbox, program, Limits(timeout_s=10, memory_mb=1024, processes=32))
    assert result.passed, result.stderr_tail
    assert time.monotonic() - start < 10


def test_a_memory_bomb_is_bounded(sandbox):
    start = time.monotonic()
    limits = Limits(timeout_s=20, memory_mb=256)
    growing = run(sandbox, "blocks = []\nwhile True:\n    blocks.append(bytearray(16 * 2**20))\n", limits)
    huge = run(sandbox, "x = bytearray(8 * 2**30)\n", limits)
    tmpfs = run(sandbox, "with open('big', 'wb') as f:\n    for _ in range(1000):\n        f.write(bytes(2**20))\n",
                Limits(timeout_s=20, memory_mb=256, file_mb=1024, tmp_mb=32))
    assert "MemoryError" in growing.stderr_tail and not growing.passed
    assert "MemoryError" in huge.stderr_tail and not huge.passed
    assert "No space left on device" in tmpfs.stderr_tail and not tmpfs.passed  # its folder is bounded too
    assert time.monotonic() - start < 15


# --------------------------------------------------------------------------- a pass is a pass


EARLY_EXITS = [
    "import sys\nsys.exit(0)",
    "import os\nos._exit(0)",
    "exit(0)",
    "quit()",
    "raise SystemExit",
    "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)",
    "import atexit, os\natexit.register(os._exit, 0)\nraise ValueError('x')",
    "import os\nfor fd in range(3, 64):\n    try:\n        os.write(fd, b'0' * 32)\n    except OSError:\n        pass\nos._exit(0)",
]


@pytest.mark.parametrize("early", EARLY_EXITS)
def test_exiting_before_the_asserts_is_not_a_pass(sandbox, early):
    from codefill.jobs.evaluation.execution import run_program
    from codefill.jobs.instruct_data.sandbox import SandboxLimits, run_sandboxed

    program = f"def f():\n    return 41\n\n{early}\nassert f() == 42\n"
    assert run_program(program, sandbox=sandbox).status != "passed"
    assert run_sandboxed(program, limits=SandboxLimits(timeout_s=10, memory_mb=512), sandbox=sandbox).status != "passed"
    # and the same program without the early exit: it fails on its assert, and passes when right
    assert run_program(program.replace(early, ""), sandbox=sandbox).status == "failed"
    assert run_program(program.replace(early, "").replace("41", "42"), sandbox=sandbox).status == "passed"


def test_a_humaneval_completion_that_exits_early_fails(sandbox):
    from codefill.jobs.evaluation.execution import build_program, run_program
    from codefill.jobs.evaluation.humaneval import load_problems

    problem = next(p for p in load_problems() if p.task_id == "HumanEval/0")
    for body in ("    import sys; sys.exit(0)\n", "    import os; os._exit(0)\n"):
        program = build_program(problem.prompt, body, "", problem.test, problem.entry_point)
        assert run_program(program, sandbox=sandbox).status == "failed"


# --------------------------------------------------------------------------- refusal, overhead


def test_without_bwrap_the_sandbox_refuses_and_says_how_to_install_it(monkeypatch):
    import codefill.jobs.sandbox.bubblewrap as bubblewrap
    from codefill.jobs.sandbox import SandboxUnavailable

    monkeypatch.setattr(bubblewrap.shutil, "which", lambda name: None)
    monkeypatch.setattr(bubblewrap, "_cache", {})
    with pytest.raises(SandboxUnavailable) as refused:
        get_sandbox()
    assert "apt-get install bubblewrap" in str(refused.value)
    assert not get_sandbox(unsafe_no_sandbox=True).isolated  # the explicit waiver


def test_the_overhead_per_run_is_small(sandbox):
    """bwrap's cost over a plain child process, for the report: the median of 9 runs of a trivial
    program each (medians: a loaded CI machine delays some runs a lot)."""
    import statistics

    def median_s(runner) -> float:
        runner.run("pass\n", FAST)  # warm the page cache
        times = []
        for _ in range(9):
            start = time.monotonic()
            assert runner.run("pass\n", FAST).passed
            times.append(time.monotonic() - start)
        return statistics.median(times)

    plain, boxed = median_s(UnsafeNoSandbox(warn=False)), median_s(sandbox)
    print(f"\nper run (median): plain {plain * 1000:.0f} ms, bubblewrap {boxed * 1000:.0f} ms, "
          f"overhead {(boxed - plain) * 1000:.0f} ms")
    assert boxed < plain + 1.0


@pytest.mark.parametrize("benchmark", ["humaneval-infill", "humaneval", "mbpp"])
def test_the_eval_commands_refuse_without_bwrap_before_asking_the_server(monkeypatch, capsys, tmp_path, benchmark):
    import codefill.jobs.sandbox.bubblewrap as bubblewrap
    from codefill.commands.cli import main

    monkeypatch.setattr(bubblewrap.shutil, "which", lambda name: None)
    monkeypatch.setattr(bubblewrap, "_cache", {})
    out = tmp_path / "report.json"
    rc = main(["eval", benchmark, "--url", "http://127.0.0.1:9", "--limit", "1", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1 and "apt-get install bubblewrap" in err and "--unsafe-no-sandbox" in err
    assert "connect" not in err.lower() and not out.exists()  # refused before any request
