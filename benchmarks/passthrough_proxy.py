"""Baseline (b): the least a FastAPI + aiohttp proxy can do — forward the body, relay the reply, no features.

    python benchmarks/passthrough_proxy.py --port 8081 --upstream http://127.0.0.1:8080

Same server settings as the gateway: one uvicorn worker, uvloop, httptools, no access log.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse

__all__ = ["create_app"]


def create_app(upstream: str) -> FastAPI:
    """A proxy that POSTs every path to `upstream` + path and relays status, content type and body."""
    base = upstream.rstrip("/")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None)) as http:
            app.state.http = http
            yield

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/health")
    async def health() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.post("/{path:path}")
    async def forward(path: str, request: Request) -> Response:
        """Forward one POST upstream; stream the reply when it is an event stream."""
        http: aiohttp.ClientSession = request.app.state.http
        body = await request.body()
        upstream_resp = await http.post(f"{base}/{path}", data=body, headers={"content-type": "application/json"})
        content_type = upstream_resp.headers.get("content-type", "application/json")
        if content_type.startswith("text/event-stream"):

            async def relay() -> AsyncIterator[bytes]:
                try:
                    async for chunk in upstream_resp.content.iter_any():
                        yield chunk
                finally:
                    upstream_resp.release()

            return StreamingResponse(relay(), status_code=upstream_resp.status, media_type=content_type)
        data = await upstream_resp.read()
        upstream_resp.release()
        return Response(data, status_code=upstream_resp.status, media_type=content_type)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="base URL, e.g. http://127.0.0.1:8080")
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.upstream),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
