"""Run model-written code and its tests in a separate, limited Python process.

What the child gets (each line is a separate layer; the first three are the
kernel's, the last is Python's):

- **No network**: a new network namespace (`unshare --net`; as a user that is
  not root, `unshare --user --map-root-user --net`), which holds only a loopback
  interface that is down. `detect_isolation` checks once that the namespace
  really has no other interface. Where no namespace can be made (no `unshare`,
  no privileges, user namespaces switched off, not Linux), running is refused
  with `NetworkIsolationUnavailable`, unless the caller allows the fallback:
  then a loud warning is logged and only the audit hook below blocks sockets.
- **Limits** (`setrlimit`, set between fork and exec): address space and data
  segment (`memory_mb`: a memory bomb gets a MemoryError), CPU seconds, size
  of any file written (`file_mb`), open files, no core dumps; and a wall-clock
  limit after which the whole process group is killed (`start_new_session`).
- **Its own folder**: a fresh temporary directory holds the program and is
  its cwd, HOME and TMPDIR; the environment is minimal (no API keys, no
  proxies), stdin is closed, stdout discarded, stderr kept (its tail is the
  result's), in a file the program cannot reach by name.
- **An audit hook** (`sys.addaudithook`, installed by `BOOTSTRAP` before the
  program runs with `python -I`): opening a file for writing, creating,
  removing, renaming or linking anything outside the folder; reading outside
  the folder, the Python installation and the system's library folders (so
  not the user's repository or home); `chdir` out of the folder; starting
  processes (`subprocess`, `os.system`, `os.exec*`, `os.fork`, `posix_spawn`);
  connecting or sending on a socket, DNS look-ups; signalling other
  processes; `ctypes` symbol look-ups. The first such event ends the program
  at once with exit status `VIOLATION_EXIT` and a `[codefill sandbox]` line on
  stderr: the result's status is "blocked" (a program cannot catch it and
  pass). `sys.path` loses entries outside those folders (an editable install
  of the user's project).

The audit hook guards against the accidents and the casual misbehaviour of
model-written code; CPython's documentation says plainly that audit hooks are
no security boundary against code written to escape them (through `ctypes`
memory writes, for one). The network namespace and the limits are the
kernel's. Run code from a model you do not trust at all in a container or VM.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Literal

from model.evaluation.execution import STDERR_TAIL_CHARS, ExecutionResult
from model.process_groups import wait_or_kill

log = logging.getLogger("codefill.instruct")

Status = Literal["passed", "failed", "timeout", "memory", "blocked"]
STATUSES: tuple[str, ...] = ("passed", "failed", "timeout", "memory", "blocked")

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MEMORY_MB = 1024
DEFAULT_FILE_MB = 16
DEFAULT_OPEN_FILES = 256
VIOLATION_EXIT = 86
VIOLATION_MARK = "[codefill sandbox] blocked"
PROGRAM_NAME = "program.py"

FALLBACK_HINT = (
    "run as root, or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 "
    "and user.max_user_namespaces > 0; on Ubuntu 24.04+ also "
    "kernel.apparmor_restrict_unprivileged_userns=0), or run codefill in a container"
)


class NetworkIsolationUnavailable(RuntimeError):
    """No network namespace could be made for the sandbox, and the fallback was not allowed."""


@dataclass(frozen=True)
class SandboxLimits:
    timeout_s: float = DEFAULT_TIMEOUT_S  # wall clock; the CPU limit is this + 1 s
    memory_mb: int | None = DEFAULT_MEMORY_MB  # RLIMIT_AS and RLIMIT_DATA
    file_mb: int | None = DEFAULT_FILE_MB  # RLIMIT_FSIZE
    open_files: int | None = DEFAULT_OPEN_FILES  # RLIMIT_NOFILE

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Isolation:
    """How the child is cut off from the network: a command prefix and what it gives."""

    prefix: tuple[str, ...]  # e.g. ("unshare", "--net"); () when there is no namespace
    network: Literal["namespace", "audit-hook-only"]
    description: str
    tried: tuple[str, ...] = field(default=())  # why each namespace attempt failed, when none worked

    @property
    def namespaced(self) -> bool:
        return self.network == "namespace"

    def to_dict(self) -> dict:
        return {"network": self.network, "prefix": list(self.prefix), "description": self.description,
                "tried": list(self.tried)}


# What one run gives: the same shape as a benchmark program's run (status, exit code, stderr's tail, time).
SandboxResult = ExecutionResult


# --------------------------------------------------------------------------- network namespaces

_PROBE = (
    "import socket, sys\n"
    "names = sorted(n for _, n in socket.if_nameindex())\n"
    "print(','.join(names))\n"
    "sys.exit(0 if names in ([], ['lo']) else 3)\n"
)


def namespace_candidates() -> list[tuple[str, ...]]:
    """Command prefixes that put a program in a new network namespace, best first."""
    unshare = shutil.which("unshare")
    if unshare is None or not sys.platform.startswith("linux"):
        return []
    candidates: list[tuple[str, ...]] = []
    if os.geteuid() == 0:
        candidates.append((unshare, "--net"))
    candidates.append((unshare, "--user", "--map-root-user", "--net"))
    return candidates


def _probe(prefix: tuple[str, ...], python: str) -> str | None:
    """None when `prefix` runs Python in a namespace with no interface but loopback; else why not."""
    try:
        done = subprocess.run([*prefix, python, "-I", "-c", _PROBE], capture_output=True, text=True,
                              timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{' '.join(prefix)}: {exc}"
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        if done.returncode == 3:
            why = f"interfaces still visible: {done.stdout.strip()}"
        return f"{' '.join(prefix)}: {why}"
    return None


_detected: dict[tuple, Isolation] = {}
_detect_lock = threading.Lock()


def detect_isolation(
    *, allow_fallback: bool = False, python: str | None = None,
    candidates: list[tuple[str, ...]] | None = None,
) -> Isolation:
    """The network isolation this machine allows (probed once per process and python).

    Raises `NetworkIsolationUnavailable` when no namespace can be made, unless
    `allow_fallback`: then the audit hook alone blocks sockets, and a warning
    says so loudly.
    """
    python = python or sys.executable
    key = (python, tuple(candidates) if candidates is not None else None)
    with _detect_lock:
        if key not in _detected:
            tried: list[str] = []
            found: Isolation | None = None
            for prefix in (namespace_candidates() if candidates is None else candidates):
                why = _probe(prefix, python)
                if why is None:
                    found = Isolation(prefix, "namespace", f"network namespace ({' '.join(prefix[1:])})")
                    break
                tried.append(why)
            if found is None:
                if not tried:
                    tried.append("`unshare` (util-linux) is not available on this system"
                                 if sys.platform.startswith("linux") else f"no network namespaces on {sys.platform}")
                found = Isolation((), "audit-hook-only", "no network namespace: sockets blocked by the audit hook only",
                                  tuple(tried))
            _detected[key] = found
        isolation = _detected[key]
    if isolation.namespaced:
        return isolation
    message = ("no network namespace could be made for the test sandbox (" + "; ".join(isolation.tried) + ")")
    if not allow_fallback:
        raise NetworkIsolationUnavailable(
            f"{message}. Model-written tests would run with only an in-process audit hook between them and the "
            f"network. Either {FALLBACK_HINT}, or pass --allow-network-sandbox-fallback to accept that.")
    log.warning("!" * 78)
    log.warning("WARNING: %s.", message)
    log.warning("WARNING: model-written code runs WITHOUT a network namespace; only Python's audit hook blocks "
                "sockets, which determined code can get around. To fix: %s.", FALLBACK_HINT)
    log.warning("!" * 78)
    return isolation


# --------------------------------------------------------------------------- the child's bootstrap

# Runs as `python -I -c BOOTSTRAP FOLDER PROGRAM`: installs the audit hook, then runs the program as __main__.
BOOTSTRAP = r'''
import os, sys
def _codefill_sandbox(root, program, exit_code):
    import sysconfig
    realpath, isabs, join, isdir, islink = (os.path.realpath, os.path.isabs, os.path.join,
                                            os.path.isdir, os.path.islink)
    fsdecode, write, _exit, getpid = os.fsdecode, os.write, os._exit, os.getpid
    root = realpath(root)
    paths = sysconfig.get_paths()
    read_roots = {root, "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc", "/sys",
                  "/dev", realpath("/proc/self"), "/proc/cpuinfo", "/proc/meminfo", "/proc/stat"}
    for p in (paths.get("stdlib"), paths.get("platstdlib"), paths.get("purelib"), paths.get("platlib"),
              sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        if p:
            read_roots.add(realpath(p))
    secret = {"/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/shadow-", "/etc/gshadow-"}
    write_ok = {"/dev/null", "/dev/stdout", "/dev/stderr"}
    read_roots = tuple(sorted(r.rstrip("/") or "/" for r in read_roots))
    WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def under(path, top):
        return path == top or path.startswith(top + "/")

    def readable(path):
        return path not in secret and any(under(path, r) for r in read_roots)

    def deny(event, what):
        try:
            write(2, ("\n[codefill sandbox] blocked " + event + ": " + repr(what) + "\n").encode("utf-8", "replace"))
        finally:
            _exit(exit_code)

    def resolve(path, dir_fd=None):
        path = fsdecode(path)
        if isinstance(dir_fd, int) and dir_fd >= 0 and not isabs(path):  # -1 / AT_FDCWD: relative to cwd
            path = join(os.readlink("/proc/self/fd/%d" % dir_fd), path)
        return realpath(path)

    def check_write(event, path, dir_fd=None):
        if path is None or isinstance(path, int):
            return  # a descriptor the program already holds
        raw = fsdecode(path)
        if raw in write_ok:
            return
        # The "open" event does not carry dir_fd: a relative path with ".." could be read from another folder.
        if not isabs(raw) and ".." in raw.split("/"):
            deny(event, raw)
        if not under(resolve(path, dir_fd), root):
            deny(event, raw)

    def check_read(event, path, dir_fd=None):
        if path is None or isinstance(path, int):
            return
        full = resolve(path, dir_fd)
        if not readable(full):
            deny(event, fsdecode(path))
        if isdir(full) and not under(full, root) and event == "open":
            deny(event, fsdecode(path))  # a directory descriptor outside would let dir_fd calls escape

    def check_symlink(src, dst, dir_fd):
        link = resolve(dst, dir_fd)
        target = fsdecode(src)
        where = target if isabs(target) else join(os.path.dirname(link), target)
        if not under(link, root) or not under(realpath(where), root):
            deny("os.symlink", (target, fsdecode(dst)))

    banned = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
              "pty.spawn", "os.startfile", "os.chroot", "socket.connect", "socket.sendto", "socket.sendmsg",
              "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr", "socket.gethostbyname_ex",
              "ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.call_function", "ctypes.addressof",
              "webbrowser.open", "ftplib.connect", "http.client.connect", "smtplib.connect", "telnetlib.Telnet.open",
              "urllib.Request", "sys.remote_exec", "os.setuid", "os.setgid"}
    one_path = {"os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.utime", "os.truncate",
                "os.mkfifo", "os.mknod", "os.chflags", "os.lchflags", "os.setxattr", "os.removexattr",
                "shutil.rmtree", "shutil.chown"}
    dir_fd_at = {"os.remove": 1, "os.rmdir": 1, "os.mkdir": 2, "os.chmod": 2, "os.chown": 3, "os.utime": 3,
                 "os.mkfifo": 2, "os.mknod": 3, "shutil.rmtree": 1}
    own_pid = getpid()
    busy = []

    def hook(event, args):
        if busy:
            return
        busy.append(1)
        try:
            if event == "open":
                path, mode, flags = (tuple(args) + (None, None, None))[:3]
                writes = (isinstance(flags, int) and flags & WRITE) or (
                    isinstance(mode, str) and any(c in mode for c in "wax+"))
                if writes:
                    check_write(event, path)
                else:
                    check_read(event, path)
            elif event in one_path:
                i = dir_fd_at.get(event)
                check_write(event, args[0], args[i] if i is not None and len(args) > i else None)
            elif event in ("os.rename", "os.link"):
                src, dst = args[0], args[1]
                sfd = args[2] if len(args) > 2 else None
                dfd = args[3] if len(args) > 3 else None
                check_write(event, src, sfd)
                check_write(event, dst, dfd)
                s = resolve(src, sfd)
                if islink(s):
                    if event == "os.link":
                        deny(event, fsdecode(src))
                    target = os.readlink(s)
                    where = target if isabs(target) else join(os.path.dirname(resolve(dst, dfd)), target)
                    if not under(realpath(where), root):
                        deny(event, (fsdecode(src), fsdecode(dst)))
            elif event == "os.symlink":
                check_symlink(args[0], args[1], args[2] if len(args) > 2 else None)
            elif event in ("shutil.copyfile", "shutil.copymode", "shutil.copystat", "shutil.copytree",
                           "shutil.move"):
                check_read(event, args[0])
                check_write(event, args[1])
            elif event in ("os.listdir", "os.scandir", "os.walk", "os.fwalk", "glob.glob"):
                if args and isinstance(args[0], (str, bytes, os.PathLike)) and args[0] not in ("", b""):
                    if event != "glob.glob":
                        check_read(event, args[0])
            elif event == "os.chdir":
                if not isinstance(args[0], int) and not under(resolve(args[0]), root):
                    deny(event, fsdecode(args[0]))
            elif event in ("os.kill", "os.killpg"):
                if args[0] not in (own_pid, 0):
                    deny(event, args)
            elif event == "import" and args and args[0] in ("_posixsubprocess", "_ctypes") and "_armed" in state:
                # Not fatal: libraries import ctypes in a try block and work on without it.
                raise ImportError("the codefill sandbox does not allow %s" % args[0])
            elif event in banned:
                deny(event, args[0] if args else "")
        finally:
            busy.pop()

    state = {}
    import subprocess, _posixsubprocess  # imported now, so a later re-import is an event the hook sees

    def _no_fork_exec(*a, **k):
        deny("_posixsubprocess.fork_exec", "")
    _posixsubprocess.fork_exec = _no_fork_exec
    sys.path[:] = [p for p in sys.path if p and readable(realpath(p))]
    sys.addaudithook(hook)
    state["_armed"] = True
    os.chdir(root)
    with open(program, "rb") as f:
        source = f.read()
    code = compile(source, program, "exec")
    main = type(sys)("__main__")
    main.__file__ = program
    main.__builtins__ = __builtins__
    sys.modules["__main__"] = main  # the program's classes pickle, dataclasses find their module
    sys.argv = [program]
    exec(code, main.__dict__)

_codefill_sandbox(sys.argv[1], sys.argv[2], int(sys.argv[3]))
'''


# --------------------------------------------------------------------------- running a program

def _limits(limits: SandboxLimits):
    import resource

    cpu = max(1, math.ceil(limits.timeout_s)) + 1

    def apply() -> None:  # in the child, between fork and exec
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if limits.memory_mb:
            size = limits.memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (size, size))
            resource.setrlimit(resource.RLIMIT_DATA, (size, size))
        if limits.file_mb:
            size = limits.file_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        if limits.open_files:
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            n = limits.open_files if hard == resource.RLIM_INFINITY else min(limits.open_files, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
        # RLIMIT_NPROC is left alone: it counts every process of the user (and root is exempt), so no value
        # fits one sandbox; process creation is refused by the audit hook and the group is killed at the end.

    return apply


def _read_tail(f, chars: int) -> str:
    f.seek(0, os.SEEK_END)
    size = f.tell()
    f.seek(max(0, size - chars * 4))
    return f.read().decode("utf-8", errors="replace")[-chars:]


def classify(returncode: int | None, timed_out: bool, stderr_tail: str) -> Status:
    if timed_out or returncode in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
        return "timeout"
    if returncode == 0:
        return "passed"
    if returncode == VIOLATION_EXIT and VIOLATION_MARK in stderr_tail:
        return "blocked"
    if "MemoryError" in stderr_tail:
        return "memory"
    return "failed"


_spawn_lock = threading.Lock()


def run_sandboxed(
    program: str,
    *,
    limits: SandboxLimits = SandboxLimits(),
    isolation: Isolation | None = None,
    audit: bool = True,
    python: str | None = None,
    stderr_tail_chars: int = STDERR_TAIL_CHARS,
) -> SandboxResult:
    """Run `program` in the sandbox; "passed" iff it exits 0 within the limits.

    `isolation` defaults to `detect_isolation()` (which refuses without a
    namespace). `audit=False` leaves out the audit hook (tests of the kernel's
    layers only).
    """
    python = python or sys.executable
    if isolation is None:
        isolation = detect_isolation(python=python)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="codefill-sandbox-") as tmp, \
            tempfile.TemporaryFile(prefix="codefill-sandbox-stderr-") as err:
        script = os.path.join(tmp, PROGRAM_NAME)
        with open(script, "w", encoding="utf-8") as f:
            f.write(program)
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "TMPDIR": tmp, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
               "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
        if audit:
            argv = [python, "-I", "-B", "-c", BOOTSTRAP, tmp, script, str(VIOLATION_EXIT)]
        else:
            argv = [python, "-I", "-B", script]
        with _spawn_lock:  # one fork with a preexec_fn at a time (runs come from a thread pool)
            proc = subprocess.Popen(
                [*isolation.prefix, *argv],
                cwd=tmp, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                start_new_session=True, preexec_fn=_limits(limits), close_fds=True,
            )
        returncode, timed_out = wait_or_kill(proc, limits.timeout_s)
        duration = time.monotonic() - start
        tail = _read_tail(err, stderr_tail_chars)
    status = classify(returncode, timed_out, tail)
    if timed_out:
        tail = (tail + f"\n[codefill sandbox] killed after {limits.timeout_s:g} s").lstrip("\n")
    return SandboxResult(status=status, returncode=returncode, stderr_tail=tail, duration_s=duration)
