"""GET /health: a real check of every dependency."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tiering.services.errors import public_message
from tiering.web.auth import Viewer
from tiering.web.deps import ServicesDep

router = APIRouter(tags=["health"])
CHECK_TIMEOUT_S = 5.0


async def _run(check) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(asyncio.to_thread(check), CHECK_TIMEOUT_S)
        return {"ok": True, "detail": detail, "ms": round((time.perf_counter() - started) * 1e3, 1)}
    except Exception as e:  # report, never raise: health must always answer
        return {"ok": False, "error": public_message(e)}


@router.get("/health", summary="Checks each dependency; 503 if any fails")
async def health(_: Viewer, services: ServicesDep) -> JSONResponse:
    names = list(services.health_checks)
    results = await asyncio.gather(*(_run(services.health_checks[n]) for n in names))
    checks = dict(zip(names, results))
    ok = all(c["ok"] for c in checks.values())
    return JSONResponse({"status": "ok" if ok else "degraded", "checks": checks},
                        status_code=200 if ok else 503)
