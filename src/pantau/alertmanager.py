"""``pantau alertmanager-config``: fill secrets from files into Alertmanager's configuration.

Alertmanager reads the SMTP password (``smtp_auth_password_file``) and webhook credentials
(``credentials_file``) from files itself, but Debian 12's Alertmanager 0.25 has no
``bot_token_file`` for Telegram (0.26 added it). So the shipped ``alertmanager.yml`` writes
``bot_token: "<file:/etc/pantau/secrets/telegram-bot-token>"`` and this command writes a copy with
every ``"<file:PATH>"`` value replaced by the content of PATH, readable by its owner only, for
Alertmanager to load (``--config.file``). Nothing else changes; no secret is ever printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from pantau.errors import ConfigError

#: Password files Alertmanager reads itself. 0.25 sends their content as is, newline included.
PASSWORD_FILE = re.compile(r"""^\s*(?:smtp_)?auth_password_file:\s*["']?([^"'\s]+)""", re.M)

#: A YAML scalar (quoted or plain) naming the file that holds the value.
FILE_REF = re.compile(r"""(["']?)<file:(/[^"'<>\s]+)>\1""")


def _read_secret(path: str) -> str:
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the secret file: {exc.strerror}") from exc
    if not value or "\n" in value:
        raise ConfigError(f"{path}: the secret file must hold one non-empty line")
    return value


def render(text: str, read: Callable[[str], str] = _read_secret) -> tuple[str, int]:
    """``text`` with each ``"<file:PATH>"`` replaced by the quoted secret; and how many.

    Raises
    ------
    ConfigError
        When a referenced file cannot be read or is empty (the message names the file).
    """
    # json.dumps gives a double-quoted scalar YAML reads back unchanged, whatever the secret holds.
    return FILE_REF.subn(lambda m: json.dumps(read(m.group(2))), text)


def check_password_files(text: str) -> None:
    """Refuse a password file Alertmanager would send with a trailing newline.

    Alertmanager 0.25 reads ``auth_password_file`` without trimming it, so a file written with
    ``echo`` makes every SMTP login fail ("535 Authentication credentials invalid").

    Raises
    ------
    ConfigError
        Naming the file and how to write it.
    """
    for path in PASSWORD_FILE.findall(text):
        try:
            content = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the password file: {exc.strerror}") from exc
        if content.endswith((b"\n", b"\r")):
            raise ConfigError(
                f"{path}: ends with a newline, which Alertmanager 0.25 sends as part of the "
                f"password; rewrite it with: printf '%s' 'PASSWORD' > {path}"
            )


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically with mode 0600 (never readable by others)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _run(args: argparse.Namespace) -> int:
    source = Path(args.source)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror}") from exc
    rendered, count = render(text)
    check_password_files(rendered)
    write_private(Path(args.target), rendered)
    print(f"{args.target}: written from {source}, {count} secret(s) filled from files")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "alertmanager-config",
        help='copy alertmanager.yml with each "<file:PATH>" value read from PATH (mode 0600)',
    )
    p.add_argument("source", help="alertmanager.yml with <file:PATH> references")
    p.add_argument("target", help="where Alertmanager reads its config (e.g. under /run)")
    p.set_defaults(func=_run)
