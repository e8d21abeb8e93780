"""The SDK as the host sees it: a real extension process, frames on its stdin and stdout."""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

HERE = Path(__file__).resolve().parent.parent
SLOW_TASK = """
import asyncio
from gofer_extension import CommonTask, serve, success
class Slow(CommonTask):
    name = "slow"
    params_schema = {"type": "object", "additionalProperties": False, "properties": {"seconds": {"type": "number"}}}
    async def run(self, job):
        await job.print("started")
        await asyncio.sleep(job.params.get("seconds", 0))
        return success("slept")
serve(Slow())
"""


class Host:
    """Plays the host: writes frames, reads the extension's frames with a timeout."""

    def __init__(self, script: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(HERE)}
        self.proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self.buffer = b""

    def send(self, frame: Dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(frame).encode() + b"\n")
        self.proc.stdin.flush()

    def request(self, id_: Any, method: str, params: Dict[str, Any] | None = None) -> None:
        self.send({"jsonrpc": "2.0", "id": id_, "method": method, "params": params or {}})

    def frames(self, timeout: float = 10) -> Iterator[Dict[str, Any]]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                yield json.loads(line)
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.1)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    return
                self.buffer += chunk
        raise AssertionError("no frame within %s s" % timeout)

    def answer(self, id_: Any) -> Dict[str, Any]:
        for frame in self.frames():
            if frame.get("id") == id_ and "method" not in frame:
                return frame
        raise AssertionError("no answer to %r" % (id_,))

    def initialize(self) -> Dict[str, Any]:
        self.request(1, "initialize", {"protocolVersions": ["1.4"], "kind": "task", "timeouts": {"cancelGraceMs": 500}})
        return self.answer(1)

    def close(self) -> int:
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait(5)


@pytest.fixture
def host() -> Iterator[Host]:
    h = Host(SLOW_TASK)
    yield h
    h.close()


def test_ping_answers_before_initialize_and_other_requests_wait_for_it(host: Host) -> None:
    host.request(7, "$/ping")
    assert host.answer(7)["result"] == {}
    host.request(8, "task/run", {"params": {}})
    assert host.answer(8)["error"]["code"] == -32001


def test_the_handshake_takes_the_lower_minor_and_says_what_it_is(host: Host) -> None:
    result = host.initialize()["result"]
    assert result["protocolVersion"] == "1.1"
    assert result["extension"]["kind"] == "task" and result["extension"]["name"] == "slow"
    host.request(2, "initialize", {"protocolVersions": ["1.1"]})
    assert host.answer(2)["error"]["code"] == -32002


def test_bad_params_name_the_field(host: Host) -> None:
    host.initialize()
    host.request(2, "task/run", {"params": {"seconds": "soon", "zz": 1}})
    error = host.answer(2)["error"]
    assert error["code"] == -32602
    assert sorted(d["path"] for d in error["data"]["diagnostics"]) == ["/params/seconds", "/params/zz"]


def test_a_run_streams_its_output_then_answers(host: Host) -> None:
    host.initialize()
    host.request(2, "task/run", {"params": {}, "variables": {}, "_meta": {"stream": {"id": "s1", "windowBytes": 100}}})
    seen: List[Dict[str, Any]] = []
    for frame in host.frames():
        seen.append(frame)
        if frame.get("id") == 2:
            break
    assert seen[0]["method"] == "stream/data" and seen[0]["params"]["items"] == [{"fd": "stdout", "text": "started\n"}]
    assert seen[-1]["result"]["status"] == "success"


def test_cancel_answers_once_with_cancelled(host: Host) -> None:
    host.initialize()
    host.request(2, "task/run", {"params": {"seconds": 30}})
    time.sleep(0.3)
    host.send({"jsonrpc": "2.0", "method": "$/cancel", "params": {"id": 2, "reason": "run cancelled"}})
    assert host.answer(2)["error"]["code"] == -32050
    host.request(3, "$/ping")
    assert host.answer(3)["result"] == {}  # and nothing else about id 2 came before it


