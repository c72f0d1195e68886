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

from codefill.model.weights.paths import codefill_home


def has_nvidia_gpu() -> bool:
    return any(Path("/dev").glob("nvidia[0-9]*"))


def cpu_has_bf16() -> bool:
    """AVX512-BF16 or AMX: without them vLLM's CPU bf16 matmuls fall back to slow paths."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_engine_defaults(dtype: str) -> dict:
    """Engine arguments that make vLLM's CPU build start fast and decode fast.

    Measured on a 2-core AVX2 machine with the 0.5B model: bf16 + torch.compile
    warm-up took 409 s to start and 3.4 s for 12 tokens; fp32 in eager mode
    starts in 26 s and does the same 12 tokens in 1.7 s. The compile cache is
    not reused across starts on the CPU build, so compiling never pays off.
    """
    if has_nvidia_gpu():
        return {}
    # Chunked prefill off: a request whose prefill is split over steps has its sampled
    # token discarded, and vLLM then rewinds that request's seeded generator with
    # Generator.set_offset, which CPU generators do not have ("CPU Generator does not
    # use offset"): one request with a `seed` beside long prompts killed the engine.
    # vLLM makes the same choice on CPU for MLA models; max_num_batched_tokens then
    # defaults to at least max_model_len, so every prompt fits one step.
    # The prefix cache reuses whole blocks only; the CPU build's default of 128 tokens
    # recomputes 64 tokens of every keystroke's prompt on average for nothing. 32 is the
    # smallest size its kernels are tuned for; measured on the embedded model with a
    # 1,290-token FIM prompt: the same text, 0.80 s per repeated request against 0.83 s.
    out: dict = {"enforce_eager": True, "enable_chunked_prefill": False, "block_size": 32}
    if dtype == "auto" and not cpu_has_bf16():
        out["dtype"] = "float32"
    return out


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
