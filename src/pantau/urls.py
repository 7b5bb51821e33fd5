"""User information in URLs: found, and removed before a URL reaches a log, a label or a store."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

# scheme://USERINFO@ : userinfo has no '/', '?', '#', '@' nor blanks (RFC 3986, section 3.2.1).
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s'\"]*@")


def has_userinfo(url: str) -> bool:
    """Whether ``url`` carries a user name or password (``scheme://user:pass@host``)."""
    return bool(_USERINFO.search(url))


def redact_url(url: str) -> str:
    """``url`` without its user information; anything that is not a URL is returned as is."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host))


def redact_text(text: str) -> str:
    """``text`` with the user information of every URL in it removed (for messages)."""
    return _USERINFO.sub(r"\1", text)
