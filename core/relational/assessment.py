"""What migctl knows about a revision before it runs: its verify verdict and its lint findings.

Shared by ``verify`` (which produces verdicts), ``lint`` (findings), the plan (which carries
both per step) and the shells (which show them). Plain data: no database, no Alembic.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# Verdict states, as ``migctl verify`` prints them.
OK = "ok"
DOWNGRADE_FAILS = "downgrade fails"
DOWNGRADE_INCOMPLETE = "downgrade incomplete"
HALF_COMMITS = "not transactional, half-commits on failure"
UPGRADE_FAILS = "upgrade fails"
REUPGRADE_DIFFERS = "upgrade after downgrade differs"
STATES = (OK, DOWNGRADE_FAILS, DOWNGRADE_INCOMPLETE, HALF_COMMITS, UPGRADE_FAILS, REUPGRADE_DIFFERS)


@dataclass(frozen=True)
class Verdict:
    """The outcome of up/down/up of one revision on a throwaway database.

    ``sha256`` is the revision file's digest when it was verified: a verdict holds only for
    those bytes. ``server`` names what it was obtained on (``PostgreSQL 18.1 (embedded)``),
    since a PostgreSQL 15 target can behave differently from 18.
    """

    revision: str
    state: str
    detail: str = ""  # the database's error, or what differs after the downgrade
    sha256: str = ""
    server: str = ""
    seconds: float = 0.0
    at: str = ""  # ISO time of the walk

    @property
    def ok(self) -> bool:
        return self.state == OK

    @property
    def breaks_downgrade(self) -> bool:
        """A plan that downgrades through this revision is refused without --allow-broken."""
        # An upgrade that builds something else after the downgrade: the round trip is not
        # clean either way, so it counts against the downgrade.
        return self.state in (DOWNGRADE_FAILS, DOWNGRADE_INCOMPLETE, HALF_COMMITS, REUPGRADE_DIFFERS)

    @property
    def breaks_upgrade(self) -> bool:
        return self.state == UPGRADE_FAILS

    def breaks(self, direction: str) -> bool:
        return self.breaks_downgrade if direction == "down" else self.breaks_upgrade if direction == "up" else False

    @property
    def short(self) -> str:
        """The verdict in one word, for a table cell (``label`` has the whole of it)."""
        if self.breaks_upgrade:
            return "BROKEN-up"
        if self.state == DOWNGRADE_INCOMPLETE:
            return "incomplete-down"
        if self.breaks_downgrade:
            return "BROKEN-down"
        return "verified" if self.ok else self.state.split(" ")[0] + "?"

    def label(self, direction: str) -> str:
        """The per-step word a plan shows: ``verified``, ``BROKEN downgrade: …`` and so on."""
        if self.breaks(direction):
            kind = "incomplete downgrade" if self.state == DOWNGRADE_INCOMPLETE else (
                "BROKEN upgrade" if direction == "up" else "BROKEN downgrade")
            if self.state == HALF_COMMITS:
                kind = "BROKEN downgrade (half-commits)"
            elif self.state == REUPGRADE_DIFFERS:
                kind = "BROKEN downgrade (upgrade after it differs)"
            return f"{kind}: {self.detail}" if self.detail else kind
        if self.ok or (direction == "up" and self.state != UPGRADE_FAILS):
            return "verified"  # the upgrade ran clean on the scratch database
        # Not ok, though not in this direction (a revision whose upgrade failed on the scratch
        # database never had its downgrade run): say what is known, never "verified".
        return f"not verified: {self.state}" + (f" ({self.detail})" if self.detail else "")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


NOT_VERIFIED = "not verified"


def step_verdict_label(verdict: Verdict | None, direction: str) -> str:
    return NOT_VERIFIED if verdict is None else verdict.label(direction)


def _clipped(text: str, limit: int = 200) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), text)
    return line if len(line) <= limit else line[:limit] + "..."


def broken_refusal(action: str, broken: list[tuple[str, Verdict]], steps: Any = ()) -> str | None:
    """The one line that refuses ``action`` through ``broken`` (name, verdict) steps, or None."""
    if not broken:
        return None
    direction = {getattr(s, "version", None) or getattr(s, "revision", None): s.direction for s in steps}
    named = [f"{name} which is {_clipped(v.label(direction.get(name, 'down')))}"
             + (f" (verified on {v.server})" if v.server else "") for name, v in broken[:3]]
    more = f", and {len(broken) - 3} more broken step(s)" if len(broken) > 3 else ""
    return f"{action} through {', and '.join(named)}{more}; pass --allow-broken to run it anyway"


@dataclass(frozen=True)
class LintFinding:
    """One hazard in a step's SQL (squawk) or, where no SQL could be rendered, in its ``op.*``
    calls (``source="ast"``). ``rows``/``bytes`` are the live size of ``table`` when known."""

    rule: str
    message: str
    statement: str = ""
    table: str | None = None
    rows: int | None = None
    bytes: int | None = None
    accepted: bool = False  # listed under lint.ignore for this revision in the config
    source: str = "squawk"  # "squawk" or "ast"
    lock: str | None = None  # e.g. "ACCESS EXCLUSIVE", when the rule implies one

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
