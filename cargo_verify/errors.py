"""One error root; each error knows its exit code and explains itself."""

from __future__ import annotations

from pathlib import Path


class CargoVerifyError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code = 2

    def diagnostics(self) -> str:
        return str(self)


class UsageError(CargoVerifyError):
    """A bad flag or argument combination (exit 2)."""

    exit_code = 2


class ConfigError(CargoVerifyError):
    """Malformed or invalid input file: TOML, lockfile, trust entry (exit 2)."""

    exit_code = 2

    def __init__(self, message: str, file: Path | str | None = None, line: int | None = None):
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        super().__init__(self.diagnostics())

    def diagnostics(self) -> str:
        if self.file is None:
            return self.message
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


class InfraError(CargoVerifyError):
    """Network, registry or Rekor failure that prevented a verdict (exit 3)."""

    exit_code = 3
