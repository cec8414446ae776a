"""``migctl`` — the headless shell over ``core.api``.

Exit codes: 0 ok, 1 operation failed, 2 usage or bad input, 3 refused (lock held,
confirmation declined, drift, a broken revision), 4 ``check`` found problems. Under ``--json`` every failure also
prints one object ``{"error": ..., "exit": N}`` on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from migctl.tui.cli.args import (
    EXIT_CHECK_FAILED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    UsageExit,
    build_parser,
    command_of,
)

MUTATING = {"upgrade", "downgrade", "stamp"}
log = logging.getLogger("migctl")


def _opt(args: argparse.Namespace, name: str, default: Any = None) -> Any:
    return getattr(args, name, default)


def _setup_logging(args: argparse.Namespace, log_file: Any | None, to_stderr: bool = True) -> None:
    from migctl.core.errors import scrub

    class Scrubbing(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return scrub(super().format(record))

    level = getattr(logging, str(_opt(args, "log_level", "warning")).upper())
    if to_stderr:  # not under the console, which owns the terminal
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(level)
        console.setFormatter(Scrubbing("migctl: %(levelname)s %(message)s"))
        log.addHandler(console)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    if log_file is not None:
        from migctl.tui.log_setup import add_log_file

        add_log_file(log_file, Scrubbing("%(asctime)s %(process)d %(levelname)s %(message)s"))


def _print(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _error_json(message: str, code: int) -> None:
    """Under ``--json`` a failure is also one object on stdout: a pipeline reading only stdout
    gets the reason and the exit code in one place."""
    _print_json({"error": message, "exit": code})


def refuse(args: argparse.Namespace, why: str) -> int:
    """Report a refusal (one line on stderr, and the JSON object under ``--json``): exit 3."""
    sys.stderr.write(f"migctl: refused: {why}\n")
    if _opt(args, "json", False):
        _error_json(f"refused: {why}", EXIT_REFUSED)
    return EXIT_REFUSED


def _event_printer(as_json: bool):
    import time

    from migctl.core.events import (
        LockWaiting,
        Notice,
        StepFailed,
        StepFinished,
        StepStarted,
        VerifyProgress,
    )
    from migctl.tui.formatting import one_line
    from migctl.tui.log_setup import log_event

    last_progress = [0.0]

    def sink(event: Any) -> None:
        # A step is logged once, when it ends (a run killed mid-step leaves its audit row
        # "running"): a log record costs about as much as a fast revision's own client work.
        log_event(event)
        if isinstance(event, StepStarted):
            if not as_json:
                sys.stderr.write(f"  [{event.index + 1}/{event.total}] {event.direction:<5} {event.revision}  "
                                 f"{one_line(event.message)} ...")
                sys.stderr.flush()
        elif isinstance(event, StepFinished):
            if not as_json:
                sys.stderr.write(f" done {event.duration_s:.2f}s\n")
        elif isinstance(event, StepFailed):
            if not as_json:
                sys.stderr.write(" FAILED\n")
        elif isinstance(event, VerifyProgress):
            if not as_json:
                from migctl.tui.formatting import verify_state_text

                sys.stderr.write(f"  [{event.index}/{event.total}] {event.revision}  "
                                 f"{verify_state_text(event.state, event.detail)}  {event.seconds:.2f}s\n")
        elif isinstance(event, LockWaiting):
            if not as_json:
                sys.stderr.write(f"waiting up to {event.timeout_s:.0f}s for the migration lock held by "
                                 f"{event.holder}\n")
        elif type(event).__name__ == "CopyProgress":
            now = time.monotonic()
            if event.done >= event.total or now - last_progress[0] >= 1.0:
                last_progress[0] = now
                eta = f", ETA {event.eta_s:.0f}s" if event.eta_s is not None else ""
                text = (f"copying {event.source} -> {event.target}: {event.done}/{event.total} rows "
                        f"({event.rows_per_s:,.0f} rows/s{eta})")
                log.info("%s", text)
                if not as_json:
                    sys.stderr.write("  " + text + "\n")
        elif isinstance(event, Notice):
            if not as_json:
                sys.stderr.write(event.text + "\n")

    return sink


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty() and not os.environ.get("CI")


def _confirm(plan: Any, args: argparse.Namespace) -> tuple[bool, str | None, str]:
    """Ask on a terminal; elsewhere only ``--yes`` confirms. Returns (go, confirmed env, why not)."""
    name = plan.confirm_name if plan.protected else None
    return _confirm_text(f"Apply this {plan.action} to {plan.environment}?", name, args)


def _confirm_text(question: str, protected_as: str | None, args: argparse.Namespace) -> tuple[bool, str | None, str]:
    """``protected_as``: the name to type (the database's protection, see ``Migctl.protection``)."""
    confirm_env = _opt(args, "confirm_env")
    if _opt(args, "yes"):
        if protected_as is not None and confirm_env != protected_as:
            return False, None, (f"database is protected as {protected_as!r}: pass --confirm-env "
                                 f"{protected_as} to change it without a prompt")
        return True, confirm_env, ""
    if not _interactive() or _opt(args, "json", False):
        return False, None, "no terminal to confirm on: pass --yes to apply the plan shown"
    try:
        answer = input(f"{question} [y/N] ").strip().lower()
    except EOFError:
        answer = ""
    if answer not in ("y", "yes"):
        return False, None, "declined at the confirmation prompt"
    if protected_as is not None:
        try:
            typed = input(f"{protected_as} is PROTECTED. Type its name to confirm: ").strip()
        except EOFError:
            typed = ""
        if typed != protected_as:
            return False, None, "protected environment name not typed correctly"
        confirm_env = typed
    return True, confirm_env, ""


async def protected_as(api: Any) -> str | None:
    """The name that confirms a change to ``api``'s database, or ``None``."""
    return (await api.protection()).name


async def _open(args: argparse.Namespace):
    from migctl.core.api import Migctl

    return Migctl.open(_opt(args, "config"), _opt(args, "env"), _opt(args, "database_url"),
                       sink=_event_printer(_opt(args, "json", False)),
                       lock_timeout=float(_opt(args, "lock_timeout", 0.0) or 0.0),
                       environment=_opt(args, "environment"),
                       vector_store_type=_opt(args, "vector_store_type"),
                       offline=bool(_opt(args, "offline", False)) or _writes_files_only(args))


def _writes_files_only(args: argparse.Namespace) -> bool:
    """``revision`` and ``merge`` write revision files, as ``alembic revision`` does, with no
    database; only ``--autogenerate`` compares against one."""
    return args.command in ("revision", "merge") and not _opt(args, "autogenerate", False)


async def _mutate(api: Any, args: argparse.Namespace) -> int:
    from migctl.core.errors import OperationFailed, UsageError
    from migctl.tui.formatting import at_risk_lines, plan_lines

    as_json = _opt(args, "json", False)
    if args.sql:
        if getattr(args, "purge", False):
            raise UsageError("--purge cannot be combined with --sql (offline SQL has no version table to purge)")
        try:
            sys.stdout.write(await api.offline_sql(args.command, args.target))
        except OperationFailed as exc:
            partial = getattr(exc, "sql", None)  # a step that cannot render: the script up to it, then why
            if partial is not None:
                sys.stdout.write(partial + f"-- {exc}\n")
            raise
        return EXIT_OK
    allow_broken = bool(_opt(args, "allow_broken", False))
    interactive = _interactive() and not _opt(args, "yes") and not as_json
    # Destructive statements are found in the offline SQL; an unattended upgrade skips that work.
    analyse = args.dry_run or interactive or args.command != "upgrade"
    if args.command == "upgrade":
        plan = await api.plan_upgrade(args.target, with_sql=analyse)
    elif args.command == "downgrade":
        plan = await api.plan_downgrade(args.target, with_sql=analyse)
    else:
        plan = await api.plan_stamp(args.target, purge=args.purge, with_sql=analyse)
    if args.dry_run:
        if as_json:
            _print_json(plan.as_dict())
        else:
            _print("\n".join(plan_lines(plan, show_sql=True, allow_broken=allow_broken)))
        return EXIT_OK
    if plan.empty:
        if as_json:
            _print_json({"plan": plan.as_dict(), "result": "nothing to do"})
        else:
            _print(f"nothing to do: {api.environment.name} is already at {', '.join(plan.current) or 'base'}")
        return EXIT_OK
    if not as_json:
        out = sys.stdout if interactive else sys.stderr
        at_risk = await api.rows_at_risk(plan) if interactive else []
        out.write("\n".join(plan_lines(plan, show_sql=False, allow_broken=allow_broken, would_refuse=False)
                             + at_risk_lines(at_risk)) + "\n")
    if not allow_broken and (broken := plan.broken_refusal()) is not None:
        # Refused before asking: nobody should confirm a run that would be refused anyway.
        await api.record_refusal(plan.action, plan.target, broken)
        return refuse(args, broken)
    go, confirm_env, why = _confirm(plan, args)
    if not go:
        await api.record_refusal(plan.action, plan.target, why)
        return refuse(args, why)
    log.info("%s to %s on %s: %d step(s)", plan.action, plan.target, plan.environment, len(plan.steps))
    _freeze_what_is_loaded()
    result = await api.execute(plan, strict=True, confirm_env=confirm_env,
                               allow_drift=bool(_opt(args, "allow_drift", False)), allow_broken=allow_broken)
    if as_json:
        _print_json({"plan": result.plan.as_dict(), "before": list(result.before), "after": list(result.after),
                     "applied": [{"revision": r, "direction": d, "seconds": round(t, 4)}
                                 for r, d, t in result.applied],
                     "nothing_to_do": result.nothing_to_do})
    elif result.nothing_to_do:
        _print(f"nothing to do: {api.environment.name} is at {', '.join(result.after) or 'base'}")
    else:
        _print(f"{plan.action} done: {len(result.applied)} step(s); now at {', '.join(result.after) or 'base'}")
    return EXIT_OK


async def _dispatch(args: argparse.Namespace) -> int:
    cmd = args.command
    if cmd in ("history", "heads", "branches", "templates", "embedded"):
        from migctl.tui.cli import local as cli_local

        return await cli_local.run(args)
    if cmd in ("vector", "collections", "create-migration"):
        environment = args.environment
        if not environment.vector_configured:
            from migctl.core.api import vector_not_configured
            from migctl.core.errors import UsageError

            raise UsageError(vector_not_configured(environment))
    if cmd == "status" and args.all_envs:
        return await _all_environments(args)
    api = await _open(args)
    try:
        return await _run_command(api, args)
    finally:
        await api.close()


async def _run_command(api: Any, args: argparse.Namespace) -> int:
    cmd = args.command
    as_json = _opt(args, "json", False)
    if cmd == "status":
        from migctl.tui.formatting import status_lines

        status = await api.status(vector=not args.skip_vector_db, drift=bool(_opt(args, "drift", False)))
        if as_json:
            _print_json(status)
        else:
            _print("\n".join(status_lines(status)))
            if "vector" in status:
                from migctl.tui.cli.vector import vector_status_lines

                _print("\n".join(vector_status_lines(status["vector"])))
        return EXIT_OK
    if cmd in ("vector", "collections", "migrate", "init", "create-migration", "reset", "restore"):
        import migctl.tui.cli.main as this
        from migctl.tui.cli import vector as cli_vector

        return await cli_vector.run(this, api, args)
    if cmd == "check":
        return await _check(api, args)
    if cmd == "verify":
        return await _verify(api, args)
    if cmd == "current":
        current = await api.current()
        if as_json:
            _print_json(list(current))
        else:
            _print("\n".join(current) if current else "base (no revision)")
        return EXIT_OK
    if cmd in MUTATING:
        return await _mutate(api, args)
    if cmd == "merge":
        rev = await api.merge(args.revisions, args.message)
        _print_json({"revision": rev}) if as_json else _print(f"created merge revision {rev}")
        return EXIT_OK
    if cmd == "revision":
        paths = await api.revision(args.message, autogenerate=args.autogenerate, empty=args.empty)
        _print_json({"paths": paths}) if as_json else _print("\n".join(f"created {p}" for p in paths))
        return EXIT_OK
    if cmd in ("protect", "unprotect"):
        return await _protect(api, args, cmd == "protect")
    if cmd == "audit":
        rows = await api.audit(args.limit)
        if as_json:
            _print_json(rows)
            return EXIT_OK
        for r in rows:
            who = f"{r['actor']}@{r['host']}" + (f" (ssh {r['ssh_client']})" if r["ssh_client"] else "")
            line = (f"{r['started_at']}  {r['outcome']:<8} {r['action']:<9} {r['target'] or '':<14} "
                    f"{r['environment']:<10} {who}  {r['revisions_before'] or 'base'} -> "
                    f"{(r['revisions_after'] or 'base') if r['revisions_after'] is not None else '?'}"
                    f"  {r['duration_ms'] if r['duration_ms'] is not None else '-'}ms")
            if r["error"]:  # an ok row's text is a note (e.g. a run through broken steps allowed)
                line += f"  {'note' if r['outcome'] == 'ok' else 'error'}: {r['error']}"
            _print(line)
        if not rows:
            _print("no audit entries yet")
        return EXIT_OK
    raise AssertionError(cmd)


async def _all_environments(args: argparse.Namespace) -> int:
    """``status --all-envs``: exit 0 once every row is read, reachable or not."""
    from migctl.core.api import environments_overview
    from migctl.tui.formatting import overview_lines

    rows = await environments_overview(args.environment.config_file, timeout=args.timeout,
                                       vector=not args.skip_vector_db)
    if _opt(args, "json", False):
        _print_json({"environments": [r.as_dict() for r in rows]})
    else:
        _print("\n".join(overview_lines(rows)))
    return EXIT_OK


async def _check(api: Any, args: argparse.Namespace) -> int:
    if args.offline and _opt(args, "drift", False):
        from migctl.core.errors import UsageError

        raise UsageError("--drift needs the database: it cannot be combined with --offline")
    result = await api.check(vector=not args.skip_vector_db, offline=args.offline,
                             drift=bool(_opt(args, "drift", False)))
    code = EXIT_OK if result.ok else EXIT_CHECK_FAILED
    summary = f"check failed: {len(result.findings)} finding(s)"
    if _opt(args, "json", False):
        _print_json({**result.as_dict(), "exit": code, **({} if result.ok else {"error": summary})})
    elif result.ok:
        where = "files" if result.offline else f"at {', '.join(result.current or ()) or 'base'}"
        _print(f"ok: {api.environment.name} {where}; {len(result.heads)} head(s), at most {result.max_heads}"
               f"{'' if result.offline else ', no applied revision edited'}"
               f"{', every revision verified' if result.verify_required else ''}; vector {result.vector}")
    else:
        _print("\n".join(f.text for f in result.findings))
    if not result.ok:
        sys.stderr.write(f"migctl: {summary}\n")
    return code


def _cancel_on_signals(caught: list[int]) -> Callable[[], None]:
    """SIGTERM and SIGHUP cancel the running task as Ctrl-C does: verify then finishes the running
    step and drops its scratch database (killed outright, it would leave it on the server). The
    first signal is put in ``caught``; later ones are ignored until the returned function puts
    the previous handlers back."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    previous: dict[int, Any] = {}

    def on_signal(sig: int) -> None:
        if not caught and task is not None:
            caught.append(sig)
            task.cancel()

    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            handler = signal.getsignal(sig)
            if handler is signal.SIG_IGN:  # nohup: a closed terminal must not end the walk
                continue
            loop.add_signal_handler(sig, on_signal, sig)
        except (ValueError, RuntimeError, NotImplementedError):  # not the main thread, or no such signal
            continue
        previous[sig] = handler

    def restore() -> None:
        for sig, handler in previous.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    return restore


async def _verify(api: Any, args: argparse.Namespace) -> int:
    from migctl.tui.formatting import verify_lines

    # The vector side too, when there is one: its own throwaway store, its own verdicts. A vector
    # migration file that does not load is reported before either walk runs.
    with_vector = api.vector_configured and not args.skip_vector_db
    if with_vector:
        _ = api.vector.chain
    caught: list[int] = []
    restore = _cancel_on_signals(caught)
    try:
        result = await api.verify(revision_range=args.revision_range, force=args.force)
        vector = await api.verify_vector(force=args.force) if with_vector else None
    except asyncio.CancelledError:
        if not caught:
            raise
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        line = f"interrupted by {signal.Signals(caught[0]).name}: the running step finished, the scratch database " \
               "was dropped"
        sys.stderr.write(f"migctl: {line}\n")
        if _opt(args, "json", False):
            _error_json(line, 128 + caught[0])
        return 128 + caught[0]
    finally:
        restore()
    ok = result.ok and (vector is None or vector.ok)
    code = EXIT_OK if ok else EXIT_CHECK_FAILED
    bad = sum(1 for v in result.verdicts if not v.ok)
    why = "interrupted" if result.interrupted and not bad else f"{bad} of {len(result.verdicts)} revision(s) not ok"
    if vector is not None and not vector.ok:
        why = (f"{bad} of {len(result.verdicts)} revision(s) and {vector.bad} of {len(vector.verdicts)} vector "
               "migration(s) not ok")
    if _opt(args, "json", False):
        extra: dict[str, Any] = {}
        if vector is not None:
            side = vector.as_dict()
            extra = {"ok": ok, "vector": side["verdicts"], "vector_summary": side["summary"]}
        _print_json({**result.as_dict(), **extra, "exit": code, **({} if ok else {"error": f"verify failed: {why}"})})
    else:
        _print("\n".join(verify_lines(result, vector)))
    if not ok:
        sys.stderr.write(f"migctl: verify failed: {why}\n")
    return code


async def _protect(api: Any, args: argparse.Namespace, protect: bool) -> int:
    """Removing the mark is a change to a protected database, confirmed like any other."""
    confirm_env = _opt(args, "confirm_env")
    if not protect:
        name = await protected_as(api)
        if name is None:
            _print(f"{api.environment.name}: the database is not protected")
            return EXIT_OK
        go, confirm_env, why = _confirm_text(f"Remove the protection of {name}?", name, args)
        if not go:
            await api.record_refusal("unprotect", api.environment.name, why)
            return refuse(args, why)
    result = await (api.protect(confirm_env=confirm_env) if protect else api.unprotect(confirm_env=confirm_env))
    if _opt(args, "json", False):
        _print_json({"protected_as": result.name})
    elif result.name:
        _print(f"protected: this database now needs {result.name!r} confirmed for every change")
    else:
        _print("unprotected: the database's mark is removed")
    return EXIT_OK


def _complete() -> None:
    """Answer a shell's completion request (the script ``migctl completion`` prints calls
    migctl with ``_ARGCOMPLETE`` set); argcomplete writes the candidates and ends the process."""
    import argcomplete

    argcomplete.autocomplete(build_parser())


def _completion_script(shell: str) -> str:
    import argcomplete

    return argcomplete.shellcode(["migctl"], shell=shell)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if os.environ.get("_ARGCOMPLETE"):
        _complete()
    as_json = "--json" in argv
    parser = build_parser(only_console=command_of(argv) == "tui" and "-h" not in argv and "--help" not in argv)
    try:
        args = parser.parse_args(argv)
    except UsageExit as exc:
        if as_json:
            _error_json(exc.line, EXIT_USAGE)
        raise
    as_json = bool(_opt(args, "json", False))
    if args.command is None:
        if not _interactive():
            if as_json:
                sys.stderr.write("migctl: error: no command given (see 'migctl --help')\n")
                _error_json("no command given (see 'migctl --help')", EXIT_USAGE)
            else:
                parser.print_help()
            return EXIT_USAGE
        args.command = "tui"
    if args.command == "completion":
        sys.stdout.write(_completion_script(args.shell))
        return EXIT_OK
    from migctl.core.errors import MigctlError, clip, scrub

    def shown(exc: object) -> str:
        """An error's text as the operator sees it: masked, its first line, cut to a sane length."""
        text = scrub(str(exc))
        return clip(text.splitlines()[0] if text.strip() else "")

    def fail(line: str, code: int) -> int:
        sys.stderr.write(f"migctl: {line}\n")
        if as_json:
            _error_json(line.removeprefix("error: "), code)
        return code

    log_file = None
    try:
        if args.command == "init-project":
            _setup_logging(args, None)
            from migctl.tui.cli.local import init_project

            return init_project(args)
        if args.command not in ("history", "heads", "branches", "embedded", "templates"):
            from migctl.core.api import load_environment

            args.environment = load_environment(_opt(args, "config"), _opt(args, "env"), _opt(args, "database_url"),
                                                vector_store_type=_opt(args, "vector_store_type"))
            log_file = args.environment.log_file
            if log_file.parent == args.environment.state_dir:
                # The log is the state dir's first file: an unusable state dir is one error now,
                # not a warning about the log and then an error about the directory.
                from migctl.core.api import ensure_state_dir

                ensure_state_dir(args.environment.state_dir)
        _setup_logging(args, log_file, to_stderr=args.command != "tui")
        if args.command in ("tui", "serve"):
            from migctl.tui.console.launch import run_console, serve

            return run_console(args, args.environment) if args.command == "tui" else serve(args)
        return asyncio.run(_dispatch(args))
    except MigctlError as exc:
        if exc.detail:
            log.debug("%s", exc.detail)
        from migctl.core.errors import Refused

        # A refusal (lock held, drift) is not an error: scripts tell them apart by the prefix too.
        kind = "refused" if isinstance(exc, Refused) else "error"
        return fail(f"{kind}: {shown(exc)}", exc.exit_code)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except SystemExit as exc:  # a project's env.py giving up with sys.exit("message")
        if isinstance(exc.code, int) or exc.code is None:
            raise
        return fail(f"error: {shown(exc.code)}", EXIT_FAILED)
    except Exception as exc:  # a defect or an environment problem: one line, detail in the log
        import traceback

        log.debug("%s", scrub(traceback.format_exc()))
        return fail(f"error: unexpected {type(exc).__name__}: {shown(exc)}"
                    " (rerun with --log-level debug for details)", EXIT_FAILED)


