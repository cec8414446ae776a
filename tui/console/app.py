"""The operator console: where both databases stand, and every change behind its plan.

The App owns state; workers never touch widgets. Every core call runs on the core thread
(:class:`tui.core_thread.CoreThread`); the UI awaits its futures and the core's events come
back as messages. Mutating actions are disabled while one runs (``check_action``), and every
failure lands in one error dialog.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, TabbedContent, TabPane

from migctl.core.errors import MigctlError, MissingExtra
from migctl.tui.console.actions import ACTIONS, MUTATING, PANES
from migctl.tui.console.children import Children, exit_on_signals, forget_signals
from migctl.tui.console.core_thread import CoreThread
from migctl.tui.console.messages import CopyProgressed, CoreEvent
from migctl.tui.console.operations import Operations, first_line
from migctl.tui.console.widgets.header import StatusHeader
from migctl.tui.console.widgets.history import HistoryPane

if TYPE_CHECKING:
    from migctl.core.api import Environment

T = TypeVar("T")
LAZY_PANES = {"vector": ("migctl.tui.console.widgets.vector", "VectorPane"),
              "templates": ("migctl.tui.console.widgets.templates", "TemplatesPane"),
              "collections": ("migctl.tui.console.widgets.collections", "CollectionsPane"),
              "activity": ("migctl.tui.console.widgets.activity", "ActivityPane")}
PANE_TITLES = {"history": "1 Alembic", "vector": "2 Vector", "templates": "3 Templates",
               "collections": "4 Collections", "activity": "5 Activity"}


def _bindings() -> list[Binding]:
    out = [Binding(a.key, a.name, a.label, show=a.footer, id=a.name, tooltip=a.description) for a in ACTIONS]
    out += [Binding(key, f"show_pane('{name}')", name, show=False, id=f"pane.{name}") for key, name, _ in PANES]
    return out


class MigctlApp(Operations, App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "migctl"
    BINDINGS = _bindings()
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    running: reactive[str] = reactive("", bindings=True)
    connected: reactive[bool] = reactive(False, bindings=True)

    def __init__(self, environment: Environment, *, vector_store_type: str | None = None,
                 lock_timeout: float = 0.0, vector: bool = True, graph: Future[Any] | None = None) -> None:
        import os
        import sys

        # NO_COLOR: Textual's own handling turns colours grey; with ANSI colours it drops them
        # entirely, and app.tcss marks focus and cursors by reverse video instead.
        super().__init__(ansi_color="NO_COLOR" in os.environ)
        # The core thread can be busy for minutes (row copies); hand the GIL over more often
        # than every 5 ms so that a key press waits less behind it.
        sys.setswitchinterval(0.001)
        self.environment = environment
        self.vector_store_type = vector_store_type
        self.lock_timeout = lock_timeout
        # The vector side only when the environment configures one: otherwise the console opens
        # no Milvus Lite and says "vector: not configured".
        self.vector_configured = environment.vector_configured or vector_store_type is not None
        self.vector_enabled = vector and self.vector_configured
        self.core = CoreThread()
        # the processes this console started and stops when it ends (``children`` is Textual's)
        self.child_processes = Children()
        self.api: Any = None
        self.status: dict[str, Any] = {}
        self._graph_future = graph  # the revision graph, when the caller started reading it early
        self.ready = False  # the first refresh finished (tests and the startup bench wait on it)
        self._op_started = 0.0

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        header = StatusHeader(id="header")
        header.environment = self.environment.name
        header.protected = self.environment.protected
        header.url = self._display_url()
        header.store = self.vector_store_type or str(self.environment.vector.get("store") or "")
        yield header
        with TabbedContent(id="panes"):
            with TabPane(PANE_TITLES["history"], id="history"):
                yield HistoryPane(id="history-pane")
            # The hidden panes are imported and mounted after the first frame (_mount_panes):
            # the history shows sooner.
            for name in LAZY_PANES:
                yield TabPane(PANE_TITLES[name], id=name)
        yield Footer()

    def _display_url(self) -> str:
        from migctl.core.errors import mask_url

        url = self.environment.database_url
        if url:
            return mask_url(url)
        return "URL from env.py (reading ...)" if self.environment.source == "env.py" else "embedded PostgreSQL (starting ...)"

    def on_mount(self) -> None:
        exit_on_signals(self, self.child_processes)
        self.load_graph()
        self.call_after_refresh(self._mount_panes)

    async def _mount_panes(self) -> None:
        import importlib

        for name, (module, cls) in LAZY_PANES.items():
            pane = getattr(importlib.import_module(module), cls)(id=f"{name}-pane")
            await self.query_one(f"TabPane#{name}", TabPane).mount(pane)

    def _pane(self, name: str) -> Any:
        """One of the lazily mounted panes (vector, templates, collections, activity)."""
        return self.query_one(f"#{name}-pane")

    # -- the core thread ------------------------------------------------------------------
    async def call(self, make: Callable[[], Awaitable[T]]) -> T:
        return await self.core.call(make)

    def _sink(self, event: Any) -> None:
        """Called on the core thread; hands the event to the UI loop."""
        from migctl.core.events import CopyProgress
        from migctl.tui.log_setup import log_event

        # Logged here, on the core thread while the run goes on, as the CLI's sink does: the
        # record keeps the run's own order and the UI loop does no file writes.
        log_event(event)
        self.post_message(CopyProgressed(event) if isinstance(event, CopyProgress) else CoreEvent(event))

    async def _open_api(self) -> Any:
        import asyncio

        from migctl.core.api import Migctl

        def open_both() -> Migctl:
            api = Migctl.open(environment=self.environment, sink=self._sink, lock_timeout=self.lock_timeout,
                              vector_store_type=self.vector_store_type)
            if self.vector_enabled:
                self._serve_lite()
            return api

        return await asyncio.to_thread(open_both)

    def _serve_lite(self) -> None:
        """Milvus Lite by path would run inside this process, sharing the GIL with the UI:
        give it a process of its own. While another process (a migration) has the data
        directory open there is nothing to serve: the vector pane says who, and the next
        refresh tries again."""
        from migctl.core.api import milvus_lite_server

        with contextlib.suppress(MissingExtra):  # the vector pane names the extra
            lite = milvus_lite_server(self.environment, self.vector_store_type)
            if lite is not None and not lite.held_elsewhere():
                lite.ensure_running()
                self.child_processes.adopt_lite(lite)

    def on_unmount(self) -> None:
        api = self.api
        self.core.stop(api.close if api is not None else None)
        self.child_processes.stop()
        forget_signals()

    # -- loading --------------------------------------------------------------------------
    @work(thread=True, group="graph", exit_on_error=False)
    def load_graph(self) -> None:
        """Read the revision files as text: the history shows before any database answers."""
        from migctl.core.api import revision_graph

        try:
            if self._graph_future is not None:
                graph = self._graph_future.result()
            else:
                graph = revision_graph(self.environment)
        except MigctlError as exc:
            self.call_from_thread(self.show_error, "Cannot read the Alembic project", str(exc), exc.detail)
            graph = None
        self.call_from_thread(self._graph_loaded, graph)

    def _graph_loaded(self, graph: Any) -> None:
        if graph is not None:
            self.query_one(HistoryPane).show_graph(graph)
        if self.api is None:
            # Connecting imports the database stack (SQLAlchemy, Alembic, drivers), which holds
            # the GIL for a while: start it just after the history has reached the terminal
            # (Textual writes frames from a thread of its own), so the first frame does not wait.
            self.set_timer(0.3, self.connect)

    @work(group="connect", exclusive=True, exit_on_error=False)
    async def connect(self) -> None:
        header = self.query_one(StatusHeader)
        try:
            self.api = await self.call(self._open_api)
        except MigctlError as exc:
            header.relational_state = "unreachable"
            self.show_error("Cannot open the environment", str(exc), exc.detail)
            return
        header.url = _masked(self.api.url) + ("  (embedded)" if self.environment.embedded else "")
        self.connected = True
        await self.refresh_state()
        self.ready = True

    async def refresh_state(self) -> None:
        """Both sides' state into the header and panes; a side that fails says so in place."""
        import asyncio

        while not self.query("#activity-pane"):  # the lazily mounted panes are not there yet
            await asyncio.sleep(0.02)
        header = self.query_one(StatusHeader)
        api = self.api
        try:
            status = await self.call(lambda: api.status(vector=False))
            self.status = status
            rel = status["relational"]
            header.relational_state = "connected"
            header.protected = bool(status.get("protected"))  # the database's own mark counts too
            lock = status.get("lock")
            header.lock = f"{lock['who']} running {lock['operation']}" if lock else ""
            self.query_one(HistoryPane).show_state(
                set(rel["current"]), {d["revision"]: d["reason"] for d in rel["drifted"]})
            audit = await self.call(lambda: api.audit(100))
            self._pane("activity").show_audit(audit)
        except MigctlError as exc:
            header.relational_state = f"error: {exc}"
        except Exception as exc:  # a driver error not wrapped by the core: show it, keep going
            header.relational_state = f"error: {first_line(exc)}"
        if self.vector_enabled:
            await self._refresh_vector()
        elif not self.vector_configured:
            from migctl.core.api import vector_not_configured

            header.vector_state = "not configured"
            note = "vector: not configured (" + vector_not_configured(self.environment).split(": ", 1)[1] + ")"
            for name in ("vector", "collections", "templates"):
                self._pane(name).show_note(note)

    async def _refresh_vector(self) -> None:
        import asyncio

        header = self.query_one(StatusHeader)
        api = self.api
        await self._load_templates()
        try:
            await self.call(lambda: asyncio.to_thread(self._serve_lite))
            # Asked first: opening Lite that a migration holds would wait for its lock.
            busy = await self.call(api.vector.busy)
            if busy is None:
                history = await self.call(api.vector.history)
                collections = await self.call(api.vector.collections)
        except Exception as exc:  # unreachable Milvus, wrong token, ...: the vector side says so
            message = str(exc) if isinstance(exc, MigctlError) else first_line(exc)
            header.vector_state = "unavailable"
            self._pane("vector").show_error(message)
            self._pane("collections").show_error(message)
            return
        if busy is not None:  # Milvus Lite is open in a migration elsewhere: who, not an error
            header.vector_state = "busy"
            for name in ("vector", "collections"):
                self._pane(name).show_note(f"vector: busy — {busy['busy']}")
            return
        header.store = api.vector.settings.store
        header.vector_state = "connected"
        applied = [r for r in history if r["status"] in ("applied", "drifted")]
        pending = [r for r in history if r["status"] == "pending"]
        current = applied[-1]["version"] if applied else "base"
        summary = (f"{len(history)} vector migrations · {api.vector.settings.store} "
                   f"({_short(api.vector.settings.address)}) · current {current} · pending {len(pending)}")
        self._pane("vector").show(history, summary)
        self._pane("collections").show({**collections, "address": _short(collections["address"])})

    async def _load_templates(self) -> None:
        api = self.api
        path = str(api.vector.settings.templates)

        async def load() -> tuple[list[tuple[str, int, str, int]], dict[str, str]]:
            from migctl.core.api import render_collection

            templates = api.vector.templates
            rows, rendered = [], {}
            for name in sorted(templates.collections):
                spec = templates.collection(name)
                rows.append((name, spec.dim, f"{spec.index.index_type} {spec.index.metric}", len(spec.fields)))
                rendered[name] = ("Milvus\n" + render_collection(spec, "milvus", validate=False)
                                  + "\n\npgvector\n" + render_collection(spec, "pgvector", validate=False))
            return rows, rendered

        try:
            rows, rendered = await self.call(load)
        except MigctlError as exc:
            self._pane("templates").show_error(_short(path), str(exc))
            return
        self._pane("templates").show(_short(path), rows, rendered)

    @on(HistoryPane.Selected)
    def _revision_selected(self, message: HistoryPane.Selected) -> None:
        if self.api is not None and message.revision not in self.query_one(HistoryPane).sql:
            self.load_sql(message.revision)

    @work(group="sql", exclusive=True, exit_on_error=False)
    async def load_sql(self, revision: str) -> None:
        """The selected revision's own upgrade and downgrade SQL (offline, nothing runs)."""
        import asyncio

        await asyncio.sleep(0.15)  # cursor held on a row, not just passing over it
        pane = self.query_one(HistoryPane)
        node = pane.graph.by_id[revision] if pane.graph else None
        if node is None:
            return
        api = self.api
        down = node.down_revisions[0] if len(node.down_revisions) == 1 else ("base" if not node.down_revisions else None)

        async def both() -> tuple[str, str]:
            if down is None:  # a merge: its own SQL is empty, Alembic only moves the version table
                return "-- merge point: no schema change --", "-- merge point: no schema change --"
            up = await api.offline_sql("upgrade", revision, start=down)
            back = await api.offline_sql("downgrade", down, start=revision)
            return up, back

        try:
            up, back = await self.call(both)
        except Exception as exc:
            up = back = f"-- SQL not available: {exc if isinstance(exc, MigctlError) else first_line(exc)}"
        pane.show_sql(revision, up, back)

    # -- events from the core -------------------------------------------------------------
    @on(CoreEvent)
    def _core_event(self, message: CoreEvent) -> None:
        from migctl.core.events import LockWaiting, Notice, StepFailed, StepFinished, StepStarted
        event = message.event
        activity = self._pane("activity")
        if isinstance(event, StepStarted):
            line = f"[{event.index + 1}/{event.total}] {event.direction:<5} {event.revision}  {event.message}"
            activity.set_status(f"{self.running}: {line}")
            activity.progress(event.index, event.total)
            self.query_one(StatusHeader).running = f"{self.running} ({event.index + 1}/{event.total})"
        elif isinstance(event, StepFinished):
            line = (f"[{event.index + 1}/{event.total}] {event.direction:<5} {event.revision}  "
                    f"done {event.duration_s:.2f}s")
            activity.progress(event.index + 1, event.total)
        elif isinstance(event, StepFailed):
            line = f"[{event.index + 1}/{event.total}] {event.direction:<5} {event.revision}  FAILED: {event.error}"
        elif isinstance(event, LockWaiting):
            line = f"waiting for the migration lock held by {event.holder} (up to {event.timeout_s:.0f}s)"
            self.query_one(StatusHeader).lock = event.holder
        elif isinstance(event, Notice):
            line = event.text
            if self.running:
                activity.set_status(f"{self.running}: {line}")
        else:
            line = str(event)
        activity.log_line(line)

    @on(CopyProgressed)
    def _copy_progress(self, message: CopyProgressed) -> None:
        e = message.event
        eta = f", ETA {e.eta_s:.0f}s" if e.eta_s is not None else ""
        text = f"copying {e.source} -> {e.target}: {e.done:,}/{e.total:,} rows, {e.rows_per_s:,.0f} rows/s{eta}"
        activity = self._pane("activity")
        activity.set_status(f"{self.running}: {text}")
        activity.progress(e.done, e.total)
        self.query_one(StatusHeader).running = f"{self.running} ({e.done:,}/{e.total:,} rows)"

    # -- actions: availability --------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in MUTATING and (self.running or not self.connected):
            return None  # shown, but disabled
        return True

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette lists the registry's actions beside Textual's own."""
        yield from super().get_system_commands(screen)
        for a in ACTIONS:
            if a.name in ("help", "quit"):
                continue
            yield SystemCommand(a.description, f"{a.description} [{a.key}]", getattr(self, f"action_{a.name}"))

    def action_show_pane(self, name: str) -> None:
        self.query_one(TabbedContent).active = name

    def action_help(self) -> None:
        from migctl.tui.console.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    def action_refresh(self) -> None:
        if self.api is None:
            self.connect()
        else:
            self._refresh_worker()

    @work(group="refresh", exclusive=True, exit_on_error=False)
    async def _refresh_worker(self) -> None:
        await self.refresh_state()
        self.notify("refreshed", timeout=2)

    async def action_quit(self) -> None:
        if self.running:
            self.notify(f"{self.running} is running; it cannot be stopped half-way. Quit when it ends.",
                        severity="warning")
            return
        self.exit(0)


def _masked(url: str) -> str:
    from migctl.core.errors import mask_url

    return mask_url(url)


def _short(path: str) -> str:
    from migctl.tui.console.widgets.history import shown_path

    return shown_path(path)
