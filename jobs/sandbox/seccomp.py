"""The sandbox's seccomp filter: a classic-BPF program, written by hand, for bubblewrap's `--seccomp FD`.

bwrap loads it (after `PR_SET_NO_NEW_PRIVS`) just before it runs the program, so it holds for the
program and everything it starts. No libseccomp is needed: the program is ~60 instructions of
`struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}`, assembled below with symbolic jump targets.

What it does, in order:

1. The system-call ABI must be the machine's own (`AUDIT_ARCH_X86_64` or `AUDIT_ARCH_AARCH64`):
   a call through another ABI (i386's `int 0x80` on x86-64, which has other syscall numbers) kills
   the process. On x86-64 the x32 ABI (numbers with bit 30 set) is refused too.
2. `clone3` gets ENOSYS: its flags sit in memory a filter cannot read, and glibc falls back to
   `clone` (for threads too), whose flags are checked: any `CLONE_NEW*` (a new namespace) is EPERM,
   and unless new processes are allowed, a clone without `CLONE_THREAD` (that is, a fork) is EPERM;
   `fork` and `vfork` likewise. Threads are always allowed.
3. EPERM for the calls in `DENIED`: debugging or reading other processes (`ptrace`,
   `process_vm_readv/writev`, `kcmp`, `pidfd_getfd`), namespaces and mounts (`unshare`, `setns`,
   `mount` and the new mount API, `pivot_root`, `chroot`), and the kernel's larger attack surface
   (`bpf`, `perf_event_open`, `userfaultfd`, `io_uring_*`, `keyctl`/`add_key`/`request_key`,
   `personality`, `kexec_*`, modules, `open_by_handle_at`, `syslog`, swap, clocks, `reboot`, ...).
4. Everything else is allowed.

The numbers are from the kernel's `asm/unistd_64.h` (x86-64) and `asm-generic/unistd.h` (aarch64).
On any other architecture `build_filter` returns None and the sandbox says so (the namespaces and
limits still hold).
"""

from __future__ import annotations

import errno
import platform
import struct

# --- constants from <linux/filter.h>, <linux/seccomp.h>, <linux/audit.h>, <linux/sched.h>
BPF_LD, BPF_JMP, BPF_RET = 0x00, 0x05, 0x06
BPF_W, BPF_ABS, BPF_K = 0x00, 0x20, 0x00
BPF_JEQ, BPF_JGE, BPF_JSET = 0x10, 0x30, 0x40

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
X32_SYSCALL_BIT = 0x40000000

# struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }
OFFSET_NR, OFFSET_ARCH, OFFSET_ARG0_LOW = 0, 4, 16  # little-endian: the low word of args[0]

CLONE_THREAD = 0x00010000
CLONE_NEW_ANY = (0x00020000  # CLONE_NEWNS
                 | 0x02000000  # CLONE_NEWCGROUP
                 | 0x04000000  # CLONE_NEWUTS
                 | 0x08000000  # CLONE_NEWIPC
                 | 0x10000000  # CLONE_NEWUSER
                 | 0x20000000  # CLONE_NEWPID
                 | 0x40000000)  # CLONE_NEWNET

