"""The soaked server's side (`codefill.jobs.bench.soak`): its in-flight gauges, its memory with its
children's, and a `codefill serve` on the tiny model to soak."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from codefill.jobs.process_groups import terminate_group

ENGINE_GAUGE = "codefill_engine_requests_in_flight"
HTTP_GAUGE = "codefill_http_requests_in_flight"
DROPPED_COUNTER = "codefill_connections_dropped_total"


# --- the server's side: gauges and memory ------------------------------------------------


def parse_metrics(text: str) -> dict[str, float]:
    """Sum of each metric's samples over its label sets."""
    sums: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_part, _, value = line.rpartition(" ")
        name = name_part.split("{", 1)[0]
        try:
            sums[name] = sums.get(name, 0.0) + float(value)
        except ValueError:
            continue
    return sums


async def _metrics_text(url: str) -> str:
    async with httpx.AsyncClient(timeout=10) as http:
        resp = await http.get(f"{url}/metrics")
        resp.raise_for_status()
    return resp.text


async def in_flight(url: str) -> tuple[float, float]:
    """(engine, http) in-flight gauges; the http gauge counts this scrape, so idle is (0, 1)."""
    sums = parse_metrics(await _metrics_text(url))
    return sums.get(ENGINE_GAUGE, 0.0), sums.get(HTTP_GAUGE, 0.0)


async def dropped_connections(url: str) -> dict[str, float]:
    """Connections the server closed on its own (server/connections.py), by reason; empty where
    the server does not count them."""
    dropped: dict[str, float] = {}
    for line in (await _metrics_text(url)).splitlines():
        if line.startswith(DROPPED_COUNTER + "{"):
            labels, _, value = line.rpartition(" ")
            reason = labels.partition('reason="')[2].partition('"')[0]
            dropped[reason] = dropped.get(reason, 0.0) + float(value)
    return dropped


def is_idle(engine: float, http: float) -> bool:
    return engine == 0 and http <= 1


async def settle(url: str, timeout_s: float) -> tuple[float, float, float]:
    """Wait until nothing is in flight (aborts are asynchronous: a step or two); returns the
    last gauges and the seconds it took."""
    started = time.monotonic()
    while True:
        engine, http = await in_flight(url)
        waited = time.monotonic() - started
        if is_idle(engine, http) or waited >= timeout_s:
            return engine, http, round(waited, 2)
        await asyncio.sleep(0.25)


def tree_rss(pid: int) -> tuple[int, int]:
    """Resident bytes of a process, and of it with all its descendants (vLLM's engine core)."""
    import psutil

    root = psutil.Process(pid)
    own = root.memory_info().rss
    total = own
    for proc in root.children(recursive=True):
        try:
            total += proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return own, total


def listening_pid(url: str) -> int | None:
    """The process listening on the URL's port on this machine, if it can be seen."""
    import psutil

    port = httpx.URL(url).port
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                return conn.pid
    except psutil.AccessDenied:
        return None
    return None


# --- a server to soak ----------------------------------------------------------------------


class Server:
    """`codefill serve` on the tiny model, in its own process group."""

    def __init__(self, engine: str, max_model_len: int = 2048, ready_timeout_s: float = 900) -> None:
        from codefill.model.weights.tiny import tiny_model_dir

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.log = tempfile.NamedTemporaryFile(prefix="codefill-soak-", suffix=".log", delete=False)
        codefill = str(Path(sys.executable).with_name("codefill"))
        self.cmd = [codefill, "serve", "--model", str(tiny_model_dir()), "--engine", engine, "--port", str(port),
                    "--max-model-len", str(max_model_len), "--served-model-name", "tiny", "--log-level", "warning"]
        # The clients stand for that many editors, but all come from one address: lift the
        # per-client concurrency limit where the server has one.
        serve_help = subprocess.run([codefill, "serve", "--help"], capture_output=True, text=True).stdout
        if "--max-concurrent-per-key" in serve_help:
            self.cmd += ["--max-concurrent-per-key", "0"]
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.proc.pid
        deadline = time.monotonic() + ready_timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"codefill serve exited with {self.proc.returncode}; log: {self.log.name}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"codefill serve not ready after {ready_timeout_s:.0f} s; log: {self.log.name}")
            time.sleep(0.5)

    def stop(self) -> None:
        terminate_group(self.proc)
