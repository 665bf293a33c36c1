"""`cargo-verify add NAME[@REQ]`: resolve, download and verify a crate, then record it.

The human output is the lock-time display of design §2, on stdout; while the .crate
downloads, a rich progress bar runs on stderr when stderr is a terminal. Nothing is written
unless the crate passed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from cargo_verify.errors import UsageError
from cargo_verify.lock_api import (
    AddProgress,
    AddResult,
    CrateResult,
    Resolution,
    add_crate,
    parse_spec,
    settings_for,
)
from cargo_verify.model import Code, Status

INDENT = " " * 6
_HTTP_URL = re.compile(r"https?://[^\s/]+(?:/\S*)?")


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{round(size / 1024)} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"


class StepDisplay(AddProgress):
    """Prints the four steps; shows a download bar on `err` when it is a terminal."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out = out
        self.err = err
        self.name = ""
        self._bar: Any = None
        self._task: Any = None
        self._verifying_shown = False

    def _print(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def resolved(self, resolution: Resolution) -> None:
        self.name = f"{resolution.name}@{resolution.version}"
        note = ""
        if resolution.skipped_yanked:
            note = f" (skipped yanked {', '.join(resolution.skipped_yanked)})"
        self._print(f"[1/4] Resolving versions ... {self.name}{note}")

    def downloading(self, url: str, received: int, done: bool) -> None:
        if not done:
            self._bar_update(url, received)
            return
        self._bar_stop()
        self._print(f"[2/4] Downloading .crate from {_origin(url)} ... {human_size(received)}")
        self._verifying()

    def _bar_update(self, url: str, received: int) -> None:
        if not self.err.isatty():
            return
        if self._bar is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TransferSpeedColumn,
            )

            self._bar = Progress(
                TextColumn(f"downloading {self.name}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=Console(file=self.err),
                transient=True,
            )
            self._task = self._bar.add_task("download", total=None)
            self._bar.start()
        self._bar.update(self._task, completed=received)

    def _bar_stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def _verifying(self) -> None:
        if not self._verifying_shown:
            self._verifying_shown = True
            self._print("[3/4] Verifying Sigstore bundle ...")

    def verified(self, result: CrateResult) -> None:
        self._bar_stop()
        self._verifying()
        if result.rekor_log_index is not None:
            self._print(f"{INDENT}Rekor index: {result.rekor_log_index}")
        elif result.status is Status.UNSIGNED or result.code in (Code.UNSIGNED,
                                                                  Code.UNSIGNED_WITH_TRUST):
            self._print(f"{INDENT}Rekor index: none (no Sigstore evidence)")
        if result.identity is not None:
            form = ""
            if result.matched_form and result.matched_form != "san":
                form = f"  [trust subject matched the {result.matched_form} form]"
            self._print(f"{INDENT}Fulcio cert SAN: {result.identity}{form}")
        if result.policy is not None:
            self._print(f"{INDENT}Trust policy: {result.policy}")
        if result.status is Status.VERIFIED:
            self._print(f"{INDENT}Verification: OK")
        elif result.status is Status.UNSIGNED:
            self._print(f"{INDENT}Verification: UNSIGNED (allowed: {result.reason})")
        else:
            self._print(f"{INDENT}Verification: FAILED [{result.code}]")
            if result.code in (Code.IDENTITY_MISMATCH, Code.IDENTITY_CHANGED):
                self._print(f"{INDENT}  expected: {result.policy}")
                self._print(f"{INDENT}  found:    issuer {result.issuer}, SAN {result.identity}")
            self._print(f"{INDENT}  {result.reason}")

    def recorded(self, result: AddResult) -> None:
        crate = result.crate
        self._print(
            f"[4/4] Recording ... {result.manifest}: [rust-dependencies.{crate.name}] "
            f"version = \"{result.manifest_requirement}\"; {result.lock}: "
            f"{crate.name} {crate.version}"
        )


def _trust(args: argparse.Namespace) -> dict[str, str] | None:
    trust: dict[str, str] = {}
    if args.trust_issuer:
        if not _HTTP_URL.fullmatch(args.trust_issuer):
            raise UsageError(f"--trust-issuer must be an http(s) URL (the OIDC issuer), "
                             f"found {args.trust_issuer!r}")
        trust["issuer"] = args.trust_issuer
    if args.trust_subject:
        trust["subject"] = args.trust_subject
    return trust or None


def run(args: argparse.Namespace) -> int:
    name, requirement = parse_spec(args.spec)
    manifest = Path(args.mochi_toml)
    settings = settings_for(
        manifest.parent,
        trusted_root=args.trusted_root,
        offline=args.offline,
        unsigned=args.unsigned,
    )
    human = args.format == "human"
    progress = StepDisplay(sys.stdout, sys.stderr) if human else AddProgress()
    result = add_crate(
        name,
        requirement,
        manifest=manifest,
        lock=Path(args.lock) if args.lock else None,
        registry=args.registry,
        trust=_trust(args),
        settings=settings,
        progress=progress,
        accept_identity=(name,) if args.accept_identity else (),
    )
    if not human:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
    if result.crate.status is Status.UNSIGNED and result.crate.verdict.warning:
        print(f"cargo-verify: warning: {result.crate.reason}", file=sys.stderr)
    if not result.written:
        print(
            f"cargo-verify: error: {result.crate.name}@{result.crate.version} did not verify; "
            f"{result.manifest} and {result.lock} were not changed",
            file=sys.stderr,
        )
    return result.exit_code
