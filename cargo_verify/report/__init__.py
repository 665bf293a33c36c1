"""Output formats: each renders a finished Report and never decides anything itself.

Adding a format is one enum member, one module and one branch in `reporter_for`.
The helpers below are shared by the machine-readable formats so that SARIF,
GitHub annotations and the step summary word a finding the same way.
"""

from __future__ import annotations

import enum
import importlib
from pathlib import Path
from typing import Any, Literal, Protocol, assert_never, cast

from cargo_verify.model import Code, Report, Status, Verdict

__all__ = [
    "Format",
    "Reporter",
    "finding_detail",
    "finding_level",
    "finding_message",
    "lockfile_path",
    "reporter_for",
]

# Codes whose reason is about the signer: name both sides even if the reason does not.
_IDENTITY_CODES = frozenset({Code.IDENTITY_MISMATCH, Code.IDENTITY_CHANGED})


class Format(enum.StrEnum):
    HUMAN = "human"
    JSON = "json"
    SARIF = "sarif"
    GITHUB = "github"


class Reporter(Protocol):
    def render(self, report: Report) -> str:
        """The whole output for one report, ready to write as is."""
        ...


def reporter_for(fmt: Format, **options: Any) -> Reporter:
    """The reporter for `fmt`, built with `options` (e.g. `root=Path(...)` for sarif/github)."""
    if fmt is Format.HUMAN:
        # Imported by name so this module works before (and without importing) rich.
        human = importlib.import_module("cargo_verify.report.human")
        return cast(Reporter, human.HumanReporter(**options))
    if fmt is Format.JSON:
        from cargo_verify.report.json import JsonReporter

        return JsonReporter(**options)
    if fmt is Format.SARIF:
        from cargo_verify.report.sarif import SarifReporter

        return SarifReporter(**options)
    if fmt is Format.GITHUB:
        from cargo_verify.report.github import GithubReporter

        return GithubReporter(**options)
    assert_never(fmt)


def finding_level(verdict: Verdict) -> Literal["error", "warning"] | None:
    """How loudly a verdict must be reported: failures are errors, `warn` unsigned warnings."""
    if verdict.status is Status.FAILED:
        return "error"
    if verdict.warning:
        return "warning"
    return None


def finding_message(verdict: Verdict) -> str:
    """One sentence naming the package, what was expected and what was found."""
    package = verdict.package
    return f"{package.name} {package.version}: {finding_detail(verdict)}"


def finding_detail(verdict: Verdict) -> str:
    """The reason, with the expected and found signer added where the reason omits them."""
    text = verdict.reason or (verdict.code.description if verdict.code else str(verdict.status))
    if verdict.code in _IDENTITY_CODES:
        if verdict.policy and verdict.policy not in text:
            text += f"; expected {verdict.policy}"
        if verdict.identity and verdict.identity not in text:
            text += f"; found {verdict.identity}"
    return text


def lockfile_path(report: Report, root: Path | None) -> str | None:
    """The lockfile as a forward-slash path relative to `root`, when it lies inside it.

    Without `root` the path is returned as given. A lockfile outside `root` keeps its
    absolute path, so annotations never point at a `../` path the repository lacks.
    """
    if report.lockfile is None:
        return None
    path = Path(report.lockfile)
    if root is None:
        return path.as_posix()
    absolute = path.resolve()
    try:
        return absolute.relative_to(root.resolve()).as_posix()
    except ValueError:
        return absolute.as_posix()
