"""Helpers for tests with a real ``pantau collector`` process: the process itself (over a SQLite
file, always reaped), a loopback TCP service for agents to probe, and small HTTP helpers."""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import signal
import socket
import socketserver
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from agentproc import free_port

from pantau.events import format_time, parse_time

#: The site of the scripted stand-in agent's events.
SITE = "layanan"
#: Seconds a condition may take to come true in these tests (bounded loops, not a speed claim).
DEADLINE = 60.0


def wait_for(check: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    """Poll ``check`` every 0.2 s until it returns something true; fail naming ``what``."""
    end, last = time.monotonic() + deadline, None
    while time.monotonic() < end:
        try:
            last = check()
            if last:
                return last
        except (OSError, ValueError, KeyError) as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def get(url: str, auth: dict[str, str] | None = None) -> tuple[int, Any]:
    """Status and body (JSON when it is an object, else text) of a GET."""
    req = urllib.request.Request(url, headers=auth or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            body, status = r.read(), r.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read(), exc.code
    text = body.decode()
    return status, json.loads(text) if text.startswith("{") else text


def post(url: str, data: object, auth: dict[str, str] | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", **(auth or {})}
    req = urllib.request.Request(url, json.dumps(data).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class Service:
    """A TCP service on a fixed loopback port that the test takes down and brings back."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server: socketserver.ThreadingTCPServer | None = None

    def up(self) -> None:
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(
            ("127.0.0.1", self.port), socketserver.BaseRequestHandler
        )
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def service() -> Iterator[Service]:
    """A loopback TCP service, up (a fixture for every test: tests/conftest.py loads it)."""
    s = Service()
    s.up()
    yield s
    s.down()


class CollectorProcess:
    """``pantau collector`` as a child process over a SQLite file in ``folder``, always reaped.

    ``agents`` are agent base URLs, ``sites`` inventory TOML blocks (``agentproc.site_toml``),
    ``extra`` more ``[collector]`` lines; ``auth`` the headers of the API calls.
    """

    def __init__(
        self,
        folder: Path,
        agents: list[str],
        sites: list[str],
        extra: str = "",
        auth: dict[str, str] | None = None,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.port, self.auth = folder, free_port(), auth
        self.api = f"http://127.0.0.1:{self.port}"
        self.config, self.log = folder / "collector.toml", folder / "collector.log"
        self.db = folder / "db" / "collector.db"
        self.proc: subprocess.Popen | None = None
        self.write(agents, sites, extra)

    def write(
        self, agents: list[str], sites: list[str], extra: str = "", listen: int | None = None
    ) -> None:
        """(Re)write the config file, as an operator would before a reload."""
        self.config.write_text(
            f'[collector]\nname = "c1"\nlisten = "127.0.0.1:{listen or self.port}"\n'
            f'database = "sqlite:///{self.db}"\nagents = {json.dumps(agents)}\n'
            f"pull_interval = 0.2\nagent_timeout = 2\n{extra}\n" + "\n".join(sites)
        )

    def start(self, healthy: bool = True) -> None:
        argv = [sys.executable, "-P", "-m", "pantau.cli", "collector", "--config", str(self.config)]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, cwd=self.folder
            )
        ok = (200,) if healthy else (200, 503)
        wait_for(lambda: get(f"{self.api}/healthz", self.auth)[0] in ok, "collector up")

    def json(self, path: str) -> Any:
        status, body = get(f"{self.api}{path}", self.auth)
        assert status == 200, (path, status, body)
        return body

    def agents(self) -> dict[str, dict]:
        """``/api/v1/agents`` by source URL."""
        return {a["source"]: a for a in self.json("/api/v1/agents")["agents"]}

    def outages(self, site: str) -> list[dict]:
        return self.json(f"/api/v1/outages?site={site}")["outages"]

    def metric(self, name: str, **labels: str) -> float | None:
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in get(f"{self.api}/metrics", self.auth)[1].splitlines():
            if line.startswith(f"{name}{{{want}}} ") or (
                not labels and line.startswith(name + " ")
            ):
                return float(line.rsplit(" ", 1)[1])
        return None

    def stored(self) -> list[tuple]:
        """Every stored event's content, from the database itself (read-only)."""
        db = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return sorted(
                db.execute("SELECT agent, type, site, probe, old, new, time FROM events").fetchall()
            )
        finally:
            db.close()

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=20)

    def reap(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def content(events: list[dict]) -> list[tuple]:
    """Agent events (API form) in the form of :meth:`CollectorProcess.stored`."""
    return sorted(
        (e["agent"], e["type"], e["site"], e["probe"], e["old"], e["new"], parse_time(e["time"]))
        for e in events
    )


class Link:
    """A loopback TCP relay from a port of its own to ``port``, which the test can cut and mend:
    a collector pulling through it loses its agent while the agent goes on (a partition)."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._cut = threading.Event()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        self._cut.set()
        with self._lock:
            for s in self._open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            self._open.clear()

    def mend(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self.cut()
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if self._cut.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(1 << 16):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            src.close()  # each pump closes the socket it reads; the other one's is its own


def event(cursor: int, old: str, new: str, t: float) -> dict:
    """An event of agent ``x`` for :data:`SITE` in the API form."""
    return {
        "cursor": cursor, "agent": "x", "type": "site", "site": SITE, "probe": None, "old": old,
        "new": new, "time": format_time(t), "reason": "timeout" if new == "down" else "recovered",
        "isolated": False, "hop": None,
    }  # fmt: skip


class StandIn(http.server.ThreadingHTTPServer):
    """Stands in for an agent's API on a loopback port, for faults the real agent cannot be
    made to show on demand: each GET is answered with :meth:`answer` (body, send a Date)."""

    def __init__(self) -> None:
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body, date = stand_in.answer(self.path)
                if date:
                    self.send_response(200)
                else:  # no Date header either: a proxy that strips it
                    self.send_response_only(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def answer(self, path: str) -> tuple[bytes, bool]:
        raise NotImplementedError


class Broken(StandIn):
    """A broken or hostile agent (the real agent never answers like this): each request gets
    the next body of ``answers``, the last one again and again."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = list(answers)
        super().__init__()

    def answer(self, path: str) -> tuple[bytes, bool]:
        answers = self.answers
        return (answers.pop(0) if len(answers) > 1 else answers[0]), True


class ScriptedLog(StandIn):
    """Serves ``events`` as the agent's event API does, announcing ``high_water``; without
    ``clock``, its answers carry neither ``now`` nor a ``Date`` header."""

    def __init__(self, events: list[dict], high_water: int, clock: bool = True) -> None:
        self.events, self.high_water, self.clock = events, high_water, clock
        super().__init__()

    def answer(self, path: str) -> tuple[bytes, bool]:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        after, limit = int(query["after"][0]), int(query["limit"][0])
        page = [e for e in self.events if e["cursor"] > after][:limit]
        body = {
            "agent": "x",
            "log_id": "L1",
            "events": page,
            "next": page[-1]["cursor"] if page else after,
            "oldest": 1,
            "more": False,
            "high_water": self.high_water,
            "dropped": 0,
            **({"now": format_time(time.time())} if self.clock else {}),
        }
        return json.dumps(body).encode(), self.clock
