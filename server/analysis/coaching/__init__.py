"""Coaching rules engine: the lift analysis report, session summary and thread messages.

Deterministic rules with documented thresholds (thresholds.py) over the session-data document;
no language model. The REST API calls exactly these four functions.
"""

from __future__ import annotations

from server.analysis.coaching.messages import analysis_thread_messages
from server.analysis.coaching.report import build_report
from server.analysis.coaching.session import METRIC_GROUPS
from server.analysis.coaching.summary import (
    SUMMARY_TOPICS,
    build_summary,
    summary_thread_messages,
)

METRIC_KEYS: tuple[str, ...] = tuple(METRIC_GROUPS)

__all__ = [
    "METRIC_KEYS",
    "SUMMARY_TOPICS",
    "analysis_thread_messages",
    "build_report",
    "build_summary",
    "summary_thread_messages",
]
