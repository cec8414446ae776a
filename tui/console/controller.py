"""What the console's operator actions do: plan on the core thread, show the plan for
confirmation, run it with the console marked busy, report the end (or the failure).

The app holds one :class:`ConsoleController` and binds its keys to it; each verb runs as an
App worker in group ``op`` (started on the App, so closing a dialog never cancels it).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from textual.widgets import TabbedContent

from migctl.core.errors import MigctlError
from migctl.tui.console.widgets.header import StatusHeader
from migctl.tui.console.widgets.history import HistoryPane
from migctl.tui.log_setup import log

if TYPE_CHECKING:
    from migctl.tui.console.app import MigctlApp

T = TypeVar("T")


class ConsoleController:
    """The operator's verbs over the app's state (api, environment, panes, the core thread)."""

    def __init__(self, app: MigctlApp) -> None:
        self.app = app
        self._op_started = 0.0

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        """One operation as an App worker: errors land in the error dialog, not an exit."""
        self.app.run_worker(work, group="op", exit_on_error=False)

    # -- actions: relational --------------------------------------------------------------
    def _selected_revision(self) -> str | None:
        rev = self.app.main_screen.query_one(HistoryPane).selected
        if rev is None:
            self.app.notify("select a revision in the Alembic pane first", severity="warning")
        return rev

    def upgrade_heads(self) -> None:
        self._start(self._relational("upgrade", "heads"))

    def upgrade_next(self) -> None:
        self._start(self._relational("upgrade", "+1"))

    def upgrade_selected(self) -> None:
        if rev := self._selected_revision():
            self._start(self._relational("upgrade", rev))

    def downgrade_one(self) -> None:
        self._start(self._relational("downgrade", "-1"))

    def downgrade_selected(self) -> None:
        if rev := self._selected_revision():
            self._start(self._relational("downgrade", rev))

    def downgrade_base(self) -> None:
        self._start(self._relational("downgrade", "base"))

    def stamp_selected(self) -> None:
        if rev := self._selected_revision():
            self._start(self._relational("stamp", rev))

    async def _relational(self, action: str, target: str) -> None:
        """Plan, show, confirm, execute: one Alembic operation."""
        from migctl.tui.formatting import at_risk_lines, plan_lines

        api = self.app.api
        planner = {"upgrade": api.plan_upgrade, "downgrade": api.plan_downgrade, "stamp": api.plan_stamp}[action]
        try:
            plan = await self.app.call(lambda: planner(target))
        except Exception as exc:
            self.show_failure(f"Cannot plan {action} {target}", exc)
            return
        if plan.empty:
            self.app.notify(f"{action} {target}: nothing to do, already there")
            return
        try:
            at_risk = await self.app.call(lambda: api.rows_at_risk(plan))
        except Exception as exc:  # counting is a courtesy; the plan still shows the statements
            at_risk = []
            self.app.notify(f"could not count the rows at risk: {error_message(exc)}", severity="warning")
        text = "\n".join(plan_lines(plan, cli=False) + at_risk_lines(at_risk))
        typed = await self.app.push_screen_wait(_confirm_screen(
            f"{action.capitalize()} {self.app.environment.name} to {target}", text, sql=plan.sql,
            environment=plan.confirm_name, protected=plan.protected,
            destructive=bool(plan.destructive) or action == "downgrade",
            confirm_label=action.capitalize(), on_refused=self._audit_refusal(action, target)))
        if typed is None:
            await self._declined(action, target)
            return
        allow_broken = await self._confirm_broken(plan, action, target)
        if allow_broken is None:
            return
        await self._run(f"{action} {target}", lambda: api.execute(plan, confirm_env=typed or None,
                                                                   allow_broken=allow_broken),
                        done=lambda r: f"{action} done: {len(r.applied)} step(s); now at "
                                       f"{', '.join(r.after) or 'base'}")

    def merge_heads(self) -> None:
        self._start(self._merge_heads())

    async def _merge_heads(self) -> None:
        api = self.app.api
        heads = self.app.main_screen.query_one(HistoryPane).graph.heads if self.app.main_screen.query_one(HistoryPane).graph else ()
        if len(heads) < 2:
            self.app.notify("only one head: nothing to merge")
            return
        typed = await self.app.push_screen_wait(_confirm_screen(
            "Merge heads", "Write a merge revision file joining:\n" + "\n".join(f"  {h}" for h in heads)
            + "\n\nNo database changes; upgrade afterwards applies it.", environment=self.app.environment.name,
            protected=False, confirm_label="Merge"))
        if typed is None:
            return
        await self._run("merge", lambda: api.merge(list(heads), "merge heads"),
                        done=lambda r: f"wrote merge revision {r}")
        self.app.load_graph()

    # -- actions: both sides --------------------------------------------------------------
    def init(self) -> None:
        self._start(self._unified("init"))

    def migrate(self) -> None:
        self._start(self._unified("migrate"))

    async def _unified(self, command: str) -> None:
        from migctl.tui.formatting import plan_lines, vector_plan_lines

        api = self.app.api
        skip_vector = not self.app.vector_enabled
        try:
            plan = await self.app.call(lambda: api.plan_migrate(skip_vector=skip_vector, init=command == "init"))
        except Exception as exc:
            self.show_failure(f"Cannot plan {command}", exc)
            return
        if plan.empty and command == "migrate":
            self.app.notify("migrate: nothing to do, both sides at the latest version")
            return
        lines = plan.preamble() + plan_lines(plan.relational, cli=False)
        if plan.vector is not None:
            lines += [""] + vector_plan_lines(plan.vector, self.app.environment.name)
        elif not self.app.vector_configured:
            lines += ["", "vector: not configured"]
        seed_dir = self.app.environment.seed_dir
        if command == "init" and seed_dir is not None:
            shown = seed_dir.relative_to(self.app.environment.base_dir) if seed_dir.is_relative_to(
                self.app.environment.base_dir) else seed_dir
            lines += ["", f"Seed data: {shown}/*.sql (idempotent)"]
        name = await self._protected_as()
        typed = await self.app.push_screen_wait(_confirm_screen(
            f"{command.capitalize()} {self.app.environment.name}", "\n".join(lines),
            environment=name or self.app.environment.name, protected=name is not None,
            confirm_label=command.capitalize(), on_refused=self._audit_refusal(command, "latest")))
        if typed is None:
            await self._declined(command, "latest")
            return
        allow_broken = await self._confirm_broken(plan.relational, command, "latest")
        if allow_broken is None:
            return
        await self._run(command, lambda: api.execute_migrate(plan, confirm_env=typed or None,
                                                         seed=command == "init", action=command,
                                                         allow_broken=allow_broken),
                        done=lambda r: f"{command} done: {len(r.relational_applied)} revision(s)"
                                       + (f", {len(r.vector_applied)} vector migration(s)"
                                          if self.app.vector_configured else ""))

    def reset(self) -> None:
        self._start(self._reset())

    async def _reset(self) -> None:
        """The wizard: scope -> plan with counts, backup, typed name -> progress -> result."""
        from migctl.tui.console.screens.reset import (
            ResetConfirmScreen,
            ResetResultScreen,
            ResetScopeScreen,
        )

        api = self.app.api
        env = self.app.environment.name
        scope = await self.app.push_screen_wait(ResetScopeScreen(env))
        if scope is None:
            return
        try:
            skip_vector = scope == "relational" or not self.app.vector_enabled
            plan = await self.app.call(lambda: api.plan_reset(skip_vector=skip_vector, skip_relational=scope == "vector"))
        except Exception as exc:
            self.show_failure("Cannot plan the reset", exc)
            return
        name = await self._protected_as()
        answer = await self.app.push_screen_wait(ResetConfirmScreen(
            name or env, "\n".join(plan.lines()[:-1]), on_refused=self._audit_refusal("reset", plan.scope)))
        if answer is None:
            await self._declined("reset", plan.scope)
            return
        plan.backup, typed = answer
        result = await self._run(f"reset ({plan.scope})", lambda: api.execute_reset(plan, confirm_env=typed),
                                 done=lambda folder: "reset done")
        if result is _FAILED:
            return
        summary = (f"Dropped {len(plan.tables)} table(s), {len(plan.views)} view(s), "
                   f"{len(plan.collections)} collection(s).\n"
                   + (f"Backup: {result}\nBring it back with: migctl restore {result}" if result else "No backup taken."))
        await self.app.push_screen_wait(ResetResultScreen(env, summary))

    # -- actions: vector ------------------------------------------------------------------
    def _selected_version(self, required: bool = True) -> str | None:
        on_pane = self.app.main_screen.query_one(TabbedContent).active == "vector"
        version = self.app._pane("vector").selected if on_pane else None
        if version is None and required:
            self.app.notify("select a version in the Vector pane first", severity="warning")
        return version

    def vector_upgrade(self) -> None:
        self._start(self._vector("upgrade", None))

    def vector_downgrade(self) -> None:
        self._start(self._vector("downgrade", self._selected_version(required=False) or "-1"))

    def vector_stamp(self) -> None:
        if version := self._selected_version():
            self._start(self._vector("stamp", version))

    async def _vector(self, action: str, target: str | None) -> None:
        from migctl.tui.formatting import vector_plan_lines

        api = self.app.api
        try:  # an upgrade over an edited, applied file is refused by the plan itself
            plan = await self.app.call(lambda: api.vector.plan(action, target))
        except Exception as exc:
            self.show_failure(f"Cannot plan vector {action}", exc)
            return
        if plan.empty:
            self.app.notify(f"vector {action}: nothing to do")
            return
        name = await self._protected_as()
        typed = await self.app.push_screen_wait(_confirm_screen(
            f"Vector {action} {self.app.environment.name} to {plan.target}",
            "\n".join(vector_plan_lines(plan, self.app.environment.name)),
            environment=name or self.app.environment.name,
            protected=name is not None, destructive=bool(plan.destroys) or action == "downgrade",
            confirm_label=f"Vector {action}", on_refused=self._audit_refusal(f"vector {action}", plan.target)))
        if typed is None:
            await self._declined(f"vector {action}", plan.target)
            return
        allow_broken = await self._confirm_broken(plan, f"vector {action}", plan.target)
        if allow_broken is None:
            return
        await self._run(f"vector {action}", lambda: api.vector.execute(plan, lock_timeout=self.app.lock_timeout,
                                                                        confirm_env=typed or None,
                                                                        allow_broken=allow_broken),
                        done=lambda r: f"vector {action} done: {len(r)} migration(s); now at {plan.after or 'base'}")

    def vector_repair(self) -> None:
        self._start(self._vector_repair())

    async def _vector_repair(self) -> None:
        version = self._selected_version()
        if version is None:
            return
        api = self.app.api
        name = await self._protected_as()
        typed = await self.app.push_screen_wait(_confirm_screen(
            f"Repair vector migration {version}",
            f"Record the current file of {version} as applied (new operations_hash).\n"
            "Only do this when the edit does not change what the store holds.",
            environment=name or self.app.environment.name, protected=name is not None, confirm_label="Repair",
            on_refused=self._audit_refusal("vector repair", version)))
        if typed is None:
            await self._declined("vector repair", version)
            return
        await self._run("vector repair", lambda: api.vector.repair(version, confirm_env=typed or None),
                        done=lambda h: f"repaired {version}: operations_hash now {h[:12]}")

    def create_vector_migration(self) -> None:
        self._start(self._create_vector_migration())

    async def _create_vector_migration(self) -> None:
        from migctl.tui.console.screens.forms import CreateVectorMigrationScreen

        api = self.app.api
        try:
            names = await self.app.call(_template_names(api))
        except Exception as exc:
            self.show_failure("Cannot read the templates", exc)
            return
        answer = await self.app.push_screen_wait(CreateVectorMigrationScreen(names))
        if answer is None:
            return
        description, chosen = answer

        async def create() -> str:
            return api.vector.create_migration(description, chosen)

        await self._run("create vector migration", create, done=lambda path: f"created {path}")

    # -- running ----------------------------------------------------------------------------
    async def _protected_as(self) -> str | None:
        """The name to type: the database's protection mark, else the environment's own flag."""
        api = self.app.api
        try:
            return (await self.app.call(api.protection)).name
        except Exception:  # unreachable: the operation itself will say why
            return self.app.environment.name if self.app.environment.protected else None

    async def _declined(self, action: str, target: str | None) -> None:
        self.app.notify(f"{action}: cancelled, nothing changed")
        api = self.app.api
        try:
            await self.app.call(lambda: api.record_refusal(action, target, "declined in the console"))
        except Exception:  # a read-only role cannot audit; declining still stands
            pass

    async def _confirm_broken(self, plan: Any, action: str, target: str) -> bool | None:
        """A plan through a step ``migctl verify`` found broken needs a second, typed yes: the
        first broken revision's id. ``False``: nothing broken; ``True``: typed; ``None``: declined."""
        broken = plan.broken_steps
        if not broken:
            return False
        first = _step_name(broken[0])
        lines = [f"This {action} runs through {len(broken)} step(s) that migctl verify found broken:", ""]
        for step in broken:
            lines.append(f"  {_step_name(step)} ({step.direction}): {step.verdict_label}")
            if step.verdict is not None and step.verdict.server:
                lines.append(f"      verified on {step.verdict.server}")
        lines += ["", "It may fail part-way or leave the schema other than the revision it records."]
        typed = await self.app.push_screen_wait(_confirm_screen(
            f"Run through a BROKEN step? ({self.app.environment.name})", "\n".join(lines),
            environment=first, protected=True, destructive=True, confirm_label="Run anyway",
            typed_note=f"type the broken revision {first} to run it anyway",
            on_refused=self._audit_refusal(action, target)))
        if typed is None:
            await self._declined(action, target)
            return None
        return True

    def _audit_refusal(self, action: str, target: str | None) -> Callable[[str], None]:
        """Each wrong typed name is audited as refused, as a wrong ``--confirm-env`` is in the
        CLI; the dialog stays open for another try."""
        api = self.app.api

        async def record(reason: str) -> None:
            try:
                await self.app.call(lambda: api.record_refusal(action, target, reason))
            except Exception as exc:  # a read-only role cannot audit; the refusal stands
                log.debug("refusal not audited: %s", exc)

        def refused(reason: str) -> None:
            log.info("%s refused in the console: %s", action, reason)
            self.app.run_worker(record(reason), group="audit", exit_on_error=False)

        return refused

    async def _run(self, label: str, make: Callable[[], Awaitable[T]], *, done: Callable[[T], str]) -> Any:
        """Run one operation on the core thread with the console marked busy; report the end."""
        activity = self.app._pane("activity")
        self.app.running = label
        self.app.main_screen.query_one(StatusHeader).running = label
        activity.log_line(f"--- {label} started")
        log.info("%s started in the console", label)
        activity.set_status(f"{label}: starting ...")
        self._op_started = time.monotonic()
        try:
            result = await self.app.call(make)
        except Exception as exc:
            activity.log_line(f"--- {label} failed: {error_message(exc)}")
            activity.set_status(f"{label}: failed")
            self.show_failure(f"{label} failed", exc)
            return _FAILED
        finally:
            self.app.running = ""
            self.app.main_screen.query_one(StatusHeader).running = ""
            await self.app.refresh_state()
        text = done(result)
        took = time.monotonic() - self._op_started
        activity.log_line(f"--- {text} ({took:.1f}s)")
        log.info("%s (%.1fs)", text, took)
        activity.set_status(f"idle · last: {text}")
        self.app.notify(text)
        return result

    def show_failure(self, title: str, exc: BaseException) -> None:
        # The dialog goes when dismissed; the log keeps the failure, as it does for the CLI.
        log.error("%s: %s", title, error_message(exc))
        detail = getattr(exc, "detail", None)
        if not isinstance(exc, MigctlError):
            import traceback

            from migctl.core.errors import scrub

            detail = scrub("".join(traceback.format_exception(exc)))
        self.app.show_error(title, error_message(exc), detail)


_FAILED = object()


def _step_name(step: Any) -> str:
    """A relational step's revision or a vector step's version."""
    return getattr(step, "revision", None) or step.version


def _confirm_screen(*args: Any, **kwargs: Any) -> Any:
    """The confirmation dialog, imported on first use (start-up imports only what it draws)."""
    from migctl.tui.console.screens.confirm import ConfirmScreen

    return ConfirmScreen(*args, **kwargs)


def _template_names(api: Any) -> Callable[[], Awaitable[list[str]]]:
    async def names() -> list[str]:
        return sorted(api.vector.templates.collections)

    return names


def error_message(exc: BaseException) -> str:
    from migctl.core.errors import scrub

    return scrub(str(exc)) if isinstance(exc, MigctlError) else f"{type(exc).__name__}: {scrub(first_line(exc))}"


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
