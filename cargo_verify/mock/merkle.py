"""An append-only RFC 6962 Merkle tree with cached complete subtrees.

Leaf hash = SHA-256(0x00 ‖ data), node hash = SHA-256(0x01 ‖ left ‖ right) (RFC 6962 §2.1).
Every complete, aligned subtree (2**k leaves starting at a multiple of 2**k) is hashed once,
when its last leaf arrives, and kept. Any RFC 6962 split of a prefix D[0:n] then consists of
cached subtrees plus at most one chain along the right border, so roots and proofs cost
O(log n) hashes.

Not thread-safe for concurrent appends; readers may run beside an appender as long as they
ask only about sizes that existed when they started (cached hashes never change).
"""

from __future__ import annotations

import hashlib

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def hash_leaf(leaf_data: bytes) -> bytes:
    return hashlib.sha256(_LEAF_PREFIX + leaf_data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The k of RFC 6962: the largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    def __init__(self) -> None:
        # _levels[h][j] = hash of the complete subtree over leaves [j * 2**h, (j + 1) * 2**h).
        self._levels: list[list[bytes]] = [[]]

    def __len__(self) -> int:
        return len(self._levels[0])

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def append(self, leaf_data: bytes) -> int:
        """Add a leaf; return its index."""
        return self.append_leaf_hash(hash_leaf(leaf_data))

    def append_leaf_hash(self, leaf_hash: bytes) -> int:
        """Add a leaf whose hash is already known (e.g. when reloading); return its index."""
        if len(leaf_hash) != hashlib.sha256().digest_size:
            raise ValueError("a leaf hash is 32 bytes")
        index = len(self._levels[0])
        self._levels[0].append(leaf_hash)
        height, count = 0, index + 1
        # A subtree one level up completes whenever this level reaches an even count.
        while count % 2 == 0:
            level = self._levels[height]
            parent = hash_children(level[-2], level[-1])
            if height + 1 == len(self._levels):
                self._levels.append([])
            self._levels[height + 1].append(parent)
            height, count = height + 1, count // 2
        return index

    def leaf_hash(self, index: int) -> bytes:
        self._check_index(index, self.size)
        return self._levels[0][index]

    def root(self, size: int | None = None) -> bytes:
        """MTH(D[0:size]), the current size when None; the empty tree hashes to SHA-256("")."""
        size = self.size if size is None else size
        self._check_size(size)
        if size == 0:
            return hashlib.sha256(b"").digest()
        return self._subtree_hash(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 6962 PATH(index, D[0:size]): sibling hashes ordered from the leaf up to the root."""
        self._check_size(size)
        self._check_index(index, size)
        path: list[bytes] = []
        start, end = 0, size
        # Walk down from the root, collecting the sibling at each split; reversed at the end.
        while end - start > 1:
            k = _largest_power_of_two_below(end - start)
            if index - start < k:
                path.append(self._subtree_hash(start + k, end))
                end = start + k
            else:
                path.append(self._subtree_hash(start, start + k))
                start += k
        path.reverse()
        return path

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """RFC 6962 PROOF(old_size, D[0:new_size]); empty when old_size is 0 or new_size."""
        self._check_size(new_size)
        if not 0 <= old_size <= new_size:
            raise ValueError(f"old size {old_size} outside 0..{new_size}")
        if old_size in (0, new_size):
            return []
        proof: list[bytes] = []
        start, end = 0, new_size
        old_end = old_size
        # SUBPROOF(m, D[start:end], b): b stays true while the old root is a node of this subtree.
        old_root_is_complete_here = True
        while old_end - start != end - start:
            k = _largest_power_of_two_below(end - start)
            if old_end - start <= k:
                proof.append(self._subtree_hash(start + k, end))
                end = start + k
            else:
                proof.append(self._subtree_hash(start, start + k))
                start += k
                old_root_is_complete_here = False
        if not old_root_is_complete_here:
            proof.append(self._subtree_hash(start, end))
        proof.reverse()
        return proof

    def _subtree_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a range produced by RFC 6962 splitting of a prefix."""
        width = end - start
        if width & (width - 1) == 0 and start % width == 0:
            return self._levels[width.bit_length() - 1][start // width]
        k = _largest_power_of_two_below(width)
        return hash_children(
            self._subtree_hash(start, start + k), self._subtree_hash(start + k, end)
        )

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ValueError(f"tree size {size} outside 0..{self.size}")

    @staticmethod
    def _check_index(index: int, size: int) -> None:
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} outside 0..{size - 1}")
