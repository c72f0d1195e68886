"""`codefill lsp` as a command: refusing bad options, and TCP mode for debugging."""

from __future__ import annotations

import asyncio
import json
import subprocess

from tests.e2e.lsp_session import CODEFILL
from tests.e2e.servers import free_port


def test_bad_option_fails_with_one_clear_line():
    proc = subprocess.run([CODEFILL, "lsp", "--max-tokens", "0"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "max_tokens" in proc.stderr and "Traceback" not in proc.stderr


async def _rpc(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, message: dict) -> dict:
    body = json.dumps(message).encode()
    writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    await writer.drain()
    while True:
        headers = await reader.readuntil(b"\r\n\r\n")
        length = int(headers.split(b"Content-Length:")[1].split(b"\r\n")[0])
        reply = json.loads(await reader.readexactly(length))
        if reply.get("id") == message["id"]:
            return reply


async def test_tcp_mode_answers_initialize():
    port = free_port()
    proc = subprocess.Popen([CODEFILL, "lsp", "--tcp", f"127.0.0.1:{port}", "--url", "http://127.0.0.1:9"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(300):
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            raise AssertionError("codefill lsp --tcp did not listen")
        reply = await asyncio.wait_for(_rpc(reader, writer, {
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"processId": None, "rootUri": None, "capabilities": {}}}), 30)
        caps = reply["result"]["capabilities"]
        assert "inlineCompletionProvider" in caps and "completionProvider" in caps
        assert caps["textDocumentSync"]["change"] == 2  # incremental
        assert {"codefill.accepted", "codefill.dismissed"} <= set(caps["executeCommandProvider"]["commands"])
        assert reply["result"]["serverInfo"]["name"] == "codefill"
        writer.close()
    finally:
        proc.terminate()
        proc.wait(10)
