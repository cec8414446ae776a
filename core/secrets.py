"""Keep passwords out of everything migctl prints, logs, records or hands to a child process.

Every URL passes through :func:`mask_url` before display; every free-form text (database
errors, tracebacks) passes through :func:`scrub`, which masks the password of each URL in it
and every password migctl has seen in this process where it stands as a whole token. Both are
linear in their input: an error may echo a 100,000-character argument. Child processes get
:func:`child_env`, never ``os.environ``; a libpq tool gets :func:`libpq_child`.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator
from urllib.parse import quote, unquote

_known: set[str] = set()
# Names that are not secret (user, host, database): a password equal to one of them is masked
# where it stands in a URL, not wherever the word occurs.
_public: set[str] = set()
_DSN_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'[^']*'|[^\s&']+)", re.IGNORECASE)
_SCAN_WINDOW = 4096  # how far after "://" a password may end, in free text
LINE_LIMIT = 300  # an error line echoes at most this much of what it was given


def remember(password: str | None, *, beside: Iterable[str | None] = ()) -> None:
    """Register a secret so that :func:`scrub` removes it wherever it shows up as a token;
    ``beside`` are the user, host and database names given with it."""
    if password and len(password) >= 2:
        _known.add(password)
        _known.add(unquote(password))
    _public.update(w for w in beside if w)


def _password_span(text: str, start: int, end: int, *, free_text: bool) -> tuple[int, int] | None:
    """Where the password of the URL authority starting at ``start`` is, ``[from, to)``.

    The password runs to the last "@" before the first "/" that follows an "@" (operators
    paste unencoded "@" and spaces into passwords). In free text the host also ends at a
    blank or a quote, and the user name holds neither "/" nor a blank."""
    first_at = text.find("@", start, end)
    if first_at < 0:
        return None
    auth_end = end
    stops = "/?" + (" \t\r\n'\"" if free_text else "")
    for stop in stops:
        found = text.find(stop, first_at, auth_end)
        if found >= 0:
            auth_end = found
    last_at = text.rfind("@", start, auth_end)
    colon = text.find(":", start, last_at)
    if colon < 0:
        return None
    if free_text and any(c in text[start:colon] for c in "/ \t\r\n'\""):
        return None
    return colon + 1, last_at


def _mask_dsn(text: str) -> str:
    return _DSN_PASSWORD.sub(lambda m: m["head"] + "***", text)


def mask_url(url: str | None) -> str:
    """``postgresql://app:s3cret@db/rag`` -> ``postgresql://app:***@db/rag``: the password's
    place in the URL, nothing else (a password ``postgres`` leaves ``postgresql`` alone)."""
    if not url:
        return ""
    scheme = url.find("://")
    span = _password_span(url, scheme + 3 if scheme >= 0 else 0, len(url), free_text=False)
    if span is not None and span[1] > span[0]:
        url = url[:span[0]] + "***" + url[span[1]:]
    return _mask_dsn(url)


def encode_password(url: str) -> str:
    """``postgresql://app:Xy@Secret9@db/rag`` -> ``postgresql://app:Xy%40Secret9@db/rag``.

    A password pasted with an unencoded "@" would otherwise give the driver the wrong password
    and a host made of the password's tail, which the driver then prints in its error."""
    scheme = url.find("://")
    span = _password_span(url, scheme + 3, len(url), free_text=False) if scheme >= 0 else None
    if span is None or "@" not in url[span[0]:span[1]]:
        return url
    return url[:span[0]] + quote(url[span[0]:span[1]], safe="") + url[span[1]:]


def url_password(url: str) -> str | None:
    """The password of ``url`` as written (percent-encoded or not), found as :func:`mask_url` finds it."""
    scheme = url.find("://")
    span = _password_span(url, scheme + 3 if scheme >= 0 else 0, len(url), free_text=False)
    return url[span[0]:span[1]] if span is not None and span[1] > span[0] else None


