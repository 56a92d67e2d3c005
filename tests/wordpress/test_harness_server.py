"""The WordPress tests' ``php -S``: stopping it stops every worker process
(PHP_CLI_SERVER_WORKERS forks children that outlive a killed parent) and
leaves nothing listening on its port."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
import requests

from tests.wordpress import harness


@pytest.mark.skipif(shutil.which("php") is None, reason="php is not installed")
def test_stopping_the_server_stops_its_workers_and_frees_the_port(tmp_path):
    (tmp_path / "index.php").write_text("<?php echo getmypid();")
    port = harness.free_port()
    with (tmp_path / "server.log").open("wb") as log:
        server = harness.serve_php(
            port, tmp_path, tmp_path / "index.php", workers=4, log=log, cwd=tmp_path
        )
        try:
            harness.wait_for_port(port)
            # The workers fork at start-up, and a loaded machine can take the
            # first connection before the last of them exists: wait for all four.
            deadline = time.monotonic() + 15
            while True:
                group = subprocess.run(
                    ["pgrep", "-g", str(server.pid)], capture_output=True, text=True, check=False
                ).stdout.split()
                if len(group) >= 5 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert len(group) == 5  # the parent and its 4 workers
            # php -S's parent keeps listening beside its workers, so any of
            # the five may answer: what matters is that the group serves.
            answer = requests.get(f"http://127.0.0.1:{port}/", timeout=10)
            assert answer.text in group
        finally:
            harness.stop_php(server, port)
    with pytest.raises(ProcessLookupError):
        os.killpg(server.pid, 0)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/", timeout=2)
