"""The local test world: OIDC issuer, Fulcio-shaped CA, Rekor-shaped log and a registry.

`World` holds the state; `mock/app.py` serves it over HTTP; `serve_in_thread` runs it on a
free 127.0.0.1 port for tests and demos. Everything is derived from a seed and a clock, so
the same seed and clock give byte-identical certificates, log entries and index lines. With a
state directory, the log, the registry and the seed survive a restart.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cargo_verify.mock.clock import Clock, SystemClock
from cargo_verify.mock.fulcio import CertificateAuthority
from cargo_verify.mock.keys import KeyRing
from cargo_verify.mock.oidc import OidcIssuer
from cargo_verify.mock.registry import atomic_write
from cargo_verify.mock.rekor import TransparencyLog
from cargo_verify.mock.signing import ManagedSigner
from cargo_verify.mock.trust import client_trust_config, trusted_root

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITLAB_ISSUER = "https://gitlab.com"
PUBLISH_AUDIENCE = "crates.io"
SIGSTORE_AUDIENCE = "sigstore"
DEFAULT_SEED = "cargo-verify-test-world"
FIXTURES_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "crates"




@dataclass
class WorldOptions:
    seed: str = DEFAULT_SEED
    clock: Clock | None = None
    state_dir: Path | None = None
    publish_fixtures: bool = True
    fixtures_dir: Path = FIXTURES_DIR
    evidence: str = "both"  # which `sigstore` keys index lines carry: rekor|bundle|both|none
    bundle_kind: str = "message"  # message signature or DSSE in-toto statement
    log_index_offset: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class World:
    def __init__(self, base_url: str, options: WorldOptions | None = None) -> None:
        from cargo_verify.mock.registry import Registry, load_fixture_publishers

        self.options = options = options or WorldOptions()
        self.base_url = base_url.rstrip("/")
        state = options.state_dir
        if state is not None:
            state.mkdir(parents=True, exist_ok=True)
            options.seed = self._persisted_seed(state, options.seed)
        self.clock: Clock = options.clock or SystemClock()
        self.keys = KeyRing(options.seed.encode())
        self.oidc = OidcIssuer(self.base_url + "/oidc", self.keys, self.clock)
        self.ca = CertificateAuthority(self.keys, self.clock)
        tree_id = int.from_bytes(hashlib.sha256(options.seed.encode()).digest()[:8], "big") >> 1
        self.log = TransparencyLog(
            self.keys.ec_key("rekor"),
            self.clock,
            tree_id=tree_id,
            log_index_offset=options.log_index_offset,
            store=state / "rekor.jsonl" if state is not None else None,
        )
        self.signer = ManagedSigner(self.keys, self.ca, self.log, kind=options.bundle_kind)
        self.trusted_root = trusted_root(
            self.ca,
            self._log_public_key(),
            rekor_url=self.rekor_url,
            fulcio_url=self.base_url,
        )
        self.trust_config = client_trust_config(
            self.trusted_root,
            fulcio_url=self.base_url,
            rekor_url=self.rekor_url,
            oidc_url=self.oidc.url,
        )
        publishers: dict[str, Any] = {}
        self.fixtures: tuple[Any, ...] = ()
        if (options.fixtures_dir / "publishers.toml").is_file():
            publishers, self.fixtures = load_fixture_publishers(options.fixtures_dir)
        self.registry = Registry(
            base_url=self.base_url,
            publishers=publishers,
            signer=self.signer,
            validate_token=self.validate_publish_token,
            clock=self.clock,
            rekor_url=self.rekor_url,
            store=state / "registry" if state is not None else None,
            evidence=options.evidence,
        )
        if options.publish_fixtures:
            self.publish_fixtures()

    def _log_public_key(self) -> Any:
        return self.keys.ec_key("rekor").public_key()

    @staticmethod
    def _persisted_seed(state: Path, seed: str) -> str:
        path = state / "world.json"
        if path.exists():
            return str(json.loads(path.read_text())["seed"])
        atomic_write(path, json.dumps({"seed": seed}).encode())
        return seed

    # -- URLs -----------------------------------------------------------------------------
    @property
    def rekor_url(self) -> str:
        return self.base_url + "/rekor"

    @property
    def index_url(self) -> str:
        return f"sparse+{self.base_url}/index/"

    def urls(self, trust_config_path: Path | None = None) -> dict[str, str]:
        return {
            "base": self.base_url,
            "registry_index": self.index_url,
            "registry_api": self.base_url,
            "rekor": self.rekor_url,
            "fulcio": self.base_url,
            "oidc_issuer": self.oidc.url,
            "trust_config": str(trust_config_path) if trust_config_path else
            self.base_url + "/trust_config.json",
            "trusted_root": self.base_url + "/trusted_root.json",
        }

    def write_trust_files(self, directory: Path) -> tuple[Path, Path]:
        """Write trusted_root.json and trust_config.json (the CLI tools want files)."""
        root = directory / "trusted_root.json"
        config = directory / "trust_config.json"
        atomic_write(root, json.dumps(self.trusted_root, indent=2).encode())
        atomic_write(config, json.dumps(self.trust_config, indent=2).encode())
        return root, config

    # -- tokens ---------------------------------------------------------------------------
    @property
    def accepted_issuers(self) -> tuple[str, ...]:
        # The world impersonates real issuers so fixtures look like real publishes.
        return (self.oidc.url, GITHUB_ISSUER, GITLAB_ISSUER)

    def validate_publish_token(self, token: str) -> dict[str, Any]:
        return self.oidc.validate(token, PUBLISH_AUDIENCE, self.accepted_issuers)

    def validate_sigstore_token(self, token: str) -> dict[str, Any]:
        return self.oidc.validate(token, SIGSTORE_AUDIENCE, self.accepted_issuers)

    def github_token(
        self,
        repository: str,
        ref: str,
        *,
        workflow_file: str = "release.yml",
        environment: str | None = None,
        audience: str = PUBLISH_AUDIENCE,
        issuer: str = GITHUB_ISSUER,
    ) -> str:
        claims = self.oidc.github_claims(
            repository, ref, workflow_file=workflow_file, environment=environment,
            issuer=issuer, audience=audience,
        )
        return self.oidc.mint(claims)

    # -- fixtures -------------------------------------------------------------------------
    def publish_fixtures(self) -> None:
        from cargo_verify.mock.registry import UnsignedPublisher

        for fixture in self.fixtures:
            if self.registry.has_version(fixture.name, fixture.version):
                continue
            publisher = self.registry.publishers[fixture.name]
            claims = None
            if not isinstance(publisher, UnsignedPublisher):
                claims = self.oidc.github_claims(
                    publisher.repository, fixture.ref, workflow_file=publisher.workflow,
                    environment=publisher.environment, issuer=publisher.issuer,
                    audience=PUBLISH_AUDIENCE,
                )
            self.registry.publish_fixture(
                fixture.name, fixture.version, fixture.crate_bytes(), fixture.meta, claims
            )


class RunningWorld:
    """A World served by uvicorn in a background thread on 127.0.0.1."""

    def __init__(self, world: World, server: Any, thread: threading.Thread) -> None:
        self.world = world
        self._server = server
        self._thread = thread

    @property
    def url(self) -> str:
        return self.world.base_url

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.world.log.close()

    def __enter__(self) -> RunningWorld:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def bind_socket(port: int = 0) -> socket.socket:
    # proto must say TCP: asyncio sets TCP_NODELAY only on accepted sockets whose proto is
    # IPPROTO_TCP, and they inherit it from this one. Without it, Nagle's algorithm and the
    # client's delayed ACK add ~40 ms to every request after the first on a connection.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def serve_in_thread(options: WorldOptions | None = None, port: int = 0) -> RunningWorld:
    import uvicorn

    from cargo_verify.mock.app import build_app

    sock = bind_socket(port)
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    world = World(base_url, options)
    config = uvicorn.Config(
        build_app(world), log_level="error", access_log=False, lifespan="off", ws="none",
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="test-world", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test world did not start")
        time.sleep(0.01)
    return RunningWorld(world, server, thread)
