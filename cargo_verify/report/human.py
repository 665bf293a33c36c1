"""The report a person reads: one line per package, then the problems, then a summary."""

from __future__ import annotations

from typing import Any

from cargo_verify.model import Report, Status, Verdict

_MARK = {
    Status.VERIFIED: "ok",
    Status.FAILED: "FAIL",
    Status.UNSIGNED: "unsigned",
    Status.SKIPPED: "skipped",
}


def _package_line(verdict: Verdict, width: int) -> str:
    label = f"{verdict.package.name} {verdict.package.version}".ljust(width)
    mark = _MARK[verdict.status].ljust(8)
    if verdict.status is Status.VERIFIED:
        where = f"rekor #{verdict.rekor_log_index}" if verdict.rekor_log_index is not None else ""
        form = f" [{verdict.matched_form}]" if verdict.matched_form else ""
        return (
            f"  {mark} {label} {where} {verdict.identity}{form}\n"
            f"  {'':8} {'':{width}} issuer {verdict.issuer}; policy: {verdict.policy}"
        )
    if verdict.status is Status.SKIPPED:
        return f"  {mark} {label} {verdict.reason}"
    if verdict.status is Status.UNSIGNED:
        return f"  {mark} {label} {verdict.reason}"
    return f"  {mark} {label} [{verdict.code}]"


class HumanReporter:
    def __init__(self, verbose: bool = True, **_: Any) -> None:
        self.verbose = verbose

    def render(self, report: Report) -> str:
        lines: list[str] = []
        verdicts = report.verdicts
        width = max((len(f"{v.package.name} {v.package.version}") for v in verdicts), default=0)
        if report.lockfile:
            lines.append(f"cargo-verify: {report.lockfile}")
        if self.verbose:
            lines.extend(_package_line(v, width) for v in verdicts)
        problems = [v for v in verdicts if v.status is Status.FAILED]
        warnings = [v for v in verdicts if v.status is Status.UNSIGNED and v.warning]
        if problems:
            lines.append("")
            lines.append(f"{len(problems)} problem(s):")
            for verdict in problems:
                lines.append(f"  error[{verdict.code}]: {verdict.reason}")
        if warnings:
            lines.append("")
            lines.append(f"{len(warnings)} warning(s):")
            for verdict in warnings:
                lines.append(f"  warning[{verdict.code}]: {verdict.reason}")
        lines.extend(f"  error: {message}" for message in report.infra_errors)
        s = report.summary
        lines.append("")
        verdict_word = {0: "OK", 1: "FAILED", 3: "INCOMPLETE"}.get(report.exit_code, "FAILED")
        lines.append(
            f"{verdict_word}: {s['verified']} verified, {s['unsigned']} unsigned, "
            f"{s['skipped']} skipped, {s['failed']} failed"
            + (
                f" ({s['infrastructure_errors']} without a verdict)"
                if s["infrastructure_errors"]
                else ""
            )
        )
        return "\n".join(lines) + "\n"


class ProgressDisplay:
    """A rich progress bar on stderr while packages are checked (only on a terminal)."""

    def __init__(self, total: int) -> None:
        import sys

        self._progress: Any = None
        self._task: Any = None
        if total and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("verifying"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
                console=Console(stderr=True),
                transient=True,
            )
            self._task = self._progress.add_task("", total=total)

    def __enter__(self) -> ProgressDisplay:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, event: str, verdict: Verdict | None) -> None:
        if self._progress is not None and verdict is not None:
            self._progress.update(
                self._task,
                advance=1,
                description=f"{verdict.package.name} {verdict.package.version}",
            )
