"""Where Alertmanager's notifications land in tests: a real SMTP server and a Telegram stand-in.

Both listen on 127.0.0.1 only, record what arrives, and are stopped by their fixtures.

* :class:`SmtpSink`: aiosmtpd, a real SMTP server, with AUTH PLAIN so that the password
  Alertmanager reads from ``smtp_auth_password_file`` is checked on the wire.
* :class:`TelegramStandIn`: Telegram's Bot API cannot run here, so this HTTP server answers the two
  methods Alertmanager's client (telebot v3) calls, ``getMe`` and ``sendMessage``, and checks each
  request as Telegram would: the bot token in the path (401 otherwise), a numeric ``chat_id``, a
  known ``parse_mode``, text of 1..4096 characters, and, in HTML mode, only Telegram's tags,
  balanced (400 "can't parse entities" otherwise). Refused requests are recorded too.
"""

from __future__ import annotations

import email
import email.policy
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from promstack import free_port

from pantau.lab.runner import wait_until  # noqa: F401  (re-exported for the notification tests)


@dataclass(frozen=True)
class Mail:
    """One message the SMTP server accepted."""

    at: float
    login: str | None
    password: str | None
    rcpt: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        return body.get_content() if body is not None else ""


class SmtpSink:
    """aiosmtpd on 127.0.0.1 that accepts one login and records each message."""

    def __init__(self, user: str, password: str) -> None:
        self.mails: list[Mail] = []
        self._lock = threading.Lock()
        self._user, self._password = user.encode(), password.encode()
        self._controller = Controller(
            self,
            hostname="127.0.0.1",
            port=free_port(),
            authenticator=self._authenticate,
            auth_require_tls=False,  # loopback only; Alertmanager's PLAIN auth allows 127.0.0.1
            # aiosmtpd's LOGIN challenge is "User Name", where Alertmanager (like most servers'
            # clients) expects "Username:"; PLAIN is what mail servers offer first anyway.
            auth_exclude_mechanism=["LOGIN"],
        )

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            self._user,
            self._password,
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    async def handle_DATA(self, server, session, envelope) -> str:
        auth = session.auth_data if isinstance(session.auth_data, LoginPassword) else None
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.mails.append(
                Mail(
                    time.monotonic(),
                    auth.login.decode() if auth else None,
                    auth.password.decode() if auth else None,
                    tuple(envelope.rcpt_tos),
                    message,
                )
            )
        return "250 OK"

    def start(self) -> None:
        self._controller.start()

    @property
    def port(self) -> int:
        return self._controller.port

    def stop(self) -> None:
        self._controller.stop()

    def received(self) -> list[Mail]:
        with self._lock:
            return list(self.mails)


#: Tags Telegram's HTML parse mode accepts (core.telegram.org/bots/api#html-style).
TELEGRAM_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "span",
    "tg-spoiler", "tg-emoji", "blockquote",
}  # fmt: skip
TELEGRAM_MAX_TEXT = 4096


