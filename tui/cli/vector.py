"""CLI commands for the vector side and for both sides at once (a shell over ``core``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from migctl.tui.formatting import vector_plan_lines

VECTOR_ACTIONS = ("status", "history", "upgrade", "downgrade", "stamp", "repair")


def add_commands(add: Callable[[str, str], argparse.ArgumentParser], g: argparse.ArgumentParser,
                 parser_class: type[argparse.ArgumentParser]) -> None:
    """Register vector, collections, migrate, init and create-migration on the main parser."""
    p = add("vector", "vector migrations: status, history, upgrade, downgrade, stamp, repair")
    vsub = p.add_subparsers(dest="vector_action", metavar="ACTION", parser_class=parser_class, required=True)
    for name, text in (("status", "applied, pending and drifted vector migrations; live drift"),
                       ("history", "every vector migration with its state")):
        q = vsub.add_parser(name, parents=[g], help=text, description=text)
    for name, text, default in (("upgrade", "apply vector migrations up to TARGET (default: latest)", "latest"),
                                ("downgrade", "revert vector migrations down to TARGET (base, -N, a version)", None),
                                ("stamp", "record TARGET as applied without running anything", None)):
        q = vsub.add_parser(name, parents=[g], help=text, description=text)
        if default:
            q.add_argument("target", nargs="?", default=default, metavar="TARGET")
        else:
            q.add_argument("target", metavar="TARGET")
        q.add_argument("--dry-run", action="store_true", help="show the plan and change nothing")
        if name != "stamp":
            q.add_argument("--allow-broken", action="store_true",
                           help="run even through a migration `migctl verify` found broken in this direction")
    q = vsub.add_parser("repair", parents=[g], help="accept an edited, applied migration file as applied")
    q.add_argument("version", metavar="VERSION")
    p = add("collections", "live collections: rows, dimension, index, aliases, load state, drift")
    for name, text in (("migrate", "bring both databases to latest: relational first, under one lock"),
                       ("init", "create what is missing and bring both databases to latest (idempotent)")):
        p = add(name, text)
        p.add_argument("--skip-vector-db", action="store_true", help="leave the vector store alone")
        p.add_argument("--dry-run", action="store_true", help="show the plan and change nothing")
        p.add_argument("--allow-broken", action="store_true",
                       help="run even through a revision `migctl verify` found broken on upgrade")
        if name == "init":
            p.add_argument("--force-recreate", action="store_true",
                           help="reset first (plan shown, backup taken, confirmation needed), then init")
    p = add("reset", "drop every table and collection migctl manages, after a backup (needs --confirm-reset)")
    p.add_argument("--confirm-reset", action="store_true", help="really do it (without it: show the plan only)")
    p.add_argument("--skip-vector-db", action="store_true", help="leave the vector store alone")
    p.add_argument("--skip-relational", action="store_true",
                   help="reset only the vector side (collections and their tracking); keep the Alembic schema")
    p.add_argument("--no-backup", action="store_true", help="skip the backup (not recommended)")
    p = add("restore", "load a backup made by reset (tables, then Milvus collections)")
    p.add_argument("path", metavar="PATH", help="a folder under .migctl/backups/")
    p = add("create-migration", "write the next numbered vector migration file")
    p.add_argument("--description", "-d", required=True)
    p.add_argument("--create-collections", nargs="*", default=[], metavar="TEMPLATE",
                   help="collections to create from their templates (e.g. document image)")


def _out(cli: Any, text: str) -> None:
    sys.stdout.write(text + "\n")


async def run(cli: Any, api: Any, args: argparse.Namespace) -> int:
    """Dispatch the commands registered by :func:`add_commands`. ``cli`` is ``tui.cli``."""
    cmd = args.command
    as_json = cli._opt(args, "json", False)
    if cmd == "create-migration":
        path = api.vector.create_migration(args.description, list(args.create_collections))
        cli._print_json({"path": path}) if as_json else _out(cli, f"created {path}")
        return cli.EXIT_OK
    if cmd == "collections":
        data = await api.vector.collections()
        if as_json:
            cli._print_json(data)
            return cli.EXIT_OK
        _out(cli, f"vector store: {data['store']} ({data['address']})")
        for c in data["collections"]:
            _out(cli, f"  {c['name']:<24} rows {c['rows']:<9} dim {c['dim'] or '-':<5} index {c['index'] or 'none':<16} "
                      f"aliases {', '.join(c['aliases']) or '-':<20} loaded {c['loaded'] if c['loaded'] is not None else '-'}"
                      f"{'' if c['declared'] else '  (not declared)'}")
        for d in data["live_drift"]:
            _out(cli, f"  drift: {d}")
        return cli.EXIT_OK
    if cmd in ("migrate", "init"):
        return await _migrate(cli, api, args)
    if cmd in ("reset", "restore"):
        return await _reset_or_restore(cli, api, args)
    action = args.vector_action
    if action == "status":
        status = await api.vector.status_or_busy()
        cli._print_json(status) if as_json else _out(cli, "\n".join(vector_status_lines(status)))
        return cli.EXIT_OK
    if action == "history":
        rows = await api.vector.history()
        if as_json:
            cli._print_json(rows)
        for r in rows if not as_json else ():
            who = f"  {r['applied_at']} by {r['applied_by']}" if r["applied_at"] else ""
            _out(cli, f"{r['version']}  {r['status']:<11} {r['description']}{who}")
        return cli.EXIT_OK
    if action == "repair":
        from migctl.core.errors import Refused

        go, confirm_env, why = cli._confirm_text(f"Record the current file of {args.version} as applied?",
                                                 await cli.protected_as(api), args)
        if not go:
            await api.record_refusal("vector repair", args.version, why)
            raise Refused(why)
        new_hash = await api.vector.repair(args.version, confirm_env=confirm_env)
        _out(cli, f"repaired {args.version}: operations_hash now {new_hash[:12]}")
        return cli.EXIT_OK
    plan = await api.vector.plan(action, args.target)  # an upgrade over an edited file is refused here
    if args.dry_run or plan.empty:
        if as_json:
            cli._print_json(plan.as_dict())
        else:
            _out(cli, "\n".join(vector_plan_lines(plan, api.environment.name)))
        return cli.EXIT_OK
    if not as_json:
        sys.stderr.write("\n".join(vector_plan_lines(plan, api.environment.name)) + "\n")
    allow_broken = bool(cli._opt(args, "allow_broken", False))
    if not allow_broken and (broken := plan.broken_refusal()) is not None:
        await api.record_refusal(f"vector {action}", plan.target, broken)
        return cli.refuse(args, broken)
    go, confirm_env, why = cli._confirm_text(f"Apply this vector {action} to {api.environment.name}?",
                                             await cli.protected_as(api), args)
    if not go:
        await api.record_refusal(f"vector {action}", plan.target, why)
        return cli.refuse(args, why)
    done = await api.vector.execute(plan, confirm_env=confirm_env, lock_timeout=api.lock_timeout,
                                    allow_broken=allow_broken)
    cli._print_json({"plan": plan.as_dict(), "done": done}) if as_json else _out(
        cli, f"vector {action} done: {len(done)} migration(s); now at {plan.after or 'base'}")
    return cli.EXIT_OK


async def _migrate(cli: Any, api: Any, args: argparse.Namespace) -> int:
    from migctl.tui.formatting import plan_lines

    as_json = cli._opt(args, "json", False)
    skip_vector = args.skip_vector_db or not api.vector_configured
    if getattr(args, "force_recreate", False) and not args.dry_run:
        reset_plan = await api.plan_reset(skip_vector=skip_vector)
        if not as_json:
            sys.stderr.write("\n".join(reset_plan.lines()) + "\n")
        go, confirm_env, why = cli._confirm_text(f"--force-recreate: drop everything above in "
                                                 f"{api.environment.name}, then init?", await cli.protected_as(api), args)
        if not go:
            await api.record_refusal("init --force-recreate", "all", why)
            return cli.refuse(args, why)
        folder = await api.execute_reset(reset_plan, confirm_env=confirm_env)
        sys.stderr.write(f"reset done; backup in {folder}\n" if folder else "reset done\n")
    plan = await api.plan_migrate(skip_vector=skip_vector, with_sql=args.dry_run, init=args.command == "init")
    allow_broken = bool(cli._opt(args, "allow_broken", False))
    lines = plan.preamble() + plan_lines(plan.relational, allow_broken=allow_broken, would_refuse=args.dry_run) + (
        ([] if (skip_vector and api.vector_configured) or plan.vector_deferred else ["vector: not configured"])
        if plan.vector is None
        else vector_plan_lines(plan.vector, api.environment.name))
    if args.dry_run:
        cli._print_json(plan.as_dict()) if as_json else _out(cli, "\n".join(lines))
        return cli.EXIT_OK
    if not as_json:
        sys.stderr.write("\n".join(lines) + "\n")
    if plan.empty and args.command == "migrate":
        _out(cli, "nothing to do: both databases are at the latest version")
        return cli.EXIT_OK
    broken = plan.relational.broken_refusal() or (plan.vector.broken_refusal() if plan.vector else None)
    if not allow_broken and broken is not None:
        await api.record_refusal(args.command, "latest", broken)
        return cli.refuse(args, broken)
    go, confirm_env, why = (True, cli._opt(args, "confirm_env"), "")
    protected = await cli.protected_as(api)
    if not plan.empty or protected:
        go, confirm_env, why = cli._confirm_text(f"Apply to {api.environment.name}?", protected, args)
    if not go:
        await api.record_refusal(args.command, "latest", why)
        return cli.refuse(args, why)
    result = await api.execute_migrate(plan, confirm_env=confirm_env, seed=args.command == "init", action=args.command,
                                       allow_broken=allow_broken)
    summary = {"created_database": result.created_database, "relational_applied": result.relational_applied,
               "seeded": result.seeded, "vector_applied": result.vector_applied,
               "vector_configured": api.vector_configured}
    if as_json:
        cli._print_json(summary)
    else:
        _out(cli, f"{args.command} done: {len(result.relational_applied)} revision(s), "
                  + (f"{len(result.vector_applied)} vector migration(s)" if api.vector_configured
                     else "vector: not configured")
                  + (f", seed files {', '.join(result.seeded)}" if result.seeded else "")
                  + ("; database created" if result.created_database else ""))
    return cli.EXIT_OK


async def _reset_or_restore(cli: Any, api: Any, args: argparse.Namespace) -> int:
    from pathlib import Path

    as_json = cli._opt(args, "json", False)
    if args.command == "restore":
        folder = Path(args.path)
        go, confirm_env, why = cli._confirm_text(f"Restore {folder} into {api.environment.name}?", await cli.protected_as(api), args)
        if not go:
            await api.record_refusal("restore", str(folder), why)
            return cli.refuse(args, why)
        result = await api.restore(folder, confirm_env=confirm_env)
        cli._print_json(result) if as_json else _out(
            cli, f"restored {result['tables']} table(s)"
                 + "".join(f", {n}: {c} rows" for n, c in result["collections"].items()))
        return cli.EXIT_OK
    plan = await api.plan_reset(skip_vector=args.skip_vector_db or not api.vector_configured,
                                backup=not args.no_backup, skip_relational=args.skip_relational)
    why = "reset needs --confirm-reset; nothing was changed"
    if as_json and not args.confirm_reset:  # one object: the plan and the refusal
        cli._print_json({"error": f"refused: {why}", "exit": cli.EXIT_REFUSED, "plan": plan.as_dict()})
    elif not as_json:
        (sys.stdout if not args.confirm_reset else sys.stderr).write("\n".join(plan.lines()) + "\n")
    if not args.confirm_reset:
        await api.record_refusal("reset", "all", "--confirm-reset not given")
        sys.stderr.write(f"migctl: refused: {why}\n")
        return cli.EXIT_REFUSED
    go, confirm_env, why = cli._confirm_text(f"Drop everything listed above in {api.environment.name}?",
                                             await cli.protected_as(api), args)
    if not go:
        await api.record_refusal("reset", "all", why)
        return cli.refuse(args, why)
    folder = await api.execute_reset(plan, confirm_env=confirm_env)
    summary = {"backup": str(folder) if folder else None, "tables": len(plan.tables),
               "collections": len(plan.collections)}
    cli._print_json(summary) if as_json else _out(
        cli, f"reset done: {len(plan.tables)} table(s), {len(plan.collections)} collection(s) dropped; "
             + (f"backup in {folder} (migctl restore {folder})" if folder else "no backup"))
    return cli.EXIT_OK


def vector_status_lines(v: dict[str, Any]) -> list[str]:
    lines = [f"vector store: {v['store']} ({v['address']}){'  (embedded)' if v.get('embedded') else ''}"]
    if "busy" in v:  # Milvus Lite is open in another process: who, not its state
        return [*lines, f"vector: busy — {v['busy']}"]
    lines += [f"vector:      {v['current'] or 'base'} (latest {v['latest'] or '-'}); "
              f"{len(v['applied'])} applied, {len(v['pending'])} pending"]
    for d in v["drifted"]:
        lines.append(f"  drifted: {d['version']} ({d['reason']})")
    for u in v.get("unfinished", []):
        lines.append(f"  unfinished: {u['version']} {u['status']} at step {u['current_step']} ({u['step_description']})")
    for c in v.get("collections", []):
        lines.append(f"  collection {c['name']}: {c['rows']} rows, dim {c['dim']}, index {c['index'] or 'none'}"
                     + (f", aliases {', '.join(c['aliases'])}" if c["aliases"] else ""))
    for d in v.get("live_drift", []):
        lines.append(f"  live drift: {d}")
    return lines
