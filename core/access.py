"""Who is looking, and what their role lets them see and do (issue 19).

One home for the role rules; the dashboards' sign-in (dashboards/auth.py) produces a `Viewer`,
every page and export asks it what to show, and every action written to the ops store carries its
`username`.

Roles:
- cfo, controller: every customer, every page, may act (worklist, cash application);
- collector: only the customers assigned to their `collector_id`, on every page and export;
  may act on those customers only;
- analyst: every customer, read-only (no actions);
- admin: every customer, may act, manages users and reads the audit page.
"""

from dataclasses import dataclass

ROLES = ("cfo", "controller", "collector", "analyst", "admin")


@dataclass(frozen=True)
class Viewer:
    username: str
    display_name: str
    role: str
    collector_id: str | None = None  # required for role "collector", None otherwise

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"user {self.username!r}: unknown role {self.role!r} (one of {', '.join(ROLES)})")
        if (self.role == "collector") != bool(self.collector_id):
            raise ValueError(f"user {self.username!r}: a collector_id is required for, and only for, role collector")

    @property
    def sees_all_customers(self) -> bool:
        return self.role != "collector"

    @property
    def may_act(self) -> bool:
        """May save worklist actions and manual cash applications."""
        return self.role != "analyst"

    @property
    def reads_audit(self) -> bool:
        return self.role in ("admin", "cfo", "controller")
