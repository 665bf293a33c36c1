"""`cargo-verify suggest`: print the trust entries that would pin what the record learned.

`--style mochi` prints `[rust-dependencies.NAME]` tables for mochi.toml (when a mochi.toml is
found, only for its dependencies, keeping their `version`, and skipping those that already
have a trust entry; the other crates follow as cargo config tables, since a mochi.toml entry
would make them dependencies). `--style cargo` prints `[sigstore.trust.NAME]` tables for
`.cargo/config.toml`, one per pinned crate. Nothing is written: review, then paste.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cargo_verify.config import crate_key
from cargo_verify.errors import UsageError
from cargo_verify.manifest import MochiManifest, RustDependency, read_manifest
from cargo_verify.pin_record import CratePin, PinRecord, read_record, record_path_for

_BARE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def run(args: argparse.Namespace) -> int:
    lockfile = Path(args.lockfile) if args.lockfile else Path("Cargo.lock")
    path = record_path_for(lockfile)
    record = read_record(path)
    if record is None:
        raise UsageError(f"no identity record at {path}: run `cargo-verify pin` first")
    manifest_path = Path(args.mochi_toml) if args.mochi_toml else lockfile.parent / "mochi.toml"
    manifest = None
    if args.style == "mochi" and manifest_path.is_file():
        manifest = read_manifest(manifest_path, str(manifest_path))
    elif args.mochi_toml and not manifest_path.is_file():
        raise UsageError(f"mochi.toml not found: {manifest_path}")
    if args.style == "cargo":
        text = cargo_entries(record, path.name)
    else:
        text = mochi_entries(record, path.name, manifest)
    sys.stdout.write(text)
    return 0


def _key(name: str) -> str:
    return name if name and set(name) <= _BARE else _string(name)


def _string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _inline(pin: CratePin) -> str:
    items = ", ".join(f"{k} = {_string(v)}" for k, v in pin.current.signer.trust_entry().items())
    return f"{{ {items} }}"


def _cargo_table(pin: CratePin) -> str:
    lines = [f"[sigstore.trust.{_key(pin.name)}]"]
    lines.extend(f"{k} = {_string(v)}" for k, v in pin.current.signer.trust_entry().items())
    return "\n".join(lines) + "\n"


def _pins(record: PinRecord) -> list[CratePin]:
    return sorted(record.crates.values(), key=lambda p: crate_key(p.name))


def cargo_entries(record: PinRecord, source: str) -> str:
    parts = [f"# .cargo/config.toml: trust entries that pin what {source} learned.\n"]
    parts.extend("\n" + _cargo_table(pin) for pin in _pins(record))
    return "".join(parts)


def mochi_entries(record: PinRecord, source: str, manifest: MochiManifest | None) -> str:
    parts = [f"# mochi.toml: trust entries that pin what {source} learned.\n"]
    if manifest is None:
        for pin in _pins(record):
            parts.append(f"\n[rust-dependencies.{_key(pin.name)}]\ntrust = {_inline(pin)}\n")
        return "".join(parts)
    by_crate: dict[str, RustDependency] = {
        crate_key(d.crate): d for d in manifest.dependencies.values()
    }
    others: list[CratePin] = []
    already = 0
    for pin in _pins(record):
        dependency = by_crate.get(crate_key(pin.name))
        if dependency is None:
            others.append(pin)
            continue
        if dependency.trust is not None:
            already += 1
            continue
        lines = [f"\n[rust-dependencies.{_key(dependency.name)}]"]
        if dependency.version is not None:
            lines.append(f"version = {_string(dependency.version)}")
        if dependency.name != dependency.crate:
            lines.append(f"package = {_string(dependency.crate)}")
        lines.append(f"trust = {_inline(pin)}")
        parts.append("\n".join(lines) + "\n")
    if already:
        parts.append(f"\n# {already} dependencies already have a trust entry in "
                     f"{manifest.path}; left as they are.\n")
    if others:
        parts.append("\n# Crates that are not dependencies in mochi.toml (e.g. transitive): "
                     "their trust entries\n# belong in .cargo/config.toml.\n")
        parts.extend("\n" + _cargo_table(pin) for pin in others)
    return "".join(parts)