class _Entities(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in TELEGRAM_TAGS:
            self.errors.append(f"unsupported start tag {tag!r}")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unexpected end tag {tag!r}")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def telegram_html_errors(text: str) -> tuple[list[str], str]:
    """Telegram's complaints about an HTML message, and its text once the entities are parsed."""
    parser = _Entities()
    parser.feed(text)
    parser.close()
    errors = parser.errors + [f"unclosed tag {t!r}" for t in parser.stack]
    return errors, "".join(parser.text)


@dataclass(frozen=True)
class TelegramRequest:
    """One Bot API call: method, its parameters, and whether Telegram would have accepted it."""

    at: float
    token: str
    method: str
    params: dict
    error: str | None


class TelegramStandIn:
    """A stand-in for ``https://api.telegram.org`` on 127.0.0.1 (see the module docstring)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.requests: list[TelegramRequest] = []
        self._lock = threading.Lock()
        self._next_id = 1
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer._handle(self)

            do_GET = do_POST

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        path = req.path.split("?", 1)[0]
        parts = path.strip("/").split("/")
        token = parts[0][3:] if parts and parts[0].startswith("bot") else ""
        method = parts[1] if len(parts) == 2 else ""
        length = int(req.headers.get("Content-Length") or 0)
        raw = req.rfile.read(length) if length else b""
        try:
            params = json.loads(raw) if raw else {}
        except ValueError:
            params = {}
        status, answer, error = self._answer(token, method, params)
        with self._lock:
            self.requests.append(TelegramRequest(time.monotonic(), token, method, params, error))
        body = json.dumps(answer).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)

    def _answer(self, token: str, method: str, params: dict) -> tuple[int, dict, str | None]:
        def refuse(code: int, description: str) -> tuple[int, dict, str]:
            return code, {"ok": False, "error_code": code, "description": description}, description

        if token != self.token:
            return refuse(401, "Unauthorized")
        if method == "getMe":
            bot = {"id": 1, "is_bot": True, "first_name": "pantau", "username": "pantau_test_bot"}
            return 200, {"ok": True, "result": bot}, None
        if method != "sendMessage":
            return refuse(404, "Not Found")
        chat_id = str(params.get("chat_id", ""))
        if not chat_id.lstrip("-").isdigit():
            return refuse(400, "Bad Request: chat not found")
        mode = params.get("parse_mode", "")
        if mode not in ("", "HTML", "Markdown", "MarkdownV2"):
            return refuse(400, f"Bad Request: unsupported parse_mode {mode!r}")
        text = params.get("text", "")
        shown = text
        if mode == "HTML":
            errors, shown = telegram_html_errors(text)
            if errors:
                return refuse(400, f"Bad Request: can't parse entities: {errors[0]}")
        if not shown.strip():
            return refuse(400, "Bad Request: message text is empty")
        if len(shown) > TELEGRAM_MAX_TEXT:
            return refuse(400, "Bad Request: message is too long")
        with self._lock:
            message_id, self._next_id = self._next_id, self._next_id + 1
        chat = {"id": int(chat_id), "type": "supergroup", "title": "piket"}
        result = {"message_id": message_id, "date": int(time.time()), "chat": chat, "text": shown}
        return 200, {"ok": True, "result": result}, None

    def messages(self, chat_id: int | None = None) -> list[TelegramRequest]:
        """Accepted sendMessage calls (to ``chat_id`` when given)."""
        with self._lock:
            return [
                r
                for r in self.requests
                if r.method == "sendMessage"
                and r.error is None
                and (chat_id is None or str(r.params["chat_id"]) == str(chat_id))
            ]

    def refused(self) -> list[TelegramRequest]:
        with self._lock:
            return [r for r in self.requests if r.error is not None]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def alertmanager_test_config(
    shipped: Path,
    out_dir: Path,
    smtp: SmtpSink,
    smtp_password_file: Path,
    telegram: TelegramStandIn,
    token_file: Path,
    edit: Callable[[dict], None] | None = None,
) -> Path:
    """The shipped alertmanager.yml pointed at the test peers, with its waits cut to seconds.

    What changes: the templates glob (this checkout's), the SMTP smarthost (the sink on loopback,
    no STARTTLS: the sink has no certificate), the password file, Telegram's api_url (the
    stand-in) and the token file of the ``<file:...>`` references, which are then filled by
    ``pantau alertmanager-config`` as on a real host. ``edit`` may change the data further.
    """
    data = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    data["templates"] = [str(shipped.parent / "templates" / "*.tmpl")]
    data["global"].update(
        smtp_smarthost=f"127.0.0.1:{smtp.port}",
        smtp_require_tls=False,
        smtp_auth_password_file=str(smtp_password_file),
        telegram_api_url=telegram.url,
    )
    for receiver in data["receivers"]:
        for tg in receiver.get("telegram_configs", []):
            assert tg["bot_token"].startswith("<file:"), tg["bot_token"]
            tg["bot_token"] = f"<file:{token_file}>"

    def shorten(route: dict) -> None:
        route.update({k: "1s" for k in ("group_wait", "group_interval") if k in route})
        for child in route.get("routes", []):
            shorten(child)

    data["route"].update(group_wait="1s", group_interval="1s")
    shorten(data["route"])
    if edit is not None:
        edit(data)
    source = out_dir / "alertmanager.src.yml"
    source.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    target = out_dir / "alertmanager.yml"
    proc = subprocess.run(
        [sys.executable, "-m", "pantau.cli", "alertmanager-config", str(source), str(target)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return target