# name: (x86-64, aarch64); None where the architecture has no such call.
SYSCALLS: dict[str, tuple[int | None, int | None]] = {
    # other processes' memory and state
    "ptrace": (101, 117), "process_vm_readv": (310, 270), "process_vm_writev": (311, 271),
    "kcmp": (312, 272), "pidfd_getfd": (438, 438),
    # namespaces, mounts, the root
    "unshare": (272, 97), "setns": (308, 268), "mount": (165, 40), "umount2": (166, 39),
    "pivot_root": (155, 41), "chroot": (161, 51), "open_tree": (428, 428), "move_mount": (429, 429),
    "fsopen": (430, 430), "fsconfig": (431, 431), "fsmount": (432, 432), "fspick": (433, 433),
    "mount_setattr": (442, 442),
    # kernel attack surface
    "bpf": (321, 280), "perf_event_open": (298, 241), "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    "keyctl": (250, 219), "add_key": (248, 217), "request_key": (249, 218),
    "personality": (135, 92), "kexec_load": (246, 104), "kexec_file_load": (320, 294),
    "init_module": (175, 105), "finit_module": (313, 273), "delete_module": (176, 106),
    "open_by_handle_at": (304, 265), "name_to_handle_at": (303, 264), "lookup_dcookie": (212, 18),
    "syslog": (103, 116), "quotactl": (179, 60), "quotactl_fd": (443, 443), "acct": (163, 89),
    "swapon": (167, 224), "swapoff": (168, 225), "reboot": (169, 142), "vhangup": (153, 58),
    "settimeofday": (164, 170), "clock_settime": (227, 112), "clock_adjtime": (305, 266),
    "adjtimex": (159, 171), "sethostname": (170, 161), "setdomainname": (171, 162),
    "fanotify_init": (300, 262), "nfsservctl": (180, 42),
    "iopl": (172, None), "ioperm": (173, None), "uselib": (134, None), "_sysctl": (156, None),
}
DENIED = tuple(SYSCALLS)
PROCESS_CALLS: dict[str, tuple[int | None, int | None]] = {
    "clone": (56, 220), "clone3": (435, 435), "fork": (57, None), "vfork": (58, None),
}
ARCHES = {"x86_64": (0, AUDIT_ARCH_X86_64), "amd64": (0, AUDIT_ARCH_X86_64),
          "aarch64": (1, AUDIT_ARCH_AARCH64), "arm64": (1, AUDIT_ARCH_AARCH64)}


def supported(machine: str | None = None) -> bool:
    return (machine or platform.machine()).lower() in ARCHES


def _nr(table: dict[str, tuple[int | None, int | None]], name: str, column: int) -> int | None:
    return table[name][column]


def build_filter(*, new_processes: bool = False, machine: str | None = None) -> bytes | None:
    """The filter as bytes for `bwrap --seccomp FD`, or None on an architecture it does not know."""
    machine = (machine or platform.machine()).lower()
    if machine not in ARCHES:
        return None
    column, audit_arch = ARCHES[machine]
    program: list[tuple[int, int, object, object]] = []  # (code, k, jt, jf); jt/jf: 0 or a label
    labels: dict[str, int] = {}

    def op(code: int, k: int = 0, jt: object = 0, jf: object = 0) -> None:
        program.append((code, k, jt, jf))

    def label(name: str) -> None:
        labels[name] = len(program)

    load = BPF_LD | BPF_W | BPF_ABS
    jeq, jge, jset = BPF_JMP | BPF_JEQ | BPF_K, BPF_JMP | BPF_JGE | BPF_K, BPF_JMP | BPF_JSET | BPF_K

    op(load, OFFSET_ARCH)
    op(jeq, audit_arch, 0, "kill")
    op(load, OFFSET_NR)
    if column == 0:
        op(jge, X32_SYSCALL_BIT, "eperm", 0)
    op(jeq, _nr(PROCESS_CALLS, "clone3", column), "enosys", 0)
    op(jeq, _nr(PROCESS_CALLS, "clone", column), "clone", 0)
    if not new_processes:
        for name in ("fork", "vfork"):
            nr = _nr(PROCESS_CALLS, name, column)
            if nr is not None:
                op(jeq, nr, "eperm", 0)
    for name in DENIED:
        nr = _nr(SYSCALLS, name, column)
        if nr is not None:
            op(jeq, nr, "eperm", 0)
    op(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
    label("clone")
    op(load, OFFSET_ARG0_LOW)
    op(jset, CLONE_NEW_ANY, "eperm", 0)
    if not new_processes:
        op(jset, CLONE_THREAD, 0, "eperm")
    op(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
    label("eperm")
    op(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | errno.EPERM)
    label("enosys")
    op(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | errno.ENOSYS)
    label("kill")
    op(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS)

    out = bytearray()
    for i, (code, k, jt, jf) in enumerate(program):
        offsets = []
        for target in (jt, jf):
            if isinstance(target, str):
                delta = labels[target] - (i + 1)
                if not 0 <= delta <= 255:
                    raise AssertionError(f"jump to {target} out of range: {delta}")
                offsets.append(delta)
            else:
                offsets.append(int(target))
        out += struct.pack("=HBBI", code, offsets[0], offsets[1], k & 0xFFFFFFFF)
    return bytes(out)
