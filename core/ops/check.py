"""``migctl check``: what a CI pipeline gates on, as a list of findings (none: all is well).

Online: the database is at the heads, the revision graph has at most ``max_heads`` heads, no
applied revision file changed since migctl applied it (the checksums ``status`` compares), the
live schema matches the one expected at the current revisions (when that is cached, or asked
for: ``--drift``, ``verify: required``), and the vector side has nothing pending and no drift. Offline (no database): every revision file
loads, at most ``max_heads`` heads, and the vector migrations form one chain (no fork).
With ``verify: required`` in the config, online and offline: every revision has a ``migctl
verify`` verdict for its file as it is now, and none is broken.
"""

from __future__ import annotations

import asyncio
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from migctl.core.config import Environment
from migctl.core.errors import ConfigError, UsageError, clip

if TYPE_CHECKING:
    from migctl.core.relational.graph import RevisionGraph
    from migctl.core.relational.service import RelationalService
    from migctl.core.vector.service import VectorService


@dataclass(frozen=True)
class Finding:
    """One reason the check fails; ``text`` is the line a shell prints."""

    # load, heads, pending, edited, missing, unknown, unverified, broken, schema drift, vector load,
    # vector fork, vector pending, vector drift
    kind: str
    text: str
    items: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, "items": list(self.items)}


@dataclass(frozen=True)
class CheckResult:
    environment: str
    offline: bool
    max_heads: int
    heads: tuple[str, ...] = ()
    current: tuple[str, ...] | None = None  # None offline
    vector: str = "skipped"  # checked, skipped, not configured
    findings: tuple[Finding, ...] = field(default_factory=tuple)
    verify_required: bool = False  # ``verify: required``: every revision verified, none broken

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "environment": self.environment, "offline": self.offline,
                "max_heads": self.max_heads, "heads": list(self.heads),
                "current": None if self.current is None else list(self.current), "vector": self.vector,
                "verify_required": self.verify_required, "findings": [f.as_dict() for f in self.findings]}


def _shown(path: str | Path) -> str:
    """A file as a CI log shows it: relative to the working directory (the repository) when inside."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _sections(environment: Environment, key: str) -> tuple[list[Any], Path | None]:
    """``key`` of the environment's section, then of the config file's top level (each where
    set), and the file they were read from."""
    path = environment.config_file
    if path is None or not path.is_file():
        return [], None
    try:
        if path.suffix == ".toml":
            data: Any = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("migctl", {})
        else:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, ValueError, yaml.YAMLError):
        return [], path  # loading the environment already read this file; its errors were reported there
    if not isinstance(data, dict):
        return [], path
    env_section = (data.get("environments") or {}).get(environment.name)
    return [section[key] for section in (env_section, data)
            if isinstance(section, dict) and section.get(key) is not None], path


def max_heads(environment: Environment) -> int:
    """``check: {max_heads: N}`` of the environment, else of the config file's top level, else 1
    (a project that keeps independent branches on purpose says how many heads it expects)."""
    path = environment.config_file
    if path is None or not path.is_file():
        return 1
    try:
        if path.suffix == ".toml":
            data: Any = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("migctl", {})
        else:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, ValueError, yaml.YAMLError):
        return 1  # loading the environment already read this file; its errors were reported there
    if not isinstance(data, dict):
        return 1
    env_section = (data.get("environments") or {}).get(environment.name)
    for section in (env_section, data):
        check = section.get("check") if isinstance(section, dict) else None
        if isinstance(check, dict) and "max_heads" in check:
            value = check["max_heads"]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{path}: check.max_heads must be a whole number >= 1, not {value!r}")
            return value
    return 1


def verify_required(environment: Environment) -> bool:
    """``verify: required`` (or ``verify: {required: true}``) in the environment's section, else
    at the config file's top level: ``check`` then fails on revisions not verified or broken.
    Looked up per key: an environment's ``verify: {on: server}`` keeps the top level's
    ``required``."""
    values, path = _sections(environment, "verify")
    for value in values:
        if isinstance(value, str):
            if value in ("required", "optional"):
                return value == "required"
            raise ConfigError(f"{path}: verify must be 'required', 'optional' or a mapping, "
                              f"not {clip(repr(value), 60)}")
        if isinstance(value, dict) and value.get("required") is not None:
            required = value["required"]
            if isinstance(required, bool):
                return required
            raise ConfigError(f"{path}: verify.required must be true or false, not {required!r}")
    return False


def check_verdicts(relational: RelationalService, graph: RevisionGraph) -> list[Finding]:
    """``verify: required``: every revision's verdict for its file as it is now (an edited file
    has none), from the state dir's verdict cache; no database is reached."""
    from migctl.core.relational.verdict_cache import VerdictCache, backend_of

    files = {node.id: node.path for node in graph.nodes}
    verdicts = VerdictCache(relational.environment.state_dir).for_files(files, relational.project.file_digests,
                                                                        backend=backend_of(relational.url))
    findings: list[Finding] = []
    unverified = [node.id for node in graph.nodes if node.id not in verdicts]
    if unverified:
        shown = ", ".join(unverified[:10]) + (f", ... ({len(unverified) - 10} more)" if len(unverified) > 10 else "")
        findings.append(Finding("unverified", f"unverified: {_plural(len(unverified), 'revision')} ({shown}); "
                                "run migctl verify", tuple(unverified)))
    for node in graph.nodes:
        verdict = verdicts.get(node.id)
        if verdict is None or verdict.ok:
            continue
        detail = next((ln.strip() for ln in verdict.detail.splitlines() if ln.strip()), "")
        where = f" (verified on {verdict.server})" if verdict.server else ""
        findings.append(Finding("broken", f"broken: {node.id} {verdict.state}"
                                f"{': ' + clip(detail, 200) if detail else ''}{where}", (node.id,)))
    return findings


