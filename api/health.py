"""`/healthz`: the process answers. `/readyz`: it can serve (database reachable and current, queue reachable)."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.envelope import meta
from jobs import app as application

routes = APIRouter(tags=["health"])


@routes.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"data": {"status": "ok"}, "meta": meta(request)})


@routes.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    checks = await application.readiness(request.app.state.context)
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"data": {"ready": ready, "checks": checks}, "meta": meta(request)}, status_code=200 if ready else 503
    )
