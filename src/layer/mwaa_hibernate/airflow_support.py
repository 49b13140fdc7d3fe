"""Which Airflow versions MWAA still creates environments on, with dates and sources (docs/design.md, invariant 8).

MWAA refuses to create an environment on a version past its end of support, so an environment hibernated on
such a version could never be woken. The hibernation warns from `WARN_DAYS` before the date (an alert, and it
proceeds) and refuses on and after it (the environment is kept, and the alert says to upgrade it first).

Keep this table current: AWS lists each version's end-of-support date on
https://docs.aws.amazon.com/mwaa/latest/userguide/airflow-versions.html. A version absent from the table has no
end of support announced as of `CHECKED`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

CHECKED = date(2026, 12, 5)
WARN_DAYS = 90
VERSIONS_PAGE = "https://docs.aws.amazon.com/mwaa/latest/userguide/airflow-versions.html"
CREATE_API = "https://docs.aws.amazon.com/mwaa/latest/API/API_CreateEnvironment.html"

# version -> (the last day MWAA supports it, where that is published). No date: no longer accepted at all.
END_OF_SUPPORT: dict[str, tuple[date | None, str]] = {
    "1.10.12": (None, f"{CREATE_API} (no longer among AirflowVersion's valid values)"),
    "2.0.2": (None, f"{CREATE_API} (no longer among AirflowVersion's valid values)"),
    "2.2.2": (None, f"{CREATE_API} (no longer among AirflowVersion's valid values)"),
    "2.4.3": (date(2025, 12, 30), VERSIONS_PAGE),
    "2.5.1": (date(2025, 12, 30), VERSIONS_PAGE),
    "2.6.3": (date(2025, 12, 30), VERSIONS_PAGE),
}


@dataclass(frozen=True)
class Support:
    """Whether MWAA will still create an environment on a version on a given day, in words for a person."""

    creatable: bool
    warning: str | None = None
    reason: str | None = None


def support(version: str, today: date) -> Support:
    entry = END_OF_SUPPORT.get(version)
    if entry is None:
        return Support(creatable=True)
    ends, source = entry
    upgrade = (
        "Upgrade the environment to a supported Airflow version (MWAA upgrades minor versions in place), then "
        "hibernate again."
    )
    if ends is None or today >= ends:
        when = "is no longer supported" if ends is None else f"reached its end of support on {ends.isoformat()}"
        return Support(
            creatable=False,
            reason=f"Airflow {version} {when} on Amazon MWAA ({source}): MWAA would refuse to recreate the "
            f"environment after deleting it. {upgrade}",
        )
    if (ends - today).days <= WARN_DAYS:
        return Support(
            creatable=True,
            warning=f"Airflow {version} reaches its end of support on Amazon MWAA on {ends.isoformat()} "
            f"({source}); from that day MWAA refuses to create environments on it, and this stack refuses to "
            f"hibernate the environment. {upgrade}",
        )
    return Support(creatable=True)
