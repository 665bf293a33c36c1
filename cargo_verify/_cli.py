"""Command line: check | bundle | add | lock-hook | pin | suggest | mock serve | demo.

Only this module prints final results and exits; exit codes follow design §3.4:
0 all required packages verified, 1 a package failed, 2 usage/configuration error,
3 infrastructure failure that prevented a verdict.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cargo_verify import __version__
from cargo_verify.errors import CargoVerifyError, UsageError

SUBCOMMANDS = ("check", "bundle", "add", "lock-hook", "pin", "suggest", "mock", "demo")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def _add_trust_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trusted-root",
        metavar="FILE",
        help="Sigstore trusted_root.json or ClientTrustConfig JSON "
        "(default: the Sigstore public-good instance over TUF)",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        default=None,
        help="never touch the network for trust material (cached/embedded root only)",
    )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0: {text!r}")
    return value


def _add_check_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lockfile", metavar="PATH", help="Cargo.lock to verify (default: ./Cargo.lock)"
    )
    parser.add_argument(
        "--format", choices=("human", "json", "sarif", "github"), default="human",
        help="output format (default: human)",
    )
    parser.add_argument("--output", metavar="FILE", help="write the formatted report to FILE; "
                        "the human report still goes to the terminal")
    parser.add_argument("--jobs", type=int, metavar="N", help="verification worker processes "
                        "(default: one per core)")
    parser.add_argument(
        "--unsigned", choices=("deny", "warn", "allow"),
        help="what to do with a crate that has no Sigstore evidence (default: warn)",
    )
    parser.add_argument("--rekor-url", metavar="URL", help="Rekor instance for log lookups")
    parser.add_argument("--rekor-search", action="store_true", default=None,
                        help="look unsigned crates up in Rekor by sha256 (opt-in)")
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="directory of the verification cache and the evidence store")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the "
                        "verification cache or the evidence store")
    parser.add_argument("--mochi-toml", metavar="PATH",
                        help="mochi.toml with trust entries (default: next to the lockfile)")
    parser.add_argument("--accept-identity", metavar="NAME", action="append", default=[],
                        help="approve a changed signer identity for crate NAME (repeatable)")
    parser.add_argument("--timeout", type=_seconds, metavar="SECONDS",
                        help="overall deadline: packages without a verdict by then fail as "
                        "infrastructure errors (exit 3); 0 = none (default: 900)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only problems and the summary")
    _add_trust_options(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cargo-verify", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--version", action="version", version=f"cargo-verify {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    check = sub.add_parser("check", help="verify every registry package of a Cargo.lock")
    _add_check_options(check)
    check.add_argument("--update-pins", action="store_true",
                       help="write what this run learned to cargo-verify-pins.toml "
                       "(default: only read it)")
    check.add_argument(
        "lockfiles", nargs="*", metavar="LOCKFILE",
        help="Cargo.lock files to verify, with --lockfile (several: each is checked, "
        "the worst exit code wins; how pre-commit passes staged lockfiles)",
    )

    bundle = sub.add_parser("bundle", help="verify one artifact against one Sigstore bundle")
    bundle.add_argument("artifact", help="artifact file, or sha256:<hex> of it")
    bundle.add_argument("--bundle", required=True, metavar="FILE")
    bundle.add_argument("--issuer", metavar="URL", help="required OIDC issuer")
    bundle.add_argument("--subject", metavar="GLOB", help="required identity (SAN or repo:… form)")
    bundle.add_argument("--format", choices=("human", "json"), default="human")
    _add_trust_options(bundle)

    add = sub.add_parser("add", help="resolve, download, verify and record a crate (Mochi)")
    add.add_argument("spec", metavar="NAME[@REQ]")
    add.add_argument("--trust-issuer", metavar="URL")
    add.add_argument("--trust-subject", metavar="GLOB")
    add.add_argument("--mochi-toml", metavar="PATH", default="mochi.toml")
    add.add_argument("--registry", metavar="INDEX_URL", help="sparse index URL (default: crates.io "
                     "or the registry configured in cargo config)")
    add.add_argument("--unsigned", choices=("deny", "warn", "allow"))
    add.add_argument("--accept-identity", action="store_true",
                     help="approve a signer identity that differs from the pinned one")
    add.add_argument("--lock", metavar="PATH",
                     help="the lock to update (default: mochi.lock next to mochi.toml)")
    add.add_argument("--format", choices=("human", "json"), default="human",
                     help="human: the four steps; json: one object like `check --format json`")
    _add_trust_options(add)

    hook = sub.add_parser("lock-hook", help="verify a candidate mochi.lock and replace the old one "
                          "only if every entry verifies")
    hook.add_argument("candidate", help="candidate lock file")
    hook.add_argument("--lock", default="mochi.lock",
                      help="the lock to replace (default mochi.lock)")
    hook.add_argument("--mochi-toml", metavar="PATH",
                      help="trust entries (default: mochi.toml next to the lock, if present)")
    hook.add_argument("--unsigned", choices=("deny", "warn", "allow"))
    hook.add_argument("--format", choices=("human", "json"), default="human")
    _add_trust_options(hook)

    pin = sub.add_parser("pin", help="record the signer identities of the current lockfile "
                         "in cargo-verify-pins.toml")
    _add_check_options(pin)
    pin.add_argument("--no-gitattributes", action="store_true",
                     help="do not add `merge=union` for the record to .gitattributes")
    suggest = sub.add_parser("suggest", help="print trust entries for what the record learned")
    suggest.add_argument("--lockfile", metavar="PATH",
                         help="the lockfile whose record to read (default: ./Cargo.lock)")
    suggest.add_argument("--style", choices=("mochi", "cargo"), default="mochi",
                         help="mochi.toml [rust-dependencies] entries, or cargo config "
                         "[sigstore.trust.NAME] tables")
    suggest.add_argument("--mochi-toml", metavar="PATH",
                         help="limit mochi entries to its dependencies (default: next to the "
                         "lockfile, if present)")

    mock = sub.add_parser("mock", help="the local Sigstore + registry test world")
    mock_sub = mock.add_subparsers(dest="mock_command", parser_class=_Parser)
    serve = mock_sub.add_parser("serve", help="serve the test world on 127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    serve.add_argument("--state", metavar="DIR", help="keep log, index and keys in DIR")
    serve.add_argument("--seed", default=None, help="seed for all keys (default: fixed)")
    serve.add_argument("--clock", metavar="RFC3339", help="freeze the clock at this instant")
    serve.add_argument("--no-fixtures", action="store_true", help="do not publish fixture crates")
    serve.add_argument("--fixtures", metavar="DIR", help="fixture crates directory")
    serve.add_argument("--evidence", choices=("rekor", "bundle", "both", "none"), default="both")
    serve.add_argument("--bundle-kind", choices=("message", "dsse"), default="message")

    demo = sub.add_parser("demo", help="run the main job on the embedded test world")
    demo.add_argument("--keep", metavar="DIR", help="keep the demo project in DIR")
    return parser


def _normalize_argv(argv: list[str]) -> list[str]:
    """`cargo verify ARGS` runs `cargo-verify verify ARGS`: treat it as `check ARGS`."""
    if argv and argv[0] == "verify":
        argv = argv[1:]
        if not argv or argv[0] not in SUBCOMMANDS:
            argv = ["check", *argv]
    elif not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["check", *argv]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    args_list = _normalize_argv(list(sys.argv[1:] if argv is None else argv))
    try:
        args = build_parser().parse_args(args_list)
        return _dispatch(args)
    except CargoVerifyError as exc:
        print(f"cargo-verify: error: {exc.diagnostics()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("cargo-verify: interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    command = args.command
    if command == "check":
        from cargo_verify.commands.check import run_check

        return run_check(args)
    if command == "bundle":
        from cargo_verify.commands.bundle import run_bundle

        return run_bundle(args)
    if command == "mock":
        if args.mock_command != "serve":
            raise UsageError("cargo-verify mock: expected `serve`")
        from cargo_verify.mock.serve import run_serve

        return run_serve(args)
    if command == "demo":
        from cargo_verify.commands.demo import run_demo

        return run_demo(args)
    if command in ("add", "lock-hook", "pin", "suggest"):
        import importlib

        module = importlib.import_module(f"cargo_verify.commands.{command.replace('-', '_')}")
        return int(module.run(args))
    build_parser().print_help(sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
