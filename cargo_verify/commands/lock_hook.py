"""`cargo-verify lock-hook CANDIDATE [--lock mochi.lock]`: install a candidate lock only if
every entry verifies and matches the evidence it records; otherwise leave the old lock as it was.

Exit codes: 0 accepted (lock replaced or already identical), 1 refused, 2 unreadable or invalid
candidate, 3 refused because some entry could not be checked (network, registry, Rekor).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cargo_verify.lock_api import run_lock_hook, settings_for
from cargo_verify.report.human import HumanReporter, ProgressDisplay


def _entry_count(candidate: Path) -> int:
    try:
        return candidate.read_bytes().count(b"[[package]]")
    except OSError:
        return 0


def run(args: argparse.Namespace) -> int:
    candidate = Path(args.candidate)
    lock = Path(args.lock)
    settings = settings_for(
        lock.parent,
        trusted_root=args.trusted_root,
        offline=args.offline,
        unsigned=args.unsigned,
        use_caches=True,
    )
    human = args.format == "human"
    with ProgressDisplay(_entry_count(candidate) if human else 0) as progress:
        result = run_lock_hook(
            candidate,
            lock,
            manifest=Path(args.mochi_toml) if args.mochi_toml else None,
            settings=settings,
            progress=progress,
        )
    if not human:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
        return result.exit_code
    sys.stdout.write(HumanReporter(verbose=True).render(result.report))
    if result.accepted:
        state = "updated" if result.changed else "already identical, not rewritten"
        print(f"lock accepted: {lock} {state}")
    else:
        print(f"lock refused: {lock} left unchanged", file=sys.stderr)
    return result.exit_code
