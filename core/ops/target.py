"""What an operation spanning both sides needs from the environment it acts on.

``migctl.core.api.Migctl`` satisfies it; the operations depend on this protocol rather than on
the front door, which sits above them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from migctl.core.config import Environment
    from migctl.core.events import EventSink
    from migctl.core.relational.plan import Plan
    from migctl.core.relational.service import RelationalService
    from migctl.core.vector.service import VectorService


class Target(Protocol):
    environment: Environment
    url: str
    lock_timeout: float
    relational: RelationalService

    @property
    def sink(self) -> EventSink: ...

    @property
    def vector(self) -> VectorService: ...

    @property
    def vector_configured(self) -> bool: ...

    async def plan_upgrade(self, target: str = "heads", with_sql: bool = True) -> Plan: ...

    async def record_refusal(self, action: str, target: str | None, reason: str) -> None: ...
