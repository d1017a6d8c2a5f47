"""The registered coaching rules, in the order of the lift, and the one place that runs them.

A rule is a pure function Session -> Finding | None (None: the rule does not apply). Adding a
rule means writing the function (rules_position.py, rules_timing.py) and listing it here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.analysis.coaching.findings import Finding
from server.analysis.coaching.rules_position import (
    bar_loop_away,
    catch_crash,
    early_arm_bend,
    incomplete_extension,
)
from server.analysis.coaching.rules_timing import (
    Rule,
    bar_path_type,
    peak_bar_velocity,
    phase_timing,
    slow_turnover,
)
from server.analysis.coaching.session import Session
from server.analysis.coaching.thresholds import JUDGED_PHASES

RULES: tuple[Rule, ...] = (
    early_arm_bend,
    *(phase_timing(phase) for phase in JUDGED_PHASES),
    incomplete_extension,
    bar_loop_away,
    peak_bar_velocity,
    bar_path_type,
    slow_turnover,
    catch_crash,
)


def run_rules(session: Session, rules: tuple[Rule, ...] = RULES) -> list[Finding]:
    """Every applicable rule's finding, in rule order."""
    return [f for f in (rule(session) for rule in rules) if f is not None]


def evaluate(document: Mapping[str, Any]) -> tuple[Session, list[Finding]]:
    """Read a session-data document and run every rule over it."""
    session = Session.from_document(document)
    return session, run_rules(session)