def _mask_urls(text: str) -> str:
    out, done, pos = [], 0, 0
    while (pos := text.find("://", pos)) >= 0:
        start = pos + 3
        end = min(len(text), start + _SCAN_WINDOW)
        newline = text.find("\n", start, end)
        span = _password_span(text, start, newline if newline >= 0 else end, free_text=True)
        if span is not None and span[1] > span[0]:
            out += [text[done:span[0]], "***"]
            done = pos = span[1]
        else:
            pos = start
    return "".join([*out, text[done:]])


def _token(secret: str) -> str:
    """A short ``secret`` as a whole token only, not inside a longer word (``postgres`` in
    ``postgresql``); a long one is no accident wherever it occurs."""
    if len(secret) >= 12:
        return re.escape(secret)
    before = r"(?<!\w)" if re.match(r"\w", secret[0]) else ""
    after = r"(?!\w)" if re.match(r"\w", secret[-1]) else ""
    return before + re.escape(secret) + after


def _replace_known(text: str) -> str:
    # tuple(): other threads (the core's, the overview's) may remember a secret meanwhile
    public = tuple(_public)
    secrets = sorted((s for s in tuple(_known) if s not in public), key=len, reverse=True)
    if not secrets:
        return text
    return re.sub("|".join(map(_token, secrets)), "***", text)


def clip(text: str, limit: int = LINE_LIMIT) -> str:
    """At most ``limit`` characters: an error echoing a huge argument stays one readable line."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def scrub(text: str) -> str:
    """Mask URL passwords, ``password=`` settings and every remembered secret in ``text``."""
    return _replace_known(_mask_dsn(_mask_urls(text)))


# -- child processes ---------------------------------------------------------------------------
# What a child may inherit: where programs, libraries and home are, language and time zone.
# Nothing else: a Milvus Lite server started by the console kept DATABASE_URL and MILVUS_TOKEN
# in its /proc/<pid>/environ after the console quit.
_CHILD_VARS = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP",
               "LD_LIBRARY_PATH", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "SYSTEMROOT")
# libpq's own settings (PGSSLMODE, PGSERVICE, PGPASSFILE, ...) for the libpq tools only.
_LIBPQ_PREFIX = "PG"


def child_env(*, libpq: bool = False, **extra: str) -> dict[str, str]:
    """The environment for a child process: :data:`_CHILD_VARS`, ``LC_*``, with ``libpq`` the
    ``PG*`` settings too, then ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if k in _CHILD_VARS or k.startswith("LC_") or (libpq and k.startswith(_LIBPQ_PREFIX))}
    env.update(extra)
    return env


def _passfile_line(password: str) -> str:
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    return f"*:*:*:*:{escaped}\n"


@contextlib.contextmanager
def libpq_child(url: str) -> Iterator[tuple[str, dict[str, str]]]:
    """``(libpq URL without the password, environment)`` for ``pg_dump``/``pg_restore``.

    The password goes to a passfile of mode 0600 named by ``PGPASSFILE`` and removed on exit,
    so it is in neither the child's argv nor its environment (both readable in /proc)."""
    import tempfile

    from sqlalchemy.engine import make_url

    u = make_url(url)
    password = u.password if u.password is not None else u.query.get("password")
    if isinstance(password, tuple):
        password = password[-1]
    # URL.set(password=None) keeps the password (None means "unchanged"): _replace clears it.
    plain = (u.difference_update_query(["password"]).set(drivername="postgresql")._replace(password=None)
             .render_as_string(hide_password=False))
    env = child_env(libpq=True)
    if password is None:  # the operator's own PGPASSWORD or ~/.pgpass, as for every connection
        yield plain, env
        return
    password = str(password)
    if "\n" in password or "\r" in password:  # a passfile is line-based
        yield plain, {**env, "PGPASSWORD": password}
        return
    env.pop("PGPASSWORD", None)  # it would win over the passfile
    fd, path = tempfile.mkstemp(prefix="migctl-pgpass-")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(_passfile_line(password))
        yield plain, {**env, "PGPASSFILE": path}
    finally:
        os.unlink(path)
