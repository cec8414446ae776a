"""The database URL a project's own env.py configures, learnt without running a migration.

Many projects build the URL inside env.py from their application's settings, so an adopted
project needs it repeated nowhere. migctl runs env.py under an Alembic EnvironmentContext
whose ``configure()`` records the URL and then stops env.py, before any transaction,
migration or version table:

1. offline mode first (``alembic --sql``): env.py calls ``configure(url=...)`` and connects
   to nothing;
2. online mode when offline named no URL: env.py builds its engine and connects, and
   ``configure(connection=...)`` gives that engine's URL. migctl itself writes nothing; what
   env.py does before it configures still runs, as under plain ``alembic current``.
"""

from __future__ import annotations

import io
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from migctl.core.relational.project import ALEMBIC_RUN_LOCK, AlembicProject

log = logging.getLogger("migctl")


class _Learned(Exception):
    """Raised from ``configure()`` to stop env.py once the URL is known."""


def url_from_env_py(project: AlembicProject) -> str | None:
    """The URL env.py configures (password included: for drivers, never for display), or
    ``None`` when it names none (env.py's own error, if any, is logged at debug level).

    Runs in a thread of its own: an async env.py calls ``asyncio.run``, which cannot run inside
    the caller's event loop.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="migctl-url-probe") as worker:
        return worker.submit(_probe, project).result()


def _probe(project: AlembicProject) -> str | None:
    for as_sql in (True, False):
        url = _run_env(project, as_sql)
        if url:
            log.debug("database URL learnt from %s in %s mode", project.script_location / "env.py",
                      "offline" if as_sql else "online")
            return url
    return None


def _render(url: Any) -> str | None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if url is None or not str(url).strip():
        return None
    try:
        return make_url(url).render_as_string(hide_password=False)
    except ArgumentError:  # not a URL: validate_url says so in one line
        return str(url).strip()


def _run_env(project: AlembicProject, as_sql: bool) -> str | None:
    from alembic.runtime.environment import EnvironmentContext
    from alembic.script import ScriptDirectory

    from migctl.core.db import first_line
    from migctl.core.relational.runner import _restore_logging

    found: dict[str, str | None] = {}
    with ALEMBIC_RUN_LOCK:
        config = project.make_config(output_buffer=io.StringIO())
        # alembic.ini's own sqlalchemy.url was weighed before env.py was asked (and found empty
        # or the placeholder of `alembic init`): env.py merely passing it on names nothing new.
        from_ini = _render(config.get_main_option("sqlalchemy.url"))
        # Not project.script(): loading every revision file is not needed to run env.py.
        script = ScriptDirectory.from_config(config)
        ctx = EnvironmentContext(config, script, as_sql=as_sql)

        def configure(*_args: Any, connection: Any = None, url: Any = None, **_options: Any) -> None:
            engine = getattr(connection, "engine", None)
            found["url"] = _render(getattr(engine, "url", None) or url or config.get_main_option("sqlalchemy.url"))
            raise _Learned

        ctx.configure = configure  # type: ignore[method-assign]
        error = None
        try:
            with ctx:
                script.run_env()
        except _Learned:
            pass
        except Exception as exc:  # env.py's own failure (no URL, no server, a bad import)
            error = f"{type(exc).__name__}: {first_line(exc)}"
        except SystemExit as exc:  # an env.py that gives up with sys.exit("no URL ...")
            error = f"SystemExit: {exc.code}"
        finally:
            _restore_logging()
        url = found.get("url") or _render(config.get_main_option("sqlalchemy.url"))
    if url == from_ini:
        url = None
    if error and not url:
        log.debug("env.py in %s mode named no URL: %s", "offline" if as_sql else "online", error)
    return url