_ONE_SHOT = False  # set by entry(): this process ends with the command


def _freeze_what_is_loaded() -> None:
    """In the one-shot process only: see :func:`_collect_less_often`."""
    if _ONE_SHOT:
        gc.freeze()


def _collect_less_often() -> None:
    """A command allocates heavily (SQLAlchemy, Alembic, hundreds of revision modules) and frees
    almost all of it by reference counting. At Python's default threshold (700 allocations)
    the cycle collector ran about 240 times in a 300-revision upgrade and re-traversed the
    growing heap each time: 0.18-0.26 s, a tenth of the command. Every 10,000 allocations it
    runs 16 times for 0.08 s; what it frees is the same, only found later. Before a plan runs,
    everything loaded so far (modules, the revision scripts) is frozen out of the collector's
    scans (``gc.freeze``): it lives until the command ends anyway, and a 1,000-revision upgrade
    then spends 0.15-0.2 s less CPU."""
    global _ONE_SHOT
    _ONE_SHOT = True
    gc.set_threshold(10_000, 10, 10)


def entry() -> None:
    """Console-script entry point: run, flush, and leave without interpreter teardown.

    Tearing down the modules a migration imported (SQLAlchemy, drivers, hundreds of revision
    files) costs a noticeable share of a short command; everything migctl opened is closed by
    the time ``main`` returns, so flushing output and logs is all that is left to do.
    """
    _collect_less_often()
    try:
        code = main()
    except SystemExit as exc:  # argparse --help / usage errors
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_USAGE)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    entry()
