"""Deterministic key material: the same seed always yields the same keys, serials and signatures."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

# Group orders of the NIST curves (FIPS 186-4 D.1.2); cryptography does not expose them.
_CURVE_ORDERS: dict[str, int] = {
    "secp256r1": int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16),
    "secp384r1": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
        "581A0DB248B0A77AECEC196ACCC52973",
        16,
    ),
    "secp521r1": int(
        "01FF" + "FFFFFFFF" * 7 + "FFFFFFFA"
        "51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
        16,
    ),
}

_SERIAL_OCTETS = 20  # RFC 5280 §4.1.2.2 upper bound


class KeyRing:
    """Derives every key and serial number of the test world from one seed."""

    def __init__(self, seed: bytes) -> None:
        self._seed = seed

    def ec_key(
        self, label: str, curve: ec.EllipticCurve | None = None
    ) -> ec.EllipticCurvePrivateKey:
        """The private key named `label` on `curve` (P-256 unless given)."""
        curve = curve if curve is not None else ec.SECP256R1()
        try:
            order = _CURVE_ORDERS[curve.name]
        except KeyError:
            raise ValueError(f"unsupported curve {curve.name}: use P-256, P-384 or P-521") from None
        digest = hashlib.sha512(self._seed + label.encode()).digest()
        scalar = int.from_bytes(digest, "big") % order
        return ec.derive_private_key(scalar or 1, curve)

    def serial(self, label: str) -> int:
        """A certificate serial: positive, 20 octets at most, high bit clear so DER needs no pad."""
        digest = hashlib.sha512(self._seed + b"\x00serial\x00" + label.encode()).digest()
        value = int.from_bytes(digest[:_SERIAL_OCTETS], "big") >> 1
        return value or 1


def ecdsa_sign(
    key: ec.EllipticCurvePrivateKey,
    data: bytes,
    hash: type[hashes.HashAlgorithm] = hashes.SHA256,
) -> bytes:
    """A DER ECDSA signature with RFC 6979 nonces, so equal inputs give equal bytes."""
    return key.sign(data, ec.ECDSA(hash(), deterministic_signing=True))
