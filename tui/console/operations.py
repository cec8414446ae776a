"""What the console's operator actions do: plan on the core thread, show the plan for
confirmation, run it with the console marked busy, report the end (or the failure).

A mixin of :class:`tui.app.MigctlApp`, which provides ``api``, ``environment``, ``call``,
``_pane``, ``refresh_state``, ``load_graph``, ``lock_timeout``, ``vector_enabled`` and ``vector_configured``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from textual import work
from textual.widgets import TabbedContent

from migctl.core.errors import MigctlError
from migctl.tui.console.widgets.header import StatusHeader
from migctl.tui.console.widgets.history import HistoryPane
from migctl.tui.log_setup import log

T = TypeVar("T")


class Operations:
    # -- actions: relational --------------------------------------------------------------
    def _selected_revision(self) -> str | None:
        rev = self.query_one(HistoryPane).selected
        if rev is None:
            self.notify("select a revision in the Alembic pane first", severity="warning")
        return rev

    def action_upgrade_heads(self) -> None:
        self.relational("upgrade", "heads")

    def action_upgrade_next(self) -> None:
        self.relational("upgrade", "+1")

    def action_upgrade_selected(self) -> None:
        if rev := self._selected_revision():
            self.relational("upgrade", rev)

    def action_downgrade_one(self) -> None:
        self.relational("downgrade", "-1")

    def action_downgrade_selected(self) -> None:
        if rev := self._selected_revision():
            self.relational("downgrade", rev)

    def action_downgrade_base(self) -> None:
        self.relational("downgrade", "base")

    def action_stamp_selected(self) -> None:
        if rev := self._selected_revision():
            self.relational("stamp", rev)

    @work(group="op", exit_on_error=False)
    async def relational(self, action: str, target: str) -> None:
        """Plan, show, confirm, execute: one Alembic operation."""
        from migctl.tui.formatting import at_risk_lines, plan_lines

        api = self.api
        planner = {"upgrade": api.plan_upgrade, "downgrade": api.plan_downgrade, "stamp": api.plan_stamp}[action]
        try:
            plan = await self.call(lambda: planner(target))
        except Exception as exc:
            self.show_failure(f"Cannot plan {action} {target}", exc)
            return
        if plan.empty:
            self.notify(f"{action} {target}: nothing to do, already there")
            return
        try:
            at_risk = await self.call(lambda: api.rows_at_risk(plan))
        except Exception as exc:  # counting is a courtesy; the plan still shows the statements
            at_risk = []
            self.notify(f"could not count the rows at risk: {error_message(exc)}", severity="warning")
        text = "\n".join(plan_lines(plan) + at_risk_lines(at_risk))
        typed = await self.push_screen_wait(_confirm_screen(
            f"{action.capitalize()} {self.environment.name} to {target}", text, sql=plan.sql,
            environment=plan.confirm_name, protected=plan.protected,
            destructive=bool(plan.destructive) or action == "downgrade",
            confirm_label=action.capitalize()))
        if typed is None:
            await self._declined(action, target)
            return
        await self._run(f"{action} {target}", lambda: api.execute(plan, confirm_env=typed or None),
                        done=lambda r: f"{action} done: {len(r.applied)} step(s); now at "
                                       f"{', '.join(r.after) or 'base'}")

    @work(group="op", exit_on_error=False)
    async def action_merge_heads(self) -> None:
        api = self.api
        heads = self.query_one(HistoryPane).graph.heads if self.query_one(HistoryPane).graph else ()
        if len(heads) < 2:
            self.notify("only one head: nothing to merge")
            return
        typed = await self.push_screen_wait(_confirm_screen(
            "Merge heads", "Write a merge revision file joining:\n" + "\n".join(f"  {h}" for h in heads)
            + "\n\nNo database changes; upgrade afterwards applies it.", environment=self.environment.name,
            protected=False, confirm_label="Merge"))
        if typed is None:
            return
        await self._run("merge", lambda: api.merge(list(heads), "merge heads"), done=lambda r: f"wrote merge revision {r}")
        self.load_graph()

    # -- actions: both sides --------------------------------------------------------------
    def action_init(self) -> None:
        self.unified("init")

    def action_migrate(self) -> None:
        self.unified("migrate")

    @work(group="op", exit_on_error=False)
    async def unified(self, command: str) -> None:
        from migctl.tui.formatting import plan_lines, vector_plan_lines

        api = self.api
        skip_vector = not self.vector_enabled
        try:
            plan = await self.call(lambda: api.plan_migrate(skip_vector=skip_vector, init=command == "init"))
        except Exception as exc:
            self.show_failure(f"Cannot plan {command}", exc)
            return
        if plan.empty and command == "migrate":
            self.notify("migrate: nothing to do, both sides at the latest version")
            return
        lines = plan.preamble() + plan_lines(plan.relational)
        if plan.vector is not None:
            lines += [""] + vector_plan_lines(plan.vector, self.environment.name)
        elif not self.vector_configured:
            lines += ["", "vector: not configured"]
        seed_dir = self.environment.seed_dir
        if command == "init" and seed_dir is not None:
            shown = seed_dir.relative_to(self.environment.base_dir) if seed_dir.is_relative_to(
                self.environment.base_dir) else seed_dir
            lines += ["", f"Seed data: {shown}/*.sql (idempotent)"]
        name = await self._protected_as()
        typed = await self.push_screen_wait(_confirm_screen(
            f"{command.capitalize()} {self.environment.name}", "\n".join(lines),
            environment=name or self.environment.name, protected=name is not None,
            confirm_label=command.capitalize()))
        if typed is None:
            await self._declined(command, "latest")
            return
        await self._run(command, lambda: api.execute_migrate(plan, confirm_env=typed or None,
                                                         seed=command == "init", action=command),
                        done=lambda r: f"{command} done: {len(r.relational_applied)} revision(s)"
                                       + (f", {len(r.vector_applied)} vector migration(s)" if self.vector_configured
                                          else ""))

    @work(group="op", exit_on_error=False)
    async def action_reset(self) -> None:
        """The wizard: scope -> plan with counts, backup, typed name -> progress -> result."""
        from migctl.tui.console.screens.reset import (
            ResetConfirmScreen,
            ResetResultScreen,
            ResetScopeScreen,
        )

        api = self.api
        env = self.environment.name
        scope = await self.push_screen_wait(ResetScopeScreen(env))
        if scope is None:
            return
        try:
            plan = await self.call(lambda: api.plan_reset(skip_vector=scope == "relational" or not self.vector_enabled,
                                                      skip_relational=scope == "vector"))
        except Exception as exc:
            self.show_failure("Cannot plan the reset", exc)
            return
        name = await self._protected_as()
        answer = await self.push_screen_wait(ResetConfirmScreen(name or env, "\n".join(plan.lines()[:-1])))
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
        await self.push_screen_wait(ResetResultScreen(env, summary))

    # -- actions: vector ------------------------------------------------------------------
    def _selected_version(self, required: bool = True) -> str | None:
        version = self._pane("vector").selected if self.query_one(TabbedContent).active == "vector" else None
        if version is None and required:
            self.notify("select a version in the Vector pane first", severity="warning")
        return version

    def action_vector_upgrade(self) -> None:
        self.vector("upgrade", None)

    def action_vector_downgrade(self) -> None:
        self.vector("downgrade", self._selected_version(required=False) or "-1")

    def action_vector_stamp(self) -> None:
        if version := self._selected_version():
            self.vector("stamp", version)

    @work(group="op", exit_on_error=False)
    async def vector(self, action: str, target: str | None) -> None:
        from migctl.tui.formatting import vector_plan_lines

        api = self.api
        try:  # an upgrade over an edited, applied file is refused by the plan itself
            plan = await self.call(lambda: api.vector.plan(action, target))
        except Exception as exc:
            self.show_failure(f"Cannot plan vector {action}", exc)
            return
        if plan.empty:
            self.notify(f"vector {action}: nothing to do")
            return
        name = await self._protected_as()
        typed = await self.push_screen_wait(_confirm_screen(
            f"Vector {action} {self.environment.name} to {plan.target}",
            "\n".join(vector_plan_lines(plan, self.environment.name)), environment=name or self.environment.name,
            protected=name is not None, destructive=bool(plan.destroys) or action == "downgrade",
            confirm_label=f"Vector {action}"))
        if typed is None:
            await self._declined(f"vector {action}", plan.target)
            return
        await self._run(f"vector {action}", lambda: api.vector.execute(plan, lock_timeout=self.lock_timeout,
                                                                        confirm_env=typed or None),
                        done=lambda r: f"vector {action} done: {len(r)} migration(s); now at {plan.after or 'base'}")

    @work(group="op", exit_on_error=False)
    async def action_vector_repair(self) -> None:
        version = self._selected_version()
        if version is None:
            return
        api = self.api
        name = await self._protected_as()
        typed = await self.push_screen_wait(_confirm_screen(
            f"Repair vector migration {version}",
            f"Record the current file of {version} as applied (new operations_hash).\n"
            "Only do this when the edit does not change what the store holds.",
            environment=name or self.environment.name, protected=name is not None, confirm_label="Repair"))
        if typed is None:
            await self._declined("vector repair", version)
            return
        await self._run("vector repair", lambda: api.vector.repair(version, confirm_env=typed or None),
                        done=lambda h: f"repaired {version}: operations_hash now {h[:12]}")

    @work(group="op", exit_on_error=False)
    async def action_create_vector_migration(self) -> None:
        from migctl.tui.console.screens.forms import CreateVectorMigrationScreen

        api = self.api
        try:
            names = await self.call(_template_names(api))
        except Exception as exc:
            self.show_failure("Cannot read the templates", exc)
            return
        answer = await self.push_screen_wait(CreateVectorMigrationScreen(names))
        if answer is None:
            return
        description, chosen = answer

        async def create() -> str:
            return api.vector.create_migration(description, chosen)

        await self._run("create vector migration", create, done=lambda path: f"created {path}")

    # -- running ----------------------------------------------------------------------------
    async def _protected_as(self) -> str | None:
        """The name to type: the database's protection mark, else the environment's own flag."""
        api = self.api
        try:
            return (await self.call(api.protection)).name
        except Exception:  # unreachable: the operation itself will say why
            return self.environment.name if self.environment.protected else None

    async def _declined(self, action: str, target: str | None) -> None:
        self.notify(f"{action}: cancelled, nothing changed")
        api = self.api
        try:
            await self.call(lambda: api.record_refusal(action, target, "declined in the console"))
        except Exception:  # a read-only role cannot audit; declining still stands
            pass

    async def _run(self, label: str, make: Callable[[], Awaitable[T]], *, done: Callable[[T], str]) -> Any:
        """Run one operation on the core thread with the console marked busy; report the end."""
        activity = self._pane("activity")
        self.running = label
        self.query_one(StatusHeader).running = label
        activity.log_line(f"--- {label} started")
        log.info("%s started in the console", label)
        activity.set_status(f"{label}: starting ...")
        self._op_started = time.monotonic()
        try:
            result = await self.call(make)
        except Exception as exc:
            activity.log_line(f"--- {label} failed: {error_message(exc)}")
            activity.set_status(f"{label}: failed")
            self.show_failure(f"{label} failed", exc)
            return _FAILED
        finally:
            self.running = ""
            self.query_one(StatusHeader).running = ""
            await self.refresh_state()
        text = done(result)
        took = time.monotonic() - self._op_started
        activity.log_line(f"--- {text} ({took:.1f}s)")
        log.info("%s (%.1fs)", text, took)
        activity.set_status(f"idle · last: {text}")
        self.notify(text)
        return result

    def show_failure(self, title: str, exc: BaseException) -> None:
        # The dialog goes when dismissed; the log keeps the failure, as it does for the CLI.
        log.error("%s: %s", title, error_message(exc))
        detail = getattr(exc, "detail", None)
        if not isinstance(exc, MigctlError):
            import traceback

            from migctl.core.errors import scrub

            detail = scrub("".join(traceback.format_exception(exc)))
        self.show_error(title, error_message(exc), detail)

    def show_error(self, title: str, message: str, detail: str | None = None) -> None:
        from migctl.core.errors import scrub
        from migctl.tui.console.screens.error import ErrorScreen

        self.push_screen(ErrorScreen(title, scrub(message), scrub(detail) if detail else None))


_FAILED = object()


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