def schema_findings(status: dict[str, Any]) -> list[Finding]:
    """``schema drift``: one finding, each difference an item (none when not compared)."""
    report = status.get("schema_drift")
    if report is not None and report["differs"]:
        at = ",".join(report["at"]) or "base"
        return [Finding("schema drift", f"schema drift: differs from {at}: {report['summary']}",
                        tuple(report["lines"]))]
    return []


async def check_relational(relational: RelationalService, *, offline: bool, limit: int, verify: bool = False,
                           drift: bool = False,
                           ) -> tuple[list[Finding], tuple[str, ...], tuple[str, ...] | None]:
    """(findings, heads, current revisions or ``None`` offline). ``drift``: build the expected
    schema when it is not cached (otherwise the cached one only)."""
    findings: list[Finding] = []
    project = relational.project  # no alembic project: a usage error, not a finding
    try:
        await asyncio.to_thread(project.script)  # executes every revision file, as a run would
    except UsageError as exc:
        findings.append(Finding("load", f"load: {exc}"))
    try:
        graph = await relational.history()
    except UsageError as exc:
        if not findings:  # the files loaded, yet the graph cannot be read: still a finding
            findings.append(Finding("load", f"load: {exc}"))
        return findings, (), None
    heads = tuple(graph.heads)
    if len(heads) > limit:
        findings.append(Finding("heads", f"heads: {len(heads)} ({', '.join(heads)})", heads))
    if verify:
        findings += await asyncio.to_thread(check_verdicts, relational, graph)
    if offline:
        return findings, heads, None
    status = await relational.status(drift=drift)
    current = tuple(status["current"])
    pending = list(status["pending_revisions"])
    if pending:
        findings.append(Finding("pending", f"pending: {_plural(len(pending), 'revision')} ({', '.join(pending)})",
                                tuple(pending)))
    for d in status["drifted"]:
        if d["reason"] == "file missing":
            findings.append(Finding("missing", f"missing since applied: {d['revision']} ({_shown(d['path']) if d['path'] else '?'})",
                                    (d["revision"],)))
        else:
            findings.append(Finding("edited", f"edited since applied: {d['revision']} ({_shown(d['path'])})",
                                    (d["revision"],)))
    for rev in status["unknown_current"]:
        findings.append(Finding("unknown", f"unknown revision in the database: {rev} (no file has it)", (rev,)))
    findings += schema_findings(status)
    if drift and status.get("schema_drift") is None and status.get("schema_drift_note"):
        findings.append(Finding("schema drift", f"schema not compared: {status['schema_drift_note']}"))
    return findings, heads, current


async def check_vector(vector: VectorService, *, offline: bool) -> list[Finding]:
    from migctl.core.vector.model import MigrationError
    from migctl.core.vector.yaml_source import TemplateError

    try:
        _ = vector.chain  # a fork, a duplicate version or an unknown parent fails here
    except (MigrationError, TemplateError) as exc:
        text = str(exc)
        if text.startswith("fork: "):
            return [Finding("vector fork", f"vector fork: {text.removeprefix('fork: ')}")]
        return [Finding("vector load", f"vector migrations: {text}")]
    if offline:
        return []
    status = await vector.status(live=True)
    findings: list[Finding] = []
    pending = list(status["pending"])
    if pending:
        findings.append(Finding("vector pending", f"vector pending: {_plural(len(pending), 'migration')} "
                                f"({', '.join(pending)})", tuple(pending)))
    for d in status["drifted"]:
        findings.append(Finding("vector drift", f"vector drift: {d['version']} edited since applied "
                                f"({Path(d['path']).name if d.get('path') else '?'})", (d["version"],)))
    for version in status["unknown_applied"]:
        findings.append(Finding("vector drift", f"vector drift: {version} applied but no file has it", (version,)))
    for u in status.get("unfinished", []):
        findings.append(Finding("vector drift", f"vector drift: {u['version']} {u['status']} part-way",
                                (u["version"],)))
    for line in status.get("live_drift", []):
        findings.append(Finding("vector drift", f"vector drift: {line}"))
    return findings


async def run_check(environment: Environment, relational: RelationalService, vector: VectorService | None, *,
                    offline: bool, vector_state: str = "skipped", drift: bool = False) -> CheckResult:
    """Every finding for ``environment``; ``vector`` is ``None`` when the vector side is skipped
    or not configured (``vector_state`` says which). ``drift`` (or ``verify: required``):
    compare the live schema even when the expected one must be built first."""
    limit = max_heads(environment)
    required = verify_required(environment)
    drift = drift or (not offline and required)
    findings, heads, current = await check_relational(relational, offline=offline, limit=limit, verify=required,
                                                      drift=drift)
    state = vector_state
    if vector is not None:
        findings += await check_vector(vector, offline=offline)
        state = "checked"
    return CheckResult(environment.name, offline, limit, heads, current, state, tuple(findings), required)
