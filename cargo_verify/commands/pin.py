"""`cargo-verify pin`: verify the lockfile and record who signed each crate.

`pin` is `check --update-pins` that also creates the record on first use and, in a git work
tree, marks it `merge=union` in `.gitattributes`. `apply_record` is the step `check` runs after
verification: it reads `cargo-verify-pins.toml` next to the lockfile, fails crates whose signer
changed or that lost their signature, and writes the record only when asked
(`--update-pins`, `--accept-identity`, or `pin`). Notes go to stderr, so JSON and SARIF on
stdout stay clean.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cargo_verify.commands.check import CheckPlan
from cargo_verify.model import Report
from cargo_verify.pin_record import RECORD_FILE_NAME, record_path_for
from cargo_verify.pinning import PinOutcome, PinState, check_pins

UNION_LINE = f"/{RECORD_FILE_NAME} merge=union"


def run(args: argparse.Namespace) -> int:
    from cargo_verify.commands.check import run_check

    args.update_pins = True
    args.add_gitattributes = not args.no_gitattributes
    return run_check(args)


def apply_record(report: Report, plan: CheckPlan, args: argparse.Namespace) -> Report:
    """Identity pinning over a finished report (see `pinning.py`); may write the record."""
    accepted: list[str] = list(getattr(args, "accept_identity", None) or [])
    asked = bool(getattr(args, "update_pins", False))
    update = asked or bool(accepted)
    path = record_path_for(plan.lockfile)
    outcome = check_pins(report, path, accepted, rule_for=plan.policies.rule_for,
                         create=asked)
    for name in outcome.unused_accepts:
        _note(f"--accept-identity {name}: nothing to approve (no changed signer for it)")
    if outcome.after is None:
        return report
    if update:
        created = outcome.before is None
        if outcome.write():
            _note(f"{'created' if created else 'updated'} {path} ({_summary(outcome)})")
        if created and getattr(args, "add_gitattributes", False):
            _mark_union_merge(path)
    elif outcome.learned:
        _note(f"{len(outcome.learned)} crate(s) not in {path.name} yet: "
              "`cargo-verify pin` records them")
    return outcome.report


def _summary(outcome: PinOutcome) -> str:
    after = outcome.after
    assert after is not None
    parts = [f"{len(after.crates)} crate(s) pinned"]
    if outcome.learned:
        parts.append(f"{len(outcome.learned)} new")
    if outcome.count(PinState.ACCEPTED):
        parts.append(f"{outcome.count(PinState.ACCEPTED)} approved change(s)")
    return ", ".join(parts)


def _note(text: str) -> None:
    print(f"cargo-verify: {text}", file=sys.stderr)


def _mark_union_merge(record: Path) -> None:
    """In a git work tree, let git merge the record line by line (docs/identity-pinning.md)."""
    directory = record.parent.resolve()
    if not any((d / ".git").exists() for d in (directory, *directory.parents)):
        return
    attributes = directory / ".gitattributes"
    try:
        text = attributes.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    if RECORD_FILE_NAME in text:
        return
    from cargo_verify.atomic import atomic_write

    prefix = "" if not text or text.endswith("\n") else "\n"
    atomic_write(attributes, (text + prefix + UNION_LINE + "\n").encode("utf-8"))
    _note(f"added `{UNION_LINE}` to {attributes}")
