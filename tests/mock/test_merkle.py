"""The mock log's Merkle tree against RFC 6962's recursive definitions and sigstore's verifier."""

from __future__ import annotations

import hashlib
import random
import time

import pytest
from sigstore._internal.merkle import _chain_border_right, _chain_inner, _decomp_inclusion_proof

from cargo_verify.mock.merkle import MerkleTree


def _leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


# RFC 6962 §2.1, written straight from the definitions over a list of leaf inputs.
def _mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return _leaf(leaves[0])
    k = _split(len(leaves))
    return _node(_mth(leaves[:k]), _mth(leaves[k:]))


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


def _subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [_mth(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


def _tree(leaves: list[bytes]) -> MerkleTree:
    tree = MerkleTree()
    for position, data in enumerate(leaves):
        assert tree.append(data) == position
    return tree


def _root_from_proof(leaf_hash: bytes, index: int, size: int, proof: list[bytes]) -> bytes:
    """Recompute the root the way sigstore-python's verify_merkle_inclusion does."""
    inner, border = _decomp_inclusion_proof(index, size)
    assert len(proof) == inner + border
    return _chain_border_right(_chain_inner(leaf_hash, proof[:inner], index), proof[inner:])


LEAVES = [f"leaf {i}".encode() for i in range(70)]

# Certificate Transparency's reference tree (Trillian merkle test vectors): eight leaves and the
# root after each append.
CT_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_roots_match_the_certificate_transparency_vectors() -> None:
    tree = _tree(CT_LEAVES)
    assert [tree.root(size).hex() for size in range(1, 9)] == CT_ROOTS


def test_empty_tree_root_is_the_hash_of_nothing() -> None:
    assert MerkleTree().root() == hashlib.sha256(b"").digest()


def test_roots_of_every_prefix_match_the_rfc_definition() -> None:
    tree = _tree(LEAVES)
    for size in range(len(LEAVES) + 1):
        assert tree.root(size) == _mth(LEAVES[:size]), size
    assert tree.root() == _mth(LEAVES)


def test_leaf_hash_is_rfc6962_leaf_hash() -> None:
    tree = _tree(LEAVES[:3])
    assert tree.leaf_hash(2) == _leaf(LEAVES[2])


def test_inclusion_proofs_match_the_rfc_definition_and_verify_with_sigstore() -> None:
    tree = _tree(LEAVES)
    for size in range(1, len(LEAVES) + 1):
        root = _mth(LEAVES[:size])
        for index in range(size):
            proof = tree.inclusion_proof(index, size)
            assert proof == _path(index, LEAVES[:size]), (index, size)
            assert _root_from_proof(_leaf(LEAVES[index]), index, size, proof) == root


def test_reversed_proof_does_not_verify() -> None:
    tree = _tree(LEAVES[:13])
    proof = tree.inclusion_proof(5, 13)
    assert len(proof) > 1
    assert _root_from_proof(_leaf(LEAVES[5]), 5, 13, proof[::-1]) != tree.root(13)


def test_consistency_proofs_match_the_rfc_definition() -> None:
    tree = _tree(LEAVES[:40])
    for new_size in range(1, 41):
        for old_size in range(1, new_size + 1):
            expected = _subproof(old_size, LEAVES[:new_size], True)
            assert tree.consistency_proof(old_size, new_size) == expected, (old_size, new_size)
    assert tree.consistency_proof(0, 10) == []


@pytest.mark.parametrize(
    ("index", "size"),
    [(-1, 5), (5, 5), (0, 0), (0, 71)],
    ids=["negative", "at-size", "empty", "big"],
)
def test_out_of_range_proofs_are_refused(index: int, size: int) -> None:
    with pytest.raises(ValueError):
        _tree(LEAVES).inclusion_proof(index, size)


def test_root_of_a_future_size_is_refused() -> None:
    with pytest.raises(ValueError):
        _tree(LEAVES[:3]).root(4)


def test_hundred_thousand_leaves_stay_fast() -> None:
    started = time.perf_counter()
    tree = MerkleTree()
    for i in range(100_000):
        tree.append(i.to_bytes(4, "big"))
    rng = random.Random(7)
    sizes = [100_000, 99_999, 65_537, 12_345]
    for _ in range(2_000):
        size = rng.choice(sizes)
        index = rng.randrange(size)
        proof = tree.inclusion_proof(index, size)
        leaf = _leaf(index.to_bytes(4, "big"))
        assert _root_from_proof(leaf, index, size, proof) == tree.root(size)
    # Uncached, each root or proof would rehash up to 100,000 leaves: minutes, not seconds.
    assert time.perf_counter() - started < 5.0
