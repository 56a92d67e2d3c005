"""A TCP proxy on loopback in front of PostgreSQL that can stall, cut or
lose the answer to a COMMIT, so tests see the database go away as a
client does (the bridge's URL points at the proxy; ``sslmode=disable`` so the
proxy can read the protocol).

- ``stall()``: bytes stop flowing both ways (new connections too) until
  ``resume()``; sockets stay open, as with a hung network or pooler.
- ``go_down()``: every connection is closed and new ones are closed at once,
  until ``come_back()``; ``go_down_when(pattern)`` does it the moment a client
  sends ``pattern`` (the statement is not forwarded).
- ``stall_when(pattern)``: stalls the moment a client sends ``pattern``.
- ``lose_next_commit_ack()``: the next COMMIT reaches PostgreSQL and commits;
  its answer ("COMMIT") is dropped and that connection closed, as when the
  network dies just after the server committed.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from sqlalchemy.engine import make_url

# PostgreSQL's simple query "COMMIT" and its CommandComplete answer.
COMMIT_QUERY = b"Q\x00\x00\x00\x0bCOMMIT\x00"
COMMIT_DONE = b"C\x00\x00\x00\x0bCOMMIT\x00"


class _Link:
    def __init__(self, client: socket.socket, server: socket.socket):
        self.client, self.server = client, server
        self.drop_commit_answer = False
        self.closed = False

    def close(self) -> None:
        self.closed = True
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


class PgProxy:
    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5432)):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._flowing = threading.Event()
        self._flowing.set()
        self.down = False
        self._down_pattern: bytes | None = None
        self._stall_pattern: bytes | None = None
        self._lose_commit_ack = False
        self.commit_acks_lost = 0
        self.went_down = threading.Event()
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True, name="pgproxy-accept").start()

    @classmethod
    def for_url(cls, database_url: str) -> PgProxy:
        url = make_url(database_url)
        return cls((url.host or "127.0.0.1", url.port or 5432))

    def url(self, database_url: str) -> str:
        """``database_url`` through this proxy."""
        url = make_url(database_url)
        url = url.set(host="127.0.0.1", port=self.port).update_query_dict({"sslmode": "disable"})
        return url.render_as_string(hide_password=False)

    # What the tests do ------------------------------------------------------

    def stall(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def go_down(self) -> None:
        self.down = True
        self.went_down.set()
        with self._lock:
            links, self._links = list(self._links), set()
        for link in links:
            link.close()

    def go_down_when(self, pattern: bytes) -> None:
        self._down_pattern = pattern

    def stall_when(self, pattern: bytes) -> None:
        self._stall_pattern = pattern

    def come_back(self) -> None:
        self._down_pattern = None
        self.down = False
        self.went_down.clear()

    def lose_next_commit_ack(self) -> None:
        self._lose_commit_ack = True

    def close(self) -> None:
        self._stopped = True
        self.resume()
        with contextlib.suppress(OSError):
            self.listener.close()
        self.go_down()

    # The plumbing -------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                with contextlib.suppress(OSError):
                    client.close()
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            link = _Link(client, server)
            with self._lock:
                self._links.add(link)
            threading.Thread(target=self._upstream, args=(link,), daemon=True).start()
            threading.Thread(target=self._downstream, args=(link,), daemon=True).start()

    def _wait_to_flow(self, link: _Link) -> bool:
        while not self._flowing.wait(0.05):
            if link.closed:
                return False
        return not link.closed

    def _upstream(self, link: _Link) -> None:
        """Client to PostgreSQL."""
        try:
            while True:
                data = link.client.recv(65536)
                if not data or not self._wait_to_flow(link):
                    break
                if self._stall_pattern is not None and self._stall_pattern in data:
                    self._stall_pattern = None
                    self.stall()
                    if not self._wait_to_flow(link):
                        break
                pattern = self._down_pattern
                if pattern is not None and pattern in data:
                    self._down_pattern = None
                    self.go_down()
                    return
                if self._lose_commit_ack and COMMIT_QUERY in data:
                    self._lose_commit_ack = False
                    link.drop_commit_answer = True
                link.server.sendall(data)
        except OSError:
            pass
        link.close()

    def _downstream(self, link: _Link) -> None:
        """PostgreSQL to client."""
        try:
            while True:
                data = link.server.recv(65536)
                if not data or not self._wait_to_flow(link):
                    break
                if link.drop_commit_answer and COMMIT_DONE in data:
                    # Committed on the server; the client never hears of it.
                    self.commit_acks_lost += 1
                    break
                link.client.sendall(data)
        except OSError:
            pass
        link.close()


def timed(function, *args, **kwargs):
    """(result, seconds) of one call."""
    started = time.monotonic()
    result = function(*args, **kwargs)
    return result, time.monotonic() - started
