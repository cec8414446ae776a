"""Keep passwords out of everything migctl prints, logs or records.

Every URL passes through :func:`mask_url` before display; every free-form text
(database errors, tracebacks) passes through :func:`scrub`, which also replaces
any password migctl has seen in this process.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

_known: set[str] = set()
# scheme://user:PASSWORD@host — the password runs to the last "@" of the authority, because
# operators do paste unencoded "@" into passwords.
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^\s]*)(?P<tail>@)(?=[^@\s]*$|[^@\s]*[\s/?])")
_DSN_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'[^']*'|\S+)", re.IGNORECASE)


def remember(password: str | None) -> None:
    """Register a secret so that :func:`scrub` removes it wherever it shows up."""
    if password and len(password) >= 2:
        _known.add(password)
        _known.add(unquote(password))


def mask_url(url: str | None) -> str:
    """``postgresql://app:s3cret@db/rag`` -> ``postgresql://app:***@db/rag``."""
    if not url:
        return ""
    masked = _URL_PASSWORD.sub(lambda m: m["head"] + ("***" if m["pw"] else "") + m["tail"], url)
    masked = _DSN_PASSWORD.sub(lambda m: m["head"] + "***", masked)
    return _replace_known(masked)


def encode_password(url: str) -> str:
    """``postgresql://app:Xy@Secret9@db/rag`` -> ``postgresql://app:Xy%40Secret9@db/rag``.

    A password pasted with an unencoded "@" would otherwise give the driver the wrong password
    and a host made of the password's tail, which the driver then prints in its error. The
    password runs to the last "@" before the first "/" that follows an "@" (so an "@" in the
    database name or the query string stays where it is)."""
    scheme, sep, rest = url.partition("://")
    first_at = rest.find("@")
    if not sep or first_at < 0:
        return url
    slash = rest.find("/", first_at)
    authority, tail = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    question = authority.find("?")
    if question >= 0:
        authority, tail = authority[:question], authority[question:] + tail
    userinfo, _, host = authority.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if not colon or "@" not in password:
        return url
    return f"{scheme}://{user}:{quote(password, safe='')}@{host}{tail}"


def _replace_known(text: str) -> str:
    for secret in sorted(_known, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def scrub(text: str) -> str:
    """Mask URL passwords and every remembered secret in ``text``."""
    return mask_url(text)
