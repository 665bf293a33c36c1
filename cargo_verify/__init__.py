"""cargo-verify: verify the crates of a Cargo.lock against Sigstore evidence."""

from cargo_verify.api import verify_lockfile
from cargo_verify.errors import CargoVerifyError, ConfigError, InfraError, UsageError
from cargo_verify.model import Code, Package, Report, Status, TrustRule, Verdict

__version__ = "0.1.0"

__all__ = [
    "CargoVerifyError",
    "Code",
    "ConfigError",
    "InfraError",
    "Package",
    "Report",
    "Status",
    "TrustRule",
    "UsageError",
    "Verdict",
    "__version__",
    "verify_lockfile",
]
