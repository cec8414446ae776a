"""CLI commands answered without migctl's database session: the revision graph from the
files (``history``, ``heads``, ``branches``), collection templates, and the embedded servers.
"""

from __future__ import annotations

import argparse
import os
import sys

from migctl.tui.cli.args import EXIT_OK
from migctl.tui.cli.main import _open, _opt, _print, _print_json


async def run(args: argparse.Namespace) -> int:
    if args.command == "templates":
        return _templates(args)
    if args.command == "embedded":
        return _embedded(args)
    return await _graph_only(args)


async def _graph_only(args: argparse.Namespace) -> int:
    from migctl.core.api import load_environment, revision_graph

    environment = load_environment(_opt(args, "config"), _opt(args, "env"), _opt(args, "database_url"))
    graph = revision_graph(environment, cached=False)
    from migctl.tui.formatting import history_lines, one_line, revision_line

    as_json = _opt(args, "json", False)
    if args.command == "heads":
        heads = [graph.by_id[h] for h in graph.heads]
        if as_json:
            _print_json([{"revision": n.id, "branch_labels": list(n.branch_labels)} for n in heads])
        for n in heads if not as_json else ():
            labels = f" ({', '.join(n.branch_labels)})" if n.branch_labels else ""
            _print(f"{n.id}{labels} (head)")
        return EXIT_OK
    if args.command == "branches":
        points = [n for n in reversed(graph.nodes) if n.is_branch_point]
        if as_json:
            _print_json([{"revision": n.id, "children": list(n.children)} for n in points])
            return EXIT_OK
        for n in points:
            _print(revision_line(n))
            for child in n.children:
                c = graph.by_id[child]
                _print(f"{' ' * len(n.id)} -> {c.id}{' (head)' if c.is_head else ''}, {one_line(c.message)}")
        return EXIT_OK
    current: set[str] = set()
    if args.indicate_current:
        api = await _open(args)
        try:
            current = set(await api.current())
        finally:
            await api.close()
    if as_json:
        _print_json([{
            "revision": n.id, "down_revisions": list(n.down_revisions), "branch_labels": list(n.branch_labels),
            "depends_on": list(n.depends_on), "message": n.message, "create_date": n.create_date,
            "path": str(n.path), "head": n.is_head, "base": n.is_base, "merge_point": n.is_merge_point,
            "branch_point": n.is_branch_point, "lane": n.lane, "current": n.id in current,
        } for n in graph.nodes])
        return EXIT_OK
    sys.stdout.write("\n".join(history_lines(graph, verbose=args.verbose, current=current)) + "\n")
    return EXIT_OK


def _templates(args: argparse.Namespace) -> int:
    from pathlib import Path

    from migctl.core.api import (
        load_environment,
        load_templates,
        render_collection,
        vector_templates_path,
    )

    if args.file:
        path = Path(args.file)
    else:  # the environment's templates file; a usage error when it has no vector side
        environment = load_environment(_opt(args, "config"), _opt(args, "env"), _opt(args, "database_url"),
                                       vector_store_type=_opt(args, "vector_store_type"))
        path = vector_templates_path(environment, _opt(args, "vector_store_type"))
    templates = load_templates(path)
    as_json = _opt(args, "json", False)
    if args.templates_action == "list":
        rows = [{"name": name, "dim": spec.dim, "vector_field": spec.vector_field.name,
                 "index_type": spec.index.index_type, "metric": spec.index.metric,
                 "fields": [f.name for f in spec.fields]} for name, spec in templates.collections.items()]
        if as_json:
            _print_json(rows)
            return EXIT_OK
        for r in rows:
            _print(f"{r['name']:<16} dim {r['dim']:<5} {r['index_type']:<9} {r['metric']:<6} "
                   f"fields: {', '.join(r['fields'])}")
        return EXIT_OK
    spec = templates.collection(args.name)
    store = args.store or os.environ.get("VECTOR_STORE_TYPE") or "milvus"
    rendered = render_collection(spec, store)
    if as_json:
        _print_json({"name": args.name, "store": store, "spec": spec.as_dict()})
    else:
        sys.stdout.write(rendered)
    return EXIT_OK


def _embedded(args: argparse.Namespace) -> int:
    from migctl.core.api import embedded_postgres, load_environment, milvus_lite_server

    environment = load_environment(_opt(args, "config"), _opt(args, "env"), None, environ={
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}, require_project=False)
    server = embedded_postgres(environment)
    lite = milvus_lite_server(environment)
    if args.action == "start":
        server.ensure_running()
        _print(f"embedded PostgreSQL {server.version()} running: {server.url} (data in {server.data_dir})")
        if lite is not None:
            _print(f"embedded Milvus Lite running: {lite.ensure_running()} (data in {lite.data_dir})")
    elif args.action == "stop":
        _print("PostgreSQL stopped" if server.stop() else "PostgreSQL not running")
        if lite is not None:
            _print("Milvus Lite stopped" if lite.stop() else "Milvus Lite not running")
    else:
        st = server.status()
        if _opt(args, "json", False):
            data = st.as_dict()
            if lite is not None:
                data["milvus_lite"] = {"running": lite.running_uri() is not None, "uri": lite.running_uri(),
                                       "data_dir": str(lite.data_dir)}
            _print_json(data)
        else:
            state = f"running on 127.0.0.1:{st.port} (pid {st.pid})" if st.running else "stopped"
            _print(f"embedded PostgreSQL {st.version}: {state}; data in {st.data_dir}")
            if lite is not None:
                uri = lite.running_uri()
                _print(f"embedded Milvus Lite: {'running at ' + uri if uri else 'stopped'}; data in {lite.data_dir}")
    return EXIT_OK


def init_project(args: argparse.Namespace) -> int:
    """``migctl init-project``: files only, no database."""
    from migctl.core.api import init_project as scaffold

    result = scaffold(args.directory, vector_store=args.vector_store, example=args.example,
                      alembic_ini=args.alembic_ini)
    if _opt(args, "json", False):
        _print_json({"directory": str(result.directory), "written": [str(p) for p in result.written],
                     "directories": [str(p) for p in result.directories]})
        return EXIT_OK
    for path in (*result.written, *result.directories):
        _print(f"created {path}{'/' if path.is_dir() else ''}")
    where = "" if str(args.directory) in (".", "") else f"cd {args.directory} && "
    _print(f"next: {where}migctl --database-url URL status   (or set database_url in migctl.yaml)")
    return EXIT_OK
