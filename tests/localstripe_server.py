"""localstripe, the fake Stripe server from PyPI, on a free loopback port.

Shared by the test packages that need a Stripe on loopback (each starts its
own server from its own conftest; none imports another package's fixtures).

localstripe keeps its whole store in one fixed file, ``/tmp/localstripe.pickle``,
rewritten after every change and read back at start unless
``--from-scratch``. Two servers on one machine (two test runs, or two
packages' fixtures) would then overwrite each other's file. The launcher
below turns that file off: each server keeps its store in memory only and
starts empty, so any number can run at once without sharing anything.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

# Runs localstripe's own ``start()`` (argument parsing, aiohttp server) with
# the store's disk persistence disabled.
LAUNCHER = (
    "import localstripe.resources as r\n"
    "r.Store.dump_to_disk = lambda self: None\n"
    "r.Store.try_load_from_disk = lambda self: None\n"
    "from localstripe.server import start\n"
    "start()\n"
)


def free_port() -> int:
    """A TCP port nobody listens on right now (loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LocalStripe:
    port: int
    process: subprocess.Popen
    log_path: Path | None = None

    @property
    def url(self) -> str:
        """The API base, as ``base_addresses={"api": ...}`` takes it."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def js_url(self) -> str:
        """localstripe's stand-in for ``https://js.stripe.com/v3/``."""
        return f"{self.url}/js.stripe.com/v3/"

    def reset(self) -> None:
        """Empty the store (webhook registrations stay)."""
        requests.delete(f"{self.url}/_config/data", timeout=5).raise_for_status()

    def log(self) -> str:
        """What the server printed (its access log), for failure messages."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start(log_path: Path | None = None, timeout: float = 15.0) -> LocalStripe:
    """Start a server and wait until it answers; ``log_path`` keeps its output."""
    port = free_port()
    output = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, "--port", str(port), "--from-scratch"],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    finally:
        if log_path:
            output.close()
    server = LocalStripe(port=port, process=process, log_path=log_path)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"localstripe exited with {process.returncode}:\n{server.log()}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(server.js_url, timeout=1).status_code == 200:
                return server
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"localstripe did not answer within {timeout} s:\n{server.log()}")
        time.sleep(0.05)
