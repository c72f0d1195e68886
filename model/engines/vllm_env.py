"""Process environment that vLLM reads at import time.

These must be set before `import vllm`. On the CPU build, binding OpenMP
threads to cores was 2-3x slower on shared machines, and the KV cache
default (4 GiB+) is more than a completion server on a laptop wants. vLLM also
leaves IPC sockets and compile caches under TMPDIR / VLLM_CACHE_ROOT, so those
go under codefill's own home instead of /tmp.
"""

from __future__ import annotations

import os
from pathlib import Path

from model.paths import codefill_home


def has_nvidia_gpu() -> bool:
    return any(Path("/dev").glob("nvidia[0-9]*"))


def apply_vllm_env_defaults() -> None:
    home = codefill_home()
    tmp = home / "tmp"
    cache = home / "vllm-cache"
    tmp.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("VLLM_CACHE_ROOT", str(cache))
    os.environ.setdefault("TMPDIR", str(tmp))
    os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    if not has_nvidia_gpu():
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
