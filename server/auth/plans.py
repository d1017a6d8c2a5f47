"""Payment plans: what each allows. The plan comes from the token's `plan` claim, else the profile.

| plan  | sessions per 30 days | report | comment threads | summary, summary threads |
| ----- | -------------------- | ------ | --------------- | ------------------------ |
| free  | 5                    | no     | no              | no                       |
| basic | 30                   | yes    | yes             | no                       |
| pro   | 500                  | yes    | yes             | yes                      |

A user with no plan, or a plan name not in this table, is on `free`: they can upload and read
their session details and data, and get the seed's "no valid plan" status for the gated
operations (404 for report and threads, 403 for the summary). Admins are not limited by plans.
The demo session is readable by every authenticated user whatever their plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Feature = Literal["report", "comment_threads", "summary", "summary_threads"]

LIMIT_WINDOW_DAYS = 30


@dataclass(frozen=True)
class Plan:
    name: str
    sessions_per_window: int
    features: frozenset[Feature]

    def allows(self, feature: Feature) -> bool:
        return feature in self.features


PLANS: dict[str, Plan] = {
    "free": Plan("free", 5, frozenset()),
    "basic": Plan("basic", 30, frozenset({"report", "comment_threads"})),
    "pro": Plan("pro", 500, frozenset({"report", "comment_threads", "summary", "summary_threads"})),
}
DEFAULT_PLAN = "free"
# Admins act for everyone (coaches, operators); plan checks do not apply to them.
ADMIN_PLAN = Plan("admin", 1_000_000, PLANS["pro"].features)


def resolve_plan(token_plan: str | None, profile_plan: str | None, *, admin: bool) -> Plan:
    """The plan in force: admin, else the token claim, else the profile, else free."""
    if admin:
        return ADMIN_PLAN
    for name in (token_plan, profile_plan):
        if name:
            return PLANS.get(name, PLANS[DEFAULT_PLAN])
    return PLANS[DEFAULT_PLAN]