def test_deadlines_expired_on_arrival_and_passed_meanwhile(host: Host) -> None:
    host.initialize()
    host.request(2, "task/run", {"params": {}, "_meta": {"timeoutMs": 0}})
    assert host.answer(2)["error"]["code"] == -32051
    host.request(3, "task/run", {"params": {"seconds": 30}, "_meta": {"timeoutMs": 200}})
    assert host.answer(3)["error"]["code"] == -32051


def test_garbage_is_answered_and_serving_goes_on(host: Host) -> None:
    host.initialize()
    assert host.proc.stdin is not None
    host.proc.stdin.write(b'{"jsonrpc":"2.0","id":5,"method":"x","a":1,"a":2}\n[1]\n\n{"jsonrpc":"1.0","id":6,"method":"health"}\n')
    host.proc.stdin.flush()
    errors = [next(host.frames())["error"]["code"] for _ in range(3)]
    assert errors == [-32700, -32600, -32600]
    host.request(9, "health")
    assert host.answer(9)["result"]["status"] == "healthy"


def test_shutdown_then_exit_is_exit_code_0_and_eof_alone_is_0_too(host: Host) -> None:
    host.initialize()
    host.request(2, "shutdown", {"deadlineMs": 2000})
    assert host.answer(2)["result"] == {}
    host.request(3, "task/run", {"params": {}})
    host.send({"jsonrpc": "2.0", "method": "exit"})
    assert host.proc.wait(5) == 0
    other = Host(SLOW_TASK)
    other.initialize()
    assert other.proc.stdin is not None
    other.proc.stdin.close()
    assert other.proc.wait(5) == 0


def test_no_common_major_exits_3(host: Host) -> None:
    host.request(1, "initialize", {"protocolVersions": ["2.0"]})
    error = host.answer(1)["error"]
    assert error["code"] == -32000 and error["data"]["supported"] == ["1.1"]
    assert host.proc.wait(5) == 3


def test_describe_prints_the_manifest() -> None:
    out = subprocess.run([sys.executable, str(HERE / "examples" / "every.py"), "--describe"], capture_output=True,
                         env={**os.environ, "PYTHONPATH": str(HERE)}, timeout=10, check=True).stdout
    manifest = json.loads(out)
    assert manifest["name"] == "py-every" and manifest["kind"] == "trigger" and manifest["protocolVersions"] == ["1.1"]
    assert manifest["paramsSchema"]["required"] == ["seconds"]


BIG_TASK = """
from gofer_extension import CommonTask, serve, success
class Big(CommonTask):
    name = "big"
    params_schema = {"type": "object", "properties": {"answer": {"type": "integer"}}}
    async def run(self, job):
        await job.print("a" * 3000 + "\\x01" * 400 + "\\u00fc" * 300)
        return success("x" * job.params.get("answer", 1))
serve(Big())
"""


def test_no_frame_exceeds_the_hosts_small_limit_and_a_larger_answer_is_32005() -> None:
    host = Host(BIG_TASK)
    try:
        host.request(1, "initialize", {"protocolVersions": ["1.1"], "kind": "task", "limits": {"maxFrameBytes": 1024}})
        assert "result" in host.answer(1)
        host.request(2, "task/run", {"params": {}, "variables": {}, "_meta": {"stream": {"id": "s1", "windowBytes": 1 << 20}}})
        text = ""
        sizes: List[int] = []
        for frame in host.frames():
            sizes.append(len(json.dumps(frame, separators=(",", ":"), ensure_ascii=False).encode()))
            if frame.get("method") == "stream/data":
                text += "".join(item["text"] for item in frame["params"]["items"])
            if frame.get("id") == 2:
                assert frame["result"]["status"] == "success"
                break
        assert text == "a" * 3000 + "\x01" * 400 + "\u00fc" * 300 + "\n"
        assert max(sizes) <= 1024 and len(sizes) > 5
        host.request(3, "task/run", {"params": {"answer": 2000}, "variables": {}})
        error = host.answer(3)["error"]
        assert error["code"] == -32005 and "over the host's limit of 1024 bytes" in error["message"]
    finally:
        host.close()
