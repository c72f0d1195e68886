"""The sandbox of all model-written code: bubblewrap (`bwrap`), a seccomp filter, resource limits.

One run is one `bwrap` with:

- new user, mount, pid, network, ipc, uts (and, where possible, cgroup) namespaces;
- the program as uid/gid 65534 with no capabilities and `no_new_privs` (bwrap sets it; setuid
  binaries do nothing). When codefill runs as root, the user namespace is made for the run by
  codefill (`unshare --user`, maps written from outside) and maps the program's uid to the host's
  uid 65534 (nobody), not to root: bwrap mounts as root inside that namespace, then `setpriv` drops
  to 65534 and clears every capability set before Python starts. As another user, bwrap maps 65534
  to that user (the only way without privileges);
- a root of its own: read-only binds of /usr (and /bin, /sbin, /lib* as on the host), the
  dynamic linker's cache, and the prefixes of the Python that runs the program (the venv and its
  base installation); a fresh /proc (its own pid namespace: it sees only its own processes), a
  minimal /dev, and one writable folder, /tmp, a tmpfs of `Limits.tmp_mb` that is also its cwd,
  HOME and TMPDIR. Nothing else of the host exists in it: not /root, not $HOME, not the repository;
- no network: the new network namespace has only a loopback interface (which reaches nothing of the
  host's);
- `--new-session` (no terminal to push input into) and `--die-with-parent`; the pid namespace ends
  with its first process, and the kernel then kills every process left in it (setsid, double fork
  and all); at the wall-clock limit the runner kills bwrap's process group, which does the same;
- the seccomp filter of `codefill.jobs.sandbox.seccomp` (no ptrace, mount, namespaces, bpf, keyctl,
  perf_event_open, personality, kexec, io_uring, ... and by default no new processes);
- resource limits set by the bootstrap before the program runs: CPU seconds, address space and data
  (memory), file size, open files, and RLIMIT_NPROC, which the kernel counts per user namespace, so
  it bounds this run's processes and threads (it would not bind a process mapped to root, which is
  why the root case maps to 65534).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from typing import Any

from codefill.jobs.sandbox import seccomp
from codefill.jobs.sandbox.base import (
    CHILD_ENV,
    INSTALL_HINT,
    UNSAFE_FLAG,
    USERNS_HINT,
    Limits,
    Sandbox,
    SandboxUnavailable,
    bootstrap_argv,
)

SANDBOX_UID = SANDBOX_GID = 65534
WORK_DIR = "/tmp"
PROGRAM_PATH = WORK_DIR + "/program.py"
HOSTNAME = "codefill-sandbox"
TOP_LEVEL = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime")

_PATHS_PROBE = ("import json, os, sys; print(json.dumps([sys.prefix, sys.base_prefix, sys.exec_prefix, "
                "sys.base_exec_prefix, os.path.realpath(sys.executable)]))")


def python_paths(python: str) -> list[str]:
    """The folders the interpreter `python` needs: its prefixes (a venv and its base) and the folder
    of the real executable."""
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        found = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, os.path.realpath(sys.executable)]
    else:
        done = subprocess.run([python, "-I", "-c", _PATHS_PROBE], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise SandboxUnavailable(f"cannot run {python}: {done.stderr.strip()[-500:]}")
        found = json.loads(done.stdout)
    exe_dir = os.path.dirname(found.pop())
    paths = [*found, exe_dir, os.path.dirname(os.path.abspath(python))]
    out: list[str] = []
    for p in paths:
        for q in (os.path.abspath(p), os.path.realpath(p)):
            if q not in out:
                out.append(q)
    return out


# Of a prefix, only what an interpreter uses is bound: a prefix may be a whole home folder.
PREFIX_ENTRIES = ("bin", "lib", "lib64", "lib32", "pyvenv.cfg")


def _covered(path: str, by: list[str]) -> bool:
    return any(path == b or path.startswith(b.rstrip("/") + "/") for b in by)


def _is_prefix(path: str) -> bool:
    return any(os.path.lexists(os.path.join(path, e)) for e in ("bin", "lib")) and not path.endswith("/bin")


def mount_args(python: str) -> list[str]:
    """bwrap's arguments for the sandbox's read-only filesystem: /usr, /bin, /sbin and /lib* as on the
    host, the dynamic linker's files, and the interpreter's prefixes (their bin/ and lib/ only)."""
    args = ["--ro-bind", "/usr", "/usr"]
    bound = ["/usr"]
    for top in TOP_LEVEL:
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
            bound.append(top)
    for path in ETC_FILES:
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    made: set[str] = {"/", "/usr", "/etc", "/tmp", "/proc", "/dev", *TOP_LEVEL}

    def parents(path: str) -> None:
        # Parents exist in the sandbox as plain 0755 folders (bwrap would copy the host's modes,
        # and a 0700 /root would keep uid 65534 out of an interpreter installed under it).
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            parent = "/" + "/".join(parts[:i])
            if parent not in made and not _covered(parent, bound):
                args.extend(["--dir", parent, "--chmod", "0755", parent])
                made.add(parent)

    targets: list[str] = []
    for path in python_paths(python):
        if path == "/" or not os.path.isdir(path):
            continue
        if _is_prefix(path):
            targets += [os.path.join(path, e) for e in PREFIX_ENTRIES if os.path.lexists(os.path.join(path, e))]
        else:
            targets.append(path)
    for path in sorted(dict.fromkeys(targets), key=len):
        if _covered(path, bound):
            continue
        parents(path)
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        else:
            args += ["--ro-bind", path, path]
            bound.append(path)
        made.add(path)
    return args


def _version_tuple(text: str) -> tuple[int, ...]:
    import re

    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(x) for x in m.groups(default="0")) if m else (0,)


class BubblewrapSandbox(Sandbox):
    name = "bubblewrap"
    isolated = True

    def __init__(self, python: str | None = None, *, bwrap: str | None = None):
        self.python = os.path.abspath(python or sys.executable)
        self.bwrap = bwrap or shutil.which("bwrap")
        if self.bwrap is None or not os.access(self.bwrap, os.X_OK):
            raise SandboxUnavailable(f"bubblewrap (`bwrap`) is not installed, and model-written code runs only in "
                                     f"its sandbox: {INSTALL_HINT}. Or pass {UNSAFE_FLAG} to run it without "
                                     "isolation")
        self.as_root = os.geteuid() == 0
        if self.as_root:
            self.unshare = shutil.which("unshare")
            self.sleep = shutil.which("sleep")
            self.setpriv = shutil.which("setpriv")
            missing = [n for n, p in (("unshare", self.unshare), ("sleep", self.sleep), ("setpriv", self.setpriv))
                       if p is None]
            if missing:
                raise SandboxUnavailable(f"running as root, the sandbox needs {', '.join(missing)} "
                                         f"(util-linux, coreutils) to drop to uid 65534; or pass {UNSAFE_FLAG}")
            if not _covered(os.path.realpath(self.setpriv), ["/usr", "/bin", "/sbin"]):
                raise SandboxUnavailable(f"{self.setpriv} is not under /usr: the sandbox cannot run it; "
                                         f"or pass {UNSAFE_FLAG}")
        self.mounts = mount_args(self.python)
        self.seccomp_supported = seccomp.supported()
        self._version = _bwrap_version(self.bwrap)
        self.sized_tmpfs = _version_tuple(self._version) >= (0, 7)  # `--size` came with bubblewrap 0.7

    # ------------------------------------------------------------------ description

    def describe(self) -> dict[str, Any]:
        return {
            "sandbox": self.name, "isolated": True, "bwrap": self.bwrap, "bwrap_version": self._version,
            "network": "none (own network namespace, loopback only)",
            "namespaces": ["user", "mount", "pid", "net", "ipc", "uts", "cgroup (where possible)"],
            "uid": f"{SANDBOX_UID} inside; host uid "
                   + (f"{SANDBOX_UID} (nobody; codefill runs as root)" if self.as_root else str(os.geteuid())),
            "filesystem": "read-only /usr, /lib*, the Python prefixes; writable tmpfs /tmp only"
                          + ("" if self.sized_tmpfs else " (its size not bounded: bubblewrap < 0.7 has no --size)"),
            "seccomp": (f"on ({len(seccomp.DENIED)} calls denied, new namespaces refused, new processes unless allowed)"
                        if self.seccomp_supported else f"off: no filter for {platform.machine()}"),
            "description": "bubblewrap: own user/mount/pid/net/ipc/uts namespaces, uid 65534, no network, "
                           "read-only system, private tmpfs, seccomp, rlimits",
        }

    # ------------------------------------------------------------------ one run

    def _command(self, program, result_fd, limits: Limits, stack):
        pass_fds: list[int] = []

        def keep(fd: int) -> int:
            stack.callback(os.close, fd)
            pass_fds.append(fd)
            return fd

        code = keep(os.memfd_create("codefill-program"))
        os.write(code, program.encode("utf-8", "surrogatepass"))
        os.lseek(code, 0, os.SEEK_SET)

        args = [self.bwrap]
        if self.as_root:
            args += ["--userns", str(keep(_user_namespace(self.unshare, self.sleep))),
                     "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                     "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                     "--cap-add", "CAP_SETPCAP"]
        else:
            args += ["--unshare-all", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID)]
        args += ["--die-with-parent", "--new-session", "--hostname", HOSTNAME, "--clearenv"]
        env = {"PATH": "/usr/bin:/bin", "HOME": WORK_DIR, "TMPDIR": WORK_DIR, **CHILD_ENV}
        for key, value in env.items():
            args += ["--setenv", key, value]
        # /tmp first: an interpreter installed under /tmp is bound into it, not hidden by it.
        args += ["--proc", "/proc", "--dev", "/dev"]
        if self.sized_tmpfs:
            args += ["--size", str(limits.tmp_mb * 1024 * 1024)]
        args += ["--tmpfs", WORK_DIR, "--chmod", "1777", WORK_DIR]
        args += self.mounts
        args += ["--file", str(code), PROGRAM_PATH, "--chmod", "0644", PROGRAM_PATH, "--chdir", WORK_DIR]
        bpf = seccomp.build_filter(new_processes=limits.new_processes) if self.seccomp_supported else None
        if bpf is not None:
            read_end, write_end = os.pipe()
            try:
                os.write(write_end, bpf)  # < 1 KiB: fits the pipe
            finally:
                os.close(write_end)
            args += ["--seccomp", str(keep(read_end))]
        args.append("--")
        if self.as_root:
            args += [self.setpriv, f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_GID}", "--clear-groups",
                     "--inh-caps=-all", "--bounding-set=-all", "--"]
        args += bootstrap_argv(self.python, PROGRAM_PATH, result_fd, limits, nproc=True)
        return args, {"pass_fds": pass_fds, "env": {"PATH": "/usr/bin:/bin"}}

    # ------------------------------------------------------------------ the check at start

    def check(self) -> None:
        """Run a probe in the sandbox: it must be uid 65534, see no network interface but loopback
        and no writable /usr, and get to its end. Raises SandboxUnavailable with bwrap's words."""
        probe = (
            "import os, socket\n"
            f"assert os.getuid() == {SANDBOX_UID}, os.getuid()\n"
            "names = sorted(n for _, n in socket.if_nameindex())\n"
            "assert names in ([], ['lo']), names\n"
            "assert not os.access('/usr', os.W_OK)\n"
            "open('x', 'w').write('ok')\n"
        )
        try:
            outcome = self.run(probe, Limits(timeout_s=30, memory_mb=None))
        except OSError as exc:
            raise SandboxUnavailable(f"cannot run {self.bwrap}: {exc}; {INSTALL_HINT}, or pass {UNSAFE_FLAG}") from exc
        if not outcome.passed:
            why = outcome.stderr_tail.strip().splitlines()[-3:] or [f"exit status {outcome.returncode}"]
            raise SandboxUnavailable(
                f"bubblewrap cannot make the sandbox here ({' / '.join(why)}). To fix: {USERNS_HINT}; "
                f"or pass {UNSAFE_FLAG} to run model-written code without isolation")


