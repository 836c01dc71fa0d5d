"""Which node owns which cloud line: lines in hash buckets, buckets by rendezvous hashing.

Rules:

* A cloud line falls in one of `BUCKETS` buckets by a stable hash of (portal_id,
  config_id): the same on every node and every release.
* A bucket belongs to the live node with the highest rendezvous weight
  `hash(node id, bucket)` (highest random weight, Thaler and Ravishankar). Every node
  computes the same answer from the same set of live nodes, with no coordination; when a
  node joins it takes about 1/n of the buckets from the others, and when it leaves only its
  own buckets move, spread over the rest. With 1,024 buckets and a handful of nodes each
  node's share stays within a few per cent of the mean.
* Who *may* register a line is decided by the lease table (storage/cluster.py); this
  module only says who *should*.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

__all__ = ["BUCKETS", "bucket_of", "owner_of", "plan"]

BUCKETS = 1024


def _hash64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def bucket_of(portal_id: int, config_id: int) -> int:
    """The bucket of a cloud line."""
    return _hash64(f"line:{portal_id}:{config_id}") % BUCKETS


def owner_of(bucket: int, nodes: Iterable[str]) -> str | None:
    """The node that should own `bucket` (None when there is no node)."""
    return max(nodes, key=lambda node: (_hash64(f"{node}:{bucket}"), node), default=None)


def plan(nodes: Iterable[str]) -> dict[int, str]:
    """The owner of every bucket among `nodes` (empty when there is none)."""
    members = sorted(set(nodes))
    if not members:
        return {}
    return {bucket: owner_of(bucket, members) or "" for bucket in range(BUCKETS)}
