"""An Alembic project on disk: its Config, ScriptDirectory and revision graph.

Works for migctl's bundled ``alembic/`` and for a user's project (``alembic init`` or
``alembic init -t async``), whose env.py runs unchanged.
"""

from __future__ import annotations

import ast
import configparser
import re
import threading
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migctl.core.config import AlembicLocation
from migctl.core.errors import UsageError
from migctl.core.relational.graph import RevisionGraph, RevisionNode, build_graph, read_graph

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

# alembic.context / alembic.op are process-wide proxies: one Alembic run at a time.
ALEMBIC_RUN_LOCK = threading.RLock()
SYNC_ENGINE_CALLS = frozenset({"engine_from_config", "create_engine"})
ASYNC_ENGINE_CALLS = frozenset({"async_engine_from_config", "create_async_engine"})


class AlembicProject:
    """A script location plus the options of its ``alembic.ini`` (when there is one)."""

    def __init__(self, location: AlembicLocation, cache_dir: Path | None = None) -> None:
        """``cache_dir``: where compiled revision files are kept between runs (``None``: not kept)."""
        self.location = location
        self.cache_dir = cache_dir
        self.file_digests: dict[str, str] = {}  # sha256 by path of the files loaded (with a cache_dir)
        self.script_location = location.script_location
        self._script: ScriptDirectory | None = None
        if not (self.script_location / "env.py").is_file():
            raise UsageError(f"missing alembic directory: no env.py in {self.script_location}")

    @cached_property
    def ini_options(self) -> dict[str, str]:
        if self.location.ini_path is None:
            return {}
        parser = configparser.ConfigParser(defaults={"here": str(self.location.ini_path.parent)})
        parser.read(self.location.ini_path, encoding="utf-8")
        return dict(parser.items("alembic")) if parser.has_section("alembic") else {}

    @cached_property
    def env_is_async_only(self) -> bool:
        """Whether env.py can only build an async engine (it then needs an async driver)."""
        return env_is_async_only((self.script_location / "env.py").read_text(encoding="utf-8"))

    def version_dirs(self) -> list[Path]:
        raw = self.ini_options.get("version_locations")
        if not raw:
            return [self.script_location / "versions"]
        sep = self.ini_options.get("path_separator")
        # Alembic's separators; without the key (ini files before 1.16) spaces and commas.
        pattern = {None: r"[\s,]+", "space": r"\s+", "newline": r"\n+", "os": ":", ";": ";", ":": ":"}
        parts = re.split(pattern.get(sep, re.escape(sep or " ")), raw.strip())
        return [Path(p.replace("%(here)s", str(self.script_location))) for p in parts if p.strip()]

    def graph(self, cache_dir: Path | None = None) -> RevisionGraph:
        """The revision graph from the files, or from Alembic's loader when they need executing.

        ``cache_dir`` keeps parsed headers between runs (the console passes its state dir).
        """
        recursive = self.ini_options.get("recursive_version_locations", "false").lower() == "true"
        fast = read_graph(self.version_dirs(), recursive, cache_dir)
        if fast is not None and len(fast):
            return fast
        return graph_from_script(self.script())

    def make_config(self, url: str | None = None, output_buffer: Any = None) -> Config:
        from alembic.config import Config

        ini = str(self.location.ini_path) if self.location.ini_path else None
        config = Config(ini, output_buffer=output_buffer)
        config.set_main_option("script_location", str(self.script_location))
        if url is not None:
            config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        # The version table migctl reads: env.py writes the same one (the bundled and scaffolded
        # env.py read these options; any other env.py gets them through honour_version_table).
        config.set_main_option("version_table", self.location.version_table)
        if self.location.version_table_schema:
            config.set_main_option("version_table_schema", self.location.version_table_schema)
        config.attributes["migctl"] = True
        return config

    def script(self) -> ScriptDirectory:
        """The project's ScriptDirectory, loaded once: importing revision files is the slow
        part of every Alembic command, so planning and running share one load."""
        if self._script is None:
            from alembic.script import ScriptDirectory
            from alembic.util import CommandError

            from migctl.core.relational.bytecode_cache import cached_revision_loading

            try:
                with ALEMBIC_RUN_LOCK, cached_revision_loading(self.cache_dir, self.script_location) as digests:
                    script = ScriptDirectory.from_config(self.make_config())
                    _ = script.revision_map.heads  # load the revision files now, where errors are caught
                self.file_digests = digests
            except CommandError as exc:
                raise UsageError(f"alembic project {self.script_location}: {exc}") from None
            except (SyntaxError, ImportError) as exc:
                where = getattr(exc, "filename", None) or ""
                raise UsageError(f"cannot load a revision file {where}: {type(exc).__name__}: {exc}".replace("  ", " ")) from None
            except Exception as exc:  # a revision file that raises while imported
                raise UsageError(f"cannot load the revision files in {self.script_location}: "
                                 f"{type(exc).__name__}: {exc}") from None
            self._script = script
        return self._script


def honour_version_table(ctx: Any) -> Any:
    """Make ``ctx.configure`` default to the configured version table: an env.py written by
    ``alembic init`` passes none, and would write ``alembic_version`` while migctl reads the
    configured one (upgrade ran, then status said every revision pending). An env.py that
    names a version table itself keeps its choice."""
    original = ctx.configure
    main = ctx.config.get_main_option

    def configure(*args: Any, **options: Any) -> None:
        options.setdefault("version_table", main("version_table") or "alembic_version")
        if main("version_table_schema"):
            options.setdefault("version_table_schema", main("version_table_schema"))
        original(*args, **options)

    ctx.configure = configure
    return ctx


def engine_calls(source: str) -> set[str]:
    """The SQLAlchemy engine constructors ``source`` calls (import aliases resolved).

    Calls, not text: a comment or docstring naming ``create_async_engine`` does not make an
    env.py async, and an env.py with a sync branch besides its async one is not async-only.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()  # env.py fails on its own when run; the URL goes to it as written
    known = SYNC_ENGINE_CALLS | ASYNC_ENGINE_CALLS
    aliases = {a.asname: a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               for a in node.names if a.asname and a.name in known}
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        name = aliases.get(name or "", name)
        if name in known:
            found.add(name)
    return found


def env_is_async_only(source: str) -> bool:
    calls = engine_calls(source)
    return bool(calls & ASYNC_ENGINE_CALLS) and not calls & SYNC_ENGINE_CALLS


def graph_from_script(script: ScriptDirectory) -> RevisionGraph:
    nodes = []
    for sc in reversed(list(script.walk_revisions())):
        longdoc = (sc.longdoc or "").strip()
        date = re.search(r"^Create Date:\s*(.+)$", longdoc, re.MULTILINE)
        nodes.append(
            RevisionNode(
                id=sc.revision,
                down_revisions=tuple(sc._versioned_down_revisions),
                branch_labels=tuple(sc._orig_branch_labels or ()),
                depends_on=tuple(sc._resolved_dependencies),
                message=sc.doc or "",
                create_date=date.group(1).strip() if date else None,
                path=Path(sc.path),
            )
        )
    return build_graph(nodes)