def _bwrap_version(bwrap: str) -> str:
    try:
        return subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def _user_namespace(unshare: str, sleep: str) -> int:
    """As root: a new user namespace mapping uid/gid 0 and 65534 to themselves, as an open fd.

    A short-lived `unshare --user sleep` makes it; the maps are written from here (root may map any
    host ids); the fd keeps the namespace alive after the helper is killed."""
    helper = subprocess.Popen([unshare, "--user", "--", sleep, "30"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        mine = os.readlink("/proc/self/ns/user")
        deadline = time.monotonic() + 10
        while True:
            try:
                if os.readlink(f"/proc/{helper.pid}/ns/user") != mine:
                    break
            except FileNotFoundError:
                pass
            if helper.poll() is not None:
                why = helper.stderr.read().decode(errors="replace").strip() if helper.stderr else ""
                raise SandboxUnavailable(f"`unshare --user` failed: {why or helper.returncode}. {USERNS_HINT}")
            if time.monotonic() > deadline:
                raise SandboxUnavailable("`unshare --user` did not make a user namespace within 10 s")
            time.sleep(0.0005)
        mapping = f"0 0 1\n{SANDBOX_UID} {SANDBOX_UID} 1\n"
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{helper.pid}/{name}", "w") as f:
                f.write(mapping)
        return os.open(f"/proc/{helper.pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        helper.kill()
        helper.wait()
        if helper.stderr:
            helper.stderr.close()


_cache: dict[str, BubblewrapSandbox] = {}
_cache_lock = threading.Lock()


def checked_sandbox(python: str | None = None) -> BubblewrapSandbox:
    """The bubblewrap sandbox for `python`, made and checked once per process."""
    key = os.path.abspath(python or sys.executable)
    with _cache_lock:
        if key not in _cache:
            sandbox = BubblewrapSandbox(key)
            sandbox.check()
            _cache[key] = sandbox
        return _cache[key]
