"""Cells and the DCs that hold their state: the one place the sandbox's placement rules live.

A user's cell is ``hash(user) % N`` over the topology's DCs, and the cell is named after the
DC it calls home. Each DC's session state has its primary at home and an asynchronous
replica in the next DC in ring order (dc1 -> dc2 -> dc3 -> dc1), the same DC the edge
moves the cell to when its home goes dark.
"""

import hashlib
from collections.abc import Sequence

__all__ = ["home_dc", "home_dc_index", "replica_host"]


def home_dc_index(user: str, n_dcs: int) -> int:
    """A stable hash (Python's ``hash`` is salted per process), so cells survive restarts."""
    digest = hashlib.blake2b(user.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % n_dcs


def home_dc(user: str, dcs: Sequence[str]) -> str:
    """The DC whose cell ``user`` belongs to."""
    return dcs[home_dc_index(user, len(dcs))]


def replica_host(owner: str, dcs: Sequence[str]) -> str | None:
    """The DC hosting the replica of ``owner``'s session state; None with a single DC."""
    if len(dcs) < 2:
        return None
    return dcs[(list(dcs).index(owner) + 1) % len(dcs)]
