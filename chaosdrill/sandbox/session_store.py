"""The gateway's side of session state: which Redis is each cell's primary, and the two
operations the sandbox's API offers on it.

What is stored, per user, in the session store of the user's home cell:

- ``session:{user}:seq``: the highest sequence number acknowledged so far (a string integer);
  a lower one never replaces a higher one;
- ``session:{user}:seqs``: a sorted set of the latest ``keep_seqs`` acknowledged sequence
  numbers (score = member = n), so a reader can tell which writes are missing, not only
  whether the latest is.

Both are written by one Lua script, atomically, on the cell's current primary; the answer
acknowledges the write only once the script returned. The routing table (home DC -> the DC
holding its primary, and that member's address) is ``state.json``'s ``sessions``, which the
supervisor rewrites when a replica is promoted.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

__all__ = ["Route", "SessionStoreClient", "SessionUnavailable", "parse_seq"]

WRITE_SCRIPT = """
local n = tonumber(ARGV[1])
redis.call('ZADD', KEYS[2], n, ARGV[1])
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[2])
if extra > 0 then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, extra - 1) end
local cur = tonumber(redis.call('GET', KEYS[1]))
if cur == nil or n > cur then
  redis.call('SET', KEYS[1], ARGV[1])
  return n
end
return cur
"""
MAX_SEQ = 2**53  # Lua numbers are doubles: integers beyond this would round


class SessionUnavailable(Exception):
    """The cell's session store did not take the write or answer the read."""


@dataclass(frozen=True)
class Route:
    primary: str  # the DC whose member is primary
    address: str  # host:port of that member's proxy


def parse_seq(raw: str) -> int:
    """``X-Chaosdrill-Seq``: a non-negative integer; ValueError otherwise."""
    n = int(raw.strip())
    if not 0 <= n < MAX_SEQ:
        raise ValueError(f"sequence number out of range 0..2^53: {n}")
    return n


def _keys(user: str) -> tuple[str, str]:
    return f"session:{user}:seq", f"session:{user}:seqs"


class SessionStoreClient:
    """Clients for every cell's current session primary, following the routing table."""

    def __init__(self, timeout_s: float, keep_seqs: int) -> None:
        self.timeout_s = timeout_s
        self.keep_seqs = keep_seqs
        self.routes: dict[str, Route] = {}
        self._clients: dict[str, aioredis.Redis] = {}

    def update(self, sessions: Mapping[str, Any] | None) -> None:
        """Take the routing table from the state file's ``sessions``."""
        for owner, info in (sessions or {}).items():
            self.routes[owner] = Route(str(info["primary"]), str(info["address"]))

    def _client(self, address: str) -> aioredis.Redis:
        r = self._clients.get(address)
        if r is None:
            host, port = address.rsplit(":", 1)
            r = self._clients[address] = aioredis.Redis(
                host=host,
                port=int(port),
                socket_timeout=self.timeout_s,
                socket_connect_timeout=self.timeout_s,
                decode_responses=True,
            )
        return r

    def route(self, cell: str) -> Route:
        route = self.routes.get(cell)
        if route is None:
            raise SessionUnavailable(f"no session store known for cell {cell}")
        return route

    async def write(self, cell: str, user: str, seq: int) -> tuple[int, Route]:
        """Store ``seq`` for ``user`` on ``cell``'s primary; the latest seq it now holds."""
        route = self.route(cell)
        try:
            latest = await self._client(route.address).eval(
                WRITE_SCRIPT, 2, *_keys(user), seq, self.keep_seqs
            )
        except (aioredis.RedisError, OSError, TimeoutError) as e:
            raise SessionUnavailable(f"session store of {cell} ({route.primary}) failed: {e}") from e
        return int(latest), route

    async def read(self, cell: str, user: str) -> tuple[int | None, list[int], Route]:
        """The latest seq and the kept seqs (ascending) of ``user``, from ``cell``'s primary."""
        route = self.route(cell)
        seq_key, seqs_key = _keys(user)
        try:
            async with self._client(route.address).pipeline(transaction=False) as pipe:
                pipe.get(seq_key)
                pipe.zrange(seqs_key, 0, -1)
                latest, seqs = await pipe.execute()
        except (aioredis.RedisError, OSError, TimeoutError) as e:
            raise SessionUnavailable(f"session store of {cell} ({route.primary}) failed: {e}") from e
        return (None if latest is None else int(latest)), [int(s) for s in seqs], route
