"""A real job-progress server per test (its own port, data folder and
tokens; with Redis + PostgreSQL, its own key prefix), and helpers to read
what it holds."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest

REPO = Path(__file__).resolve().parents[3]
BINARY = Path(os.environ.get("JOB_PROGRESS_BIN", REPO / "target" / "debug" / "job-progress"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def eventually(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Polls ``check`` until it returns something truthy without failing an assert."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if value:
                return value
            last: Any = value
        except AssertionError as err:
            last = err
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never held; last: {last}")
        time.sleep(0.05)


class Server:
    """One `job-progress serve` process; `restart()` keeps its port and stores."""

    def __init__(self, tmp: Path, env: dict[str, str]):
        self.write_token = secrets.token_urlsafe(32)
        self.read_token = secrets.token_urlsafe(32)
        self.control_token = secrets.token_urlsafe(32)
        tokens = tmp / "tokens"
        tokens.write_text(
            f"write {hashlib.sha256(self.write_token.encode()).hexdigest()} test-writer\n"
            f"read {hashlib.sha256(self.read_token.encode()).hexdigest()} test-reader\n"
            f"control {hashlib.sha256(self.control_token.encode()).hexdigest()} test-operator\n"
        )
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "LISTEN_ADDR": f"127.0.0.1:{self.port}", "DATA_DIR": str(tmp / "data"),
                    "TOKENS_FILE": str(tokens), "LOG_FORMAT": "json", "RUST_LOG": "warn",
                    "SHUTDOWN_TIMEOUT_SECS": "1", **env}
        for name in ("REDIS_URL", "DATABASE_URL", "BUS_URL", "JOB_PROGRESS_API", "JOB_PROGRESS_TOKEN"):
            if name not in env:
                self.env.pop(name, None)
        self.log = open(tmp / "server.log", "ab")
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        if not BINARY.exists():
            pytest.fail(f"{BINARY} is missing: run `cargo build --bin job-progress` first")
        self.process = subprocess.Popen([str(BINARY), "serve"], env=self.env, stdout=self.log, stderr=self.log)
        eventually(self._healthy, 60, "the server answering /healthz")

    def _healthy(self) -> bool:
        assert self.process is not None and self.process.poll() is None, "the server exited; see server.log"
        try:
            with urllib.request.urlopen(f"{self.api}/healthz", timeout=1):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        self.kill()
        self.start()

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The job's record, or None while it is unknown."""
        request = urllib.request.Request(f"{self.api}/api/v1/jobs/{job_id}/progress",
                                         headers={"Authorization": f"Bearer {self.read_token}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.load(response)["data"]
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise

    def logs(self, job_id: str) -> list[dict[str, Any]]:
        """The job's kept log lines."""
        request = urllib.request.Request(f"{self.api}/api/v1/jobs/{job_id}/logs?limit=1000",
                                         headers={"Authorization": f"Bearer {self.read_token}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)["data"]["lines"]

    def write(self, method: str, path: str, body: dict[str, Any], token: str | None = None) -> tuple[int, Any]:
        """A raw write call (with the write token unless another is given): (status, envelope)."""
        request = urllib.request.Request(f"{self.api}{path}", data=json.dumps(body).encode(), method=method,
                                         headers={"Authorization": f"Bearer {token or self.write_token}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as err:
            return err.code, json.load(err)

    def requests_to(self, route: str, method: str = "POST") -> int:
        """How many requests this server process has answered on ``route`` (from /metrics)."""
        with urllib.request.urlopen(f"{self.api}/metrics", timeout=5) as response:
            text = response.read().decode()
        pattern = re.compile(r'^job_progress_http_requests_total\{route="' + re.escape(route)
                             + r'",method="' + method + r'",status="\d+"\} (\d+)', re.M)
        return sum(int(n) for n in pattern.findall(text))

    def close(self) -> None:
        self.kill()
        self.log.close()
        prefix = self.env.get("KEY_PREFIX")
        if prefix and self.env.get("REDIS_URL"):
            import redis  # installed with celery[redis]

            store = redis.Redis.from_url(self.env["REDIS_URL"])
            for key in store.scan_iter(match=f"{prefix}*"):
                store.delete(key)


@pytest.fixture
def server(tmp_path: Path):
    """A server on the embedded stores (in-process hot store, SQLite)."""
    s = Server(tmp_path, {})
    yield s
    s.close()


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Job ids unique to this run (the PostgreSQL archive is shared)."""
    run = secrets.token_hex(4)
    return lambda name: f"{name}-{run}"
