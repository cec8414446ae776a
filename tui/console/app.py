"""The operator console: where both databases stand, and every change behind its plan.

The App owns state; workers never touch widgets. Every core call runs on the core thread
(:class:`tui.core_thread.CoreThread`); the UI awaits its futures and the core's events come
back as messages. Mutating actions are disabled while one runs (``check_action``), and every
failure lands in one error dialog.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import Future
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.markup import escape
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Input, TabbedContent, TabPane

from migctl.core.errors import ConnectionFailed, MigctlError, MissingExtra
from migctl.tui.console.actions import ACTIONS, MUTATING, PANES, key_label
from migctl.tui.console.children import Children, exit_on_signals, forget_signals
from migctl.tui.console.controller import ConsoleController, first_line
from migctl.tui.console.core_thread import CoreThread
from migctl.tui.console.messages import CopyProgressed, CoreEvent
from migctl.tui.console.widgets.header import StatusHeader
from migctl.tui.console.widgets.history import HistoryPane
from migctl.tui.formatting import plural, schema_state

if TYPE_CHECKING:
    from migctl.core.api import Environment

T = TypeVar("T")
ACTION_NAMES = frozenset(a.name for a in ACTIONS)
PANE_OF = {a.name: a.pane for a in ACTIONS if a.pane}
LAZY_PANES = {"vector": ("migctl.tui.console.widgets.vector", "VectorPane"),
              "templates": ("migctl.tui.console.widgets.templates", "TemplatesPane"),
              "collections": ("migctl.tui.console.widgets.collections", "CollectionsPane"),
              "activity": ("migctl.tui.console.widgets.activity", "ActivityPane")}
PANE_TITLES = {"history": "1 Alembic", "vector": "2 Vector", "templates": "3 Templates",
               "collections": "4 Collections", "activity": "5 Activity"}


# The table that takes the focus when its pane comes to the front.
MAIN_TABLES = {"history": "history-table", "vector": "vector-table", "templates": "templates-table",
               "collections": "collections-table", "activity": "audit-table"}


def _bindings() -> list[Binding]:
    """Each action once for the footer; one of another pane is hidden there (check_action),
    and a second, never shown binding of the same key (``anywhere``) still runs it.
    Digits are priority bindings: a focused table or tab bar cannot swallow them, and a text
    field that takes digits keeps them (Textual leaves keys an Input consumes alone)."""
    out = [Binding(a.key, a.name, a.label, show=a.footer, id=a.name, tooltip=a.description) for a in ACTIONS]
    out += [Binding(a.key, f"anywhere('{a.name}')", a.label, show=False) for a in ACTIONS if a.pane]
    out += [Binding(key, f"show_pane('{name}')", name, show=False, priority=True, id=f"pane.{name}")
            for key, name, _ in PANES]
    return out


class MainScreen(Screen[None]):
    """The console's own screen: when a dialog closes, the pane in front's table has the focus
    again, so arrows and keys act there at once."""

    def on_screen_resume(self) -> None:
        self.app.call_after_refresh(self.app.focus_pane_table)


class MigctlApp(App[int]):
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
        # entirely, and app.tcss marks focus and cursors by reverse video instead. A 16-colour
        # terminal gets the terminal's own palette: Textual's colours, rounded to 16, land on
        # bright backgrounds (SGR 100-107) that the Linux console does not draw.
        no_color = "NO_COLOR" in os.environ
        sixteen = sixteen_colour_terminal(os.environ)
        super().__init__(ansi_color=no_color or sixteen)
        if sixteen and not no_color:
            self.theme = "ansi-dark"
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
        self.vector_requested = vector  # kept for switching environments (key e)
        self.core = CoreThread()
        # the processes this console started and stops when it ends (``children`` is Textual's)
        self.child_processes = Children()
        self.api: Any = None
        self.status: dict[str, Any] = {}
        self._graph_future = graph  # the revision graph, when the caller started reading it early
        self.ready = False  # the first refresh finished (tests and the startup bench wait on it)
        self.controller = ConsoleController(self)
        self.front = "history"  # the pane in front: its actions are the footer's

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        header = StatusHeader(id="header")
        header.environment = self.environment.name
        header.protected = self.environment.protected
        header.url = self._display_url()
        header.store = self.vector_store_type or str(self.environment.vector.get("store") or "")
        if self.vector_configured and not self.vector_enabled:
            header.vector_state = "off"  # --skip-vector-db: nothing will connect
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

    def get_default_screen(self) -> Screen[Any]:
        return MainScreen(id="_default")

    def on_mount(self) -> None:
        exit_on_signals(self, self.child_processes)
        self.load_graph()
        self.focus_pane_table()
        self.call_after_refresh(self._mount_panes)
        self.call_after_refresh(lambda: self._fit_screen(*self.size))

    def on_resize(self, event: events.Resize) -> None:
        self._fit_screen(*event.size)

    def _fit_screen(self, width: int, height: int) -> None:
        """Below the supported size a message replaces the layout; it goes when the terminal grows."""
        from migctl.tui.console.screens.too_small import TooSmallScreen, too_small

        shown = next((s for s in self.screen_stack if isinstance(s, TooSmallScreen)), None)
        if too_small(width, height):
            if shown is None:
                self.push_screen(TooSmallScreen())
            else:
                shown.show_size(width, height)
        elif shown is not None and self.screen is shown:
            self.pop_screen()

    def focus_pane_table(self) -> None:
        """The pane in front's main table takes the focus (a text field being typed in keeps it)."""
        if self.screen.is_modal or isinstance(self.focused, Input):
            return
        for table in self.main_screen.query(f"#{MAIN_TABLES.get(self.front, '')}"):
            table.focus()

    @on(TabbedContent.TabActivated)
    def _pane_activated(self, message: TabbedContent.TabActivated) -> None:
        self.front = message.pane.id or "history"
        self.refresh_bindings()  # the footer shows the keys of the pane in front

    async def _mount_panes(self) -> None:
        import importlib

        for name, (module, cls) in LAZY_PANES.items():
            pane = getattr(importlib.import_module(module), cls)(id=f"{name}-pane")
            await self.main_screen.query_one(f"TabPane#{name}", TabPane).mount(pane)
        if self.front != "history":  # a digit pressed before the panes were there
            self.focus_pane_table()

    @property
    def main_screen(self) -> Screen:
        """The screen with the header and panes. ``App.query_one`` searches the screen in
        front, which is a dialog, the help or the overview while one is open; the core's
        events and a refresh still have to reach the panes then."""
        return self.screen_stack[0]

    def _pane(self, name: str) -> Any:
        """One of the lazily mounted panes (vector, templates, collections, activity)."""
        return self.main_screen.query_one(f"#{name}-pane")

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
        self.child_processes.close()
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
            self.main_screen.query_one(HistoryPane).show_graph(graph)
        if self.api is None:
            # Connecting imports the database stack (SQLAlchemy, Alembic, drivers), which holds
            # the GIL for a while: start it just after the history has reached the terminal
            # (Textual writes frames from a thread of its own), so the first frame does not wait.
            self.set_timer(0.3, self.connect)

    @work(group="connect", exclusive=True, exit_on_error=False)
    async def connect(self) -> None:
        header = self.main_screen.query_one(StatusHeader)
        try:
            self.api = await self.call(self._open_api)
        except MigctlError as exc:
            header.relational_state = "unreachable"
            self.show_error("Cannot open the environment", str(exc), exc.detail)
            return
        header.url = _masked(self.api.url) + ("  (embedded)" if self.environment.embedded else "")
        self.connected = True
        await self.refresh_state()
        # The cursor settled on a revision before there was a database to render its SQL
        # with; the history keeps its rows when the state arrives, so no new selection comes.
        history = self.main_screen.query_one(HistoryPane)
        if history.selected is not None and history.selected not in history.sql:
            self.load_sql(history.selected)
        self.ready = True

    async def refresh_state(self) -> None:
        """Both sides' state into the header and panes; a side that fails says so in place."""
        import asyncio

        while not self.main_screen.query("#activity-pane"):  # the lazily mounted panes are not there yet
            await asyncio.sleep(0.02)
        header = self.main_screen.query_one(StatusHeader)
        api = self.api
        try:
            status = await self.call(lambda: api.status(vector=False))
            self.status = status
            rel = status["relational"]
            header.relational_state = "connected"
            header.protected = bool(status.get("protected"))  # the database's own mark counts too
            lock = status.get("lock")
            header.lock_holder = f"{lock['who']} running {lock['operation']}" if lock else ""
            history = self.main_screen.query_one(HistoryPane)
            history.show_state(set(rel["current"]), {d["revision"]: d["reason"] for d in rel["drifted"]},
                               schema_state(rel, short=True) if rel.get("schema_drift") is not None else "")
            history.show_verdicts(await self.call(lambda: api.verdicts()))
            audit = await self.call(lambda: api.audit(100))
            self._pane("activity").show_audit(audit)
        except MigctlError as exc:
            # The header keeps a word (a long message would push the rest of the state line
            # out); the message itself goes to the Activity log.
            header.relational_state = "unreachable" if isinstance(exc, ConnectionFailed) else "error (see 5 Activity)"
            header.lock_holder = "unknown"
            self._pane("activity").log_line(f"db: {exc}")
        except Exception as exc:  # a driver error not wrapped by the core: show it, keep going
            header.relational_state = "error (see 5 Activity)"
            header.lock_holder = "unknown"
            self._pane("activity").log_line(f"db: {first_line(exc)}")
        if self.vector_enabled:
            await self._refresh_vector()
        elif not self.vector_configured:
            from migctl.core.api import vector_not_configured

            header.vector_state = "not configured"
            note = "vector: not configured (" + vector_not_configured(self.environment).split(": ", 1)[1] + ")"
            for name in ("vector", "collections", "templates"):
                self._pane(name).show_note(note)
        else:
            header.vector_state = "off"
            for name in ("vector", "collections", "templates"):
                self._pane(name).show_note("vector: off (started with --skip-vector-db)")

    async def _refresh_vector(self) -> None:
        import asyncio

        header = self.main_screen.query_one(StatusHeader)
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
        # What the operator acts on first: the line is cut at its end on a narrow terminal.
        summary = (f"pending {len(pending)} · current {current} · "
                   f"{plural(len(history), 'vector migration')} · {api.vector.settings.store} "
                   f"({_short(api.vector.settings.address)})")
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
        if not self.screen_stack:  # the app is closing: nothing left to show it on
            return
        # The main screen's pane: a message can arrive after another screen (e) came in front.
        if self.api is not None and message.revision not in self.main_screen.query_one(HistoryPane).sql:
            self.load_sql(message.revision)

    @work(group="sql", exclusive=True, exit_on_error=False)
    async def load_sql(self, revision: str) -> None:
        """The selected revision's own upgrade and downgrade SQL (offline, nothing runs)."""
        import asyncio

        await asyncio.sleep(0.15)  # cursor held on a row, not just passing over it
        pane = self.main_screen.query_one(HistoryPane)
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
        if not self.screen_stack:  # the app is closing: nothing left to show it on
            return
        from migctl.core.events import LockAcquired, LockWaiting, Notice, StepFinished, StepStarted
        from migctl.tui.console.widgets.activity import event_text

        event = message.event
        activity = self._pane("activity")
        line = event_text(event)
        if isinstance(event, StepStarted):
            activity.set_status(f"{self.running}: {line}")
            activity.progress(event.index, event.total)
            self.main_screen.query_one(StatusHeader).running = f"{self.running} ({event.index + 1}/{event.total})"
        elif isinstance(event, StepFinished):
            activity.progress(event.index + 1, event.total)
        elif isinstance(event, LockWaiting):
            self.main_screen.query_one(StatusHeader).lock_holder = event.holder
        elif isinstance(event, LockAcquired):  # until the refresh after the run reads it again
            self.main_screen.query_one(StatusHeader).lock_holder = f"this console ({event.operation})"
        elif isinstance(event, Notice) and self.running:
            activity.set_status(f"{self.running}: {line}")
        activity.log_line(line)

    def watch_running(self, running: str) -> None:
        if not self.screen_stack:  # the app is closing: nothing left to show it on
            return
        if not running and self.main_screen.query("#activity-pane"):
            self._pane("activity").progress_done()

    @on(CopyProgressed)
    def _copy_progress(self, message: CopyProgressed) -> None:
        if not self.screen_stack:  # the app is closing: nothing left to show it on
            return
        e = message.event
        eta = f", ETA {e.eta_s:.0f}s" if e.eta_s is not None else ""
        text = (f"copying {e.source} -> {e.target}: {e.done:,}/{plural(e.total, 'row')}, "
                f"{e.rows_per_s:,.0f} rows/s{eta}")
        activity = self._pane("activity")
        activity.set_status(f"{self.running}: {text}")
        activity.progress(e.done, e.total)
        self.main_screen.query_one(StatusHeader).running = f"{self.running} ({e.done:,}/{plural(e.total, 'row')})"

    # -- actions: availability --------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "show_pane":
            return self.screen is self.main_screen  # under a dialog the digit is the dialog's
        if self.screen is not self.main_screen and action not in ("quit", "help") and (
                action == "anywhere" or action in ACTION_NAMES):
            # A dialog, the help or the overview is in front: its own keys only, so that a
            # letter typed there never starts an operation behind it.
            return False
        if action == "anywhere":
            action = str(parameters[0])
        elif (pane := PANE_OF.get(action)) is not None and pane != self.front:
            return False  # not in this pane's footer; its "anywhere" binding still runs it
        if action in MUTATING and (self.running or not self.connected):
            return None  # shown, but disabled
        if type(self.screen).__name__ == "TooSmallScreen" and action != "quit":
            return False  # nothing to act on behind the message
        return True

    def action_anywhere(self, name: str) -> None:
        """An action of another pane, by its key (the footer shows only the front pane's)."""
        getattr(self, f"action_{name}")()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette lists the registry's actions beside Textual's own."""
        yield from super().get_system_commands(screen)
        for a in ACTIONS:
            if a.name in ("help", "quit"):
                continue
            # One entry per action; the help line is Textual markup, so the key is escaped.
            # Through run_action, so check_action applies (disabled while an operation runs).
            yield SystemCommand(a.description, escape(f"key [{key_label(a.key)}]"),
                                partial(self.run_action, a.name))

    # -- actions: the operator's verbs, carried out by the controller -----------------------
    def action_upgrade_heads(self) -> None:
        self.controller.upgrade_heads()

    def action_upgrade_next(self) -> None:
        self.controller.upgrade_next()

    def action_upgrade_selected(self) -> None:
        self.controller.upgrade_selected()

    def action_downgrade_one(self) -> None:
        self.controller.downgrade_one()

    def action_downgrade_selected(self) -> None:
        self.controller.downgrade_selected()

    def action_downgrade_base(self) -> None:
        self.controller.downgrade_base()

    def action_stamp_selected(self) -> None:
        self.controller.stamp_selected()

    def action_merge_heads(self) -> None:
        self.controller.merge_heads()

    def action_init(self) -> None:
        self.controller.init()

    def action_migrate(self) -> None:
        self.controller.migrate()

    def action_reset(self) -> None:
        self.controller.reset()

    def action_create_vector_migration(self) -> None:
        self.controller.create_vector_migration()

    def action_vector_upgrade(self) -> None:
        self.controller.vector_upgrade()

    def action_vector_downgrade(self) -> None:
        self.controller.vector_downgrade()

    def action_vector_stamp(self) -> None:
        self.controller.vector_stamp()

    def action_vector_repair(self) -> None:
        self.controller.vector_repair()

    def show_error(self, title: str, message: str, detail: str | None = None) -> None:
        """The one error dialog every failure lands in."""
        from migctl.core.errors import scrub
        from migctl.tui.console.screens.error import ErrorScreen

        self.push_screen(ErrorScreen(title, scrub(message), scrub(detail) if detail else None))

    def action_show_pane(self, name: str) -> None:
        self.main_screen.query_one(TabbedContent).active = name
        self.front = name
        self.focus_pane_table()

    def action_help(self) -> None:
        from migctl.tui.console.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    def action_refresh(self) -> None:
        if self.api is None:
            self.connect()
        else:
            self._refresh_worker()

    def action_environments(self) -> None:
        from migctl.tui.console.screens.environments import EnvironmentsScreen

        screen = EnvironmentsScreen(self.environment.config_file, self.environment.name)
        self.push_screen(screen, self._environment_chosen)

    def _environment_chosen(self, environment: Environment | None) -> None:
        if environment is None:
            return
        if environment.name == self.environment.name:
            # The overview reads the config's own URL; the console may be on an override
            # (--database-url, DATABASE_URL) of this environment: stay on what it shows.
            self.notify(f"already on {environment.name}", timeout=3)
            return
        self.switch_environment(environment)

    @work(group="switch", exclusive=True, exit_on_error=False)
    async def switch_environment(self, environment: Environment) -> None:
        """Close this environment's connections (on the core thread), then connect to
        ``environment`` as at start-up: graph first, then both databases."""
        import asyncio

        if self.running or [w for w in self.workers if w.group == "op" and not w.is_finished]:
            # also while an operation is still planning or waiting for its confirmation
            self.notify(f"{self.running or 'an operation'} is under way; switch environments when it ends.",
                        severity="warning")
            return
        for group in ("connect", "refresh", "sql"):
            # their answers are about the old environment: they must not land under the new name
            self.workers.cancel_group(self, group)
        old, self.api = self.api, None
        self.connected = self.ready = False
        if old is not None:
            with contextlib.suppress(Exception):  # a dead connection has nothing left to close
                await self.call(old.close)
        # The old environment's Lite server, if this console started it: the new one is served
        # by a server of its own (the same one again when both name the same directory).
        await asyncio.to_thread(self.child_processes.stop)
        self.environment = environment
        self.vector_configured = environment.vector_configured or self.vector_store_type is not None
        self.vector_enabled = self.vector_requested and self.vector_configured
        self.status = {}
        main = self.screen_stack[0]  # the overview may still be leaving
        header = main.query_one(StatusHeader)
        header.environment, header.protected, header.url = environment.name, environment.protected, self._display_url()
        header.store = self.vector_store_type or str(environment.vector.get("store") or "")
        header.relational_state = header.vector_state = "connecting"
        header.lock_holder, header.running = "unknown", ""
        main.query_one(HistoryPane).sql.clear()  # offline SQL depends on the database's dialect
        self._graph_future = None
        self.load_graph()  # then connect(), as at start-up
        self.notify(f"switched to {environment.name}", timeout=3)

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


def sixteen_colour_terminal(environ: Mapping[str, str]) -> bool:
    """The terminal draws 16 colours or fewer (the Linux console, vt100, ``*-16color``).

    A plain ``xterm`` is not counted: it is usually a capable terminal named modestly."""
    if environ.get("COLORTERM", "").lower() in ("truecolor", "24bit"):
        return False
    term = environ.get("TERM", "").lower()
    return term in ("linux", "vt100", "vt102", "vt220", "ansi") or term.endswith(("-16color", "-8color"))


def _masked(url: str) -> str:
    from migctl.core.errors import mask_url

    return mask_url(url)


def _short(path: str) -> str:
    from migctl.tui.console.widgets.history import shown_path

    return shown_path(path)
