"""A stub service that speaks the load contract, for tests, docs and benchmarks.

It answers every kind of response the recorder must tell apart (ok, well-formed and
malformed degraded answers, 429 with and without Retry-After, 5xx, connection resets,
slow answers, chunked bodies), chosen by path, so a test can check each classification
against a real socket without the sandbox. Run it alone with
``python -m chaosdrill.load.stub --port 0``; it prints its port on the first line.

Paths:
- ``/ok`` (and ``/v1/generate``): 200 JSON;
- ``/status/<code>``: that status (429 carries Retry-After);
- ``/mix``: the behaviour picked by the user id: ``u<i>`` gets ``MIX[i % len(MIX)]``;
- ``/slow?ms=N``: 200 after N ms; ``/chunked``: 200 with a chunked body;
- ``/reset``: the connection is dropped without an answer.
"""

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web

__all__ = ["MIX", "Behaviour", "main", "make_app"]

Behaviour = str

# One user per behaviour; a round-robin stream over len(MIX) users hits each equally often.
MIX: tuple[Behaviour, ...] = (
    "ok",
    "cache",
    "busy",
    "degraded_malformed",
    "429",
    "429_bare",
    "503",
    "500",
    "502",
    "reset",
)

_ANSWER = json.dumps({"text": "hello from the stub", "tokens": 4})


async def _respond(request: web.Request, behaviour: Behaviour) -> web.StreamResponse:
    if behaviour == "ok":
        return web.Response(text=_ANSWER, content_type="application/json")
    if behaviour == "cache":
        body = {"degraded": "cache", "text": "a cached answer"}
        return web.json_response(body, headers={"X-Chaosdrill-Degraded": "cache"})
    if behaviour == "busy":
        body = {"degraded": "busy", "message": "system busy, please try again later"}
        return web.json_response(body, headers={"X-Chaosdrill-Degraded": "busy"})
    if behaviour == "degraded_malformed":
        return web.json_response({"degraded": "cache"}, headers={"X-Chaosdrill-Degraded": "cache"})
    if behaviour == "429":
        return web.json_response({"error": "rate limited"}, status=429, headers={"Retry-After": "1"})
    if behaviour == "429_bare":
        return web.json_response({"error": "rate limited"}, status=429)
    if behaviour == "reset":
        if request.transport is not None:
            request.transport.abort()
        raise ConnectionResetError("stub: reset on purpose")
    if behaviour.isdigit():
        return web.json_response({"error": behaviour}, status=int(behaviour))
    return web.json_response({"error": f"unknown behaviour {behaviour}"}, status=400)


async def _ok(request: web.Request) -> web.StreamResponse:
    await request.read()
    return await _respond(request, "ok")


async def _status(request: web.Request) -> web.StreamResponse:
    await request.read()
    code = request.match_info["code"]
    return await _respond(request, "429" if code == "429" else code)


async def _mix(request: web.Request) -> web.StreamResponse:
    await request.read()
    user = request.headers.get("X-User", "u0")
    try:
        i = int(user.lstrip("u"))
    except ValueError:
        i = 0
    return await _respond(request, MIX[i % len(MIX)])


async def _slow(request: web.Request) -> web.StreamResponse:
    await request.read()
    await asyncio.sleep(float(request.query.get("ms", "100")) / 1000)
    return await _respond(request, "ok")


async def _chunked(request: web.Request) -> web.StreamResponse:
    await request.read()
    resp = web.StreamResponse(headers={"Content-Type": "application/json", "X-Chaosdrill-Degraded": "busy"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    await resp.write(b'{"degraded": "busy", ')
    await resp.write(b'"message": "chunked and busy"}')
    await resp.write_eof()
    return resp


def make_app() -> web.Application:
    app = web.Application()
    routes: list[tuple[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] = [
        ("/ok", _ok),
        ("/v1/generate", _ok),
        ("/status/{code}", _status),
        ("/mix", _mix),
        ("/slow", _slow),
        ("/chunked", _chunked),
        ("/reset", lambda r: _respond(r, "reset")),
    ]
    app.add_routes([web.post(path, handler) for path, handler in routes])
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaosdrill.load.stub", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)

    async def serve() -> None:
        runner = web.AppRunner(make_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, args.host, args.port)
        await site.start()
        port = runner.addresses[0][1]
        print(port, flush=True)
        await asyncio.Event().wait()

    try:
        import uvloop

        uvloop.run(serve())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
