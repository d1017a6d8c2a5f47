"""The rules engine behind report, summary and thread messages, as one replaceable object.

The default delegates to server.analysis.coaching (documented thresholds, no language model);
unit tests may pass a small fake to create_app.
"""

from __future__ import annotations

from typing import Any, Protocol


class Coach(Protocol):
    def report(self, document: dict[str, Any], units: str) -> dict[str, Any]: ...

    def summary(
        self, document: dict[str, Any], units: str, user_info: dict[str, Any]
    ) -> dict[str, Any]: ...

    def analysis_messages(self, document: dict[str, Any], units: str) -> dict[str, str]:
        """One opening message per metric (the seed's 12 metric keys)."""
        ...

    def summary_messages(self, document: dict[str, Any], units: str) -> dict[str, str]: ...


class RulesCoach:
    """server.analysis.coaching, imported on first use so the API starts without it."""

    def report(self, document: dict[str, Any], units: str) -> dict[str, Any]:
        from server.analysis import coaching

        return dict(coaching.build_report(document, units))

    def summary(
        self, document: dict[str, Any], units: str, user_info: dict[str, Any]
    ) -> dict[str, Any]:
        from server.analysis import coaching

        return dict(coaching.build_summary(document, units, user_info))

    def analysis_messages(self, document: dict[str, Any], units: str) -> dict[str, str]:
        from server.analysis import coaching

        return dict(coaching.analysis_thread_messages(document, units))

    def summary_messages(self, document: dict[str, Any], units: str) -> dict[str, str]:
        from server.analysis import coaching

        return dict(coaching.summary_thread_messages(document, units))
