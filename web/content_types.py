"""Write requests must say what they carry, in a type a browser cannot send
cross-site without asking first.

A browser posts ``text/plain``, form encodings, or no type at all to any
site without a CORS preflight, so a page elsewhere could drive this API with
them. JSON endpoints take ``application/json`` only (``/accesses`` also takes
NDJSON); the trace upload takes a file type, never those. Anything else is a
415 before the route runs.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

# what a browser sends cross-site without a preflight
CROSS_SITE_SIMPLE = {"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
JSON = {"application/json"}
NDJSON = {"application/x-ndjson", "application/jsonl", "application/ndjson"}


def accepted_types(path: str) -> set[str] | None:
    """The body types a write to ``path`` may carry; None: any but the cross-site simple ones."""
    if path.startswith("/whatif/traces/"):
        return None
    if path.startswith("/accesses"):
        return JSON | NDJSON
    return JSON


def install(app: FastAPI) -> None:
    @app.middleware("http")
    async def typed_bodies(request: Request, call_next):
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            has_body = request.headers.get("content-length", "0") != "0" \
                or "transfer-encoding" in request.headers
            allowed = accepted_types(request.url.path)
            refused = (ctype in CROSS_SITE_SIMPLE and (has_body or ctype)) if allowed is None \
                else (has_body or ctype) and ctype not in allowed
            if refused:
                wanted = " or ".join(sorted(allowed)) if allowed else "a file type (e.g. application/octet-stream)"
                return JSONResponse({"detail": f"content-type {ctype or '(none)'} is not accepted "
                                               f"here; send {wanted}"}, status_code=415)
        return await call_next(request)
