"""`cargo-verify mock serve`: run the test world until interrupted.

Once ready it prints one JSON line on stdout with its URLs, so scripts can drive it without
reading this code: base, registry_index (sparse+http://…/index/), registry_api, rekor,
fulcio, oidc_issuer (POST {oidc_issuer}/mint with claims returns {"token": …}),
trust_config and trusted_root (paths of files written for CLI tools).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import tempfile
import threading
from datetime import datetime
from pathlib import Path

from cargo_verify.errors import UsageError
from cargo_verify.mock.clock import FixedClock
from cargo_verify.mock.world import DEFAULT_SEED, WorldOptions, serve_in_thread


def options_from_args(args: argparse.Namespace) -> WorldOptions:
    options = WorldOptions(
        seed=args.seed or DEFAULT_SEED,
        state_dir=Path(args.state) if args.state else None,
        publish_fixtures=not args.no_fixtures,
        evidence=args.evidence,
        bundle_kind=args.bundle_kind,
    )
    if args.fixtures:
        options.fixtures_dir = Path(args.fixtures)
    if args.clock:
        try:
            when = datetime.fromisoformat(args.clock.replace("Z", "+00:00"))
        except ValueError as exc:
            raise UsageError(f"--clock: not an RFC 3339 time: {args.clock}") from exc
        if when.tzinfo is None:
            raise UsageError("--clock: give a time zone, e.g. 2026-01-01T00:00:00Z")
        options.clock = FixedClock(when)
    return options


def run_serve(args: argparse.Namespace) -> int:
    running = serve_in_thread(options_from_args(args), port=args.port)
    # Absolute, so the printed paths work for a reader in another working directory.
    trust_dir = (
        Path(args.state).resolve() if args.state else Path(tempfile.mkdtemp(prefix="cv-world-"))
    )
    root_path, config_path = running.world.write_trust_files(trust_dir)
    urls = running.world.urls(config_path)
    urls["trusted_root"] = str(root_path)
    print(json.dumps(urls), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    running.stop()
    print("test world stopped", file=sys.stderr)
    return 0
