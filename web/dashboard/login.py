"""The dashboard's login: a key in, a session cookie out.

The login page takes an API key and asks the API who it is (``GET
/whoami``). A good key opens a session: a random id in an HttpOnly,
SameSite=Strict, signed cookie, and the key kept in this process only,
against that id. Each browser session then calls the API with its own user's
key; no key of the server's acts for anyone. Sessions end on logout, after
``SESSION_S``, or when the process stops.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
from bokeh.server.auth_provider import AuthProvider
from tornado.web import RequestHandler, decode_signed_value

COOKIE = "tiering_session"
SESSION_S = 12 * 3600


@dataclass(frozen=True)
class Session:
    key: str
    who: dict[str, Any]  # GET /whoami: identity, tenant, role
    started: float


class Sessions:
    def __init__(self) -> None:
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, key: str, who: dict[str, Any]) -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._by_id[sid] = Session(key, who, time.time())
        return sid

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        with self._lock:
            found = self._by_id.get(sid)
            if found is not None and time.time() - found.started > SESSION_S:
                del self._by_id[sid]
                found = None
        return found

    def close(self, sid: str | None) -> None:
        with self._lock:
            self._by_id.pop(sid or "", None)


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>tiering: sign in</title>
<style>body{{font-family:sans-serif;max-width:28rem;margin:10vh auto}}input{{width:100%;padding:.5rem}}
button{{margin-top:1rem;padding:.5rem 1rem}}.error{{color:#b00}}</style></head><body>
<h2>tiering dashboard</h2><p>Sign in with your API key (<code>tiering keys create</code>).</p>
{error}<form method="post" action="/login"><label>API key
<input type="password" name="key" autocomplete="off" autofocus required></label>
<button type="submit">Sign in</button></form></body></html>"""


def key_login(api_url: str, sessions: Sessions, transport: httpx.AsyncBaseTransport | None = None) -> AuthProvider:
    """A Bokeh auth provider whose users are sessions opened with an API key."""

    class Login(RequestHandler):
        def get(self) -> None:
            error = '<p class="error">That key was not accepted.</p>' if self.get_argument("error", "") else ""
            self.set_header("Cache-Control", "no-store")
            self.write(PAGE.format(error=error))

        async def post(self) -> None:
            key = self.get_body_argument("key", "").strip()
            who = await _whoami(api_url, key, transport) if key else None
            if who is None:
                self.redirect("/login?error=1")
                return
            sid = sessions.open(key, who)
            self.set_signed_cookie(COOKIE, sid, expires_days=None, httponly=True, samesite="Strict")
            self.redirect("/")

    class Logout(RequestHandler):
        def get(self) -> None:
            raw = self.get_signed_cookie(COOKIE)
            sessions.close(raw.decode() if raw else None)
            self.clear_cookie(COOKIE)
            self.redirect("/login")

    class Provider(AuthProvider):
        @property
        def get_user(self):
            def user(handler: RequestHandler) -> str | None:
                raw = handler.get_signed_cookie(COOKIE)
                sid = raw.decode() if raw else None
                return sid if sessions.get(sid) is not None else None
            return user

        @property
        def login_url(self) -> str:
            return "/login"

        @property
        def login_handler(self):
            return Login

        @property
        def logout_url(self) -> str:
            return "/logout"

        @property
        def logout_handler(self):
            return Logout

    return Provider()


async def _whoami(api_url: str, key: str, transport: httpx.AsyncBaseTransport | None) -> dict[str, Any] | None:
    try:
        async with httpx.AsyncClient(base_url=api_url, timeout=10, transport=transport) as http:
            r = await http.get("/whoami", headers={"X-API-Key": key})
    except httpx.HTTPError:
        return None
    return r.json() if r.status_code == 200 else None


def session_of(sessions: Sessions, cookie_secret: str, cookies: dict[str, str]) -> Session | None:
    """The session a browser's cookies name (signed by this process), if open."""
    raw = cookies.get(COOKIE)
    sid = decode_signed_value(cookie_secret, COOKIE, raw) if raw else None
    return sessions.get(sid.decode() if sid else None)
