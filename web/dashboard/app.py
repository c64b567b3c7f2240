"""The dashboard page and its server.

``tiering launch`` serves it on its own port (TIERING_DASHBOARD_PORT) with a
Bokeh server in a thread of the launch process, beside uvicorn: no extra
package is needed, and a slow browser session never holds up the API's
event loop. The page reads and acts only through the REST API, so it could
run anywhere that reaches the API.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import panel as pn

from tiering.config import Settings
from tiering.web.dashboard import controls, views
from tiering.web.dashboard.store import DashboardStore

log = logging.getLogger("tiering.dashboard")
TITLE = "tiering dashboard"


def _card(title: str, *objects, **kwargs) -> pn.Card:
    return pn.Card(*objects, title=title, collapsible=False, sizing_mode="stretch_width", **kwargs)


def build_page(store: DashboardStore, refresh_ms: int | None = None) -> pn.viewable.Viewable:
    """The whole page over one store; with ``refresh_ms`` it refreshes itself."""
    v = views.bound_views(store)
    header = pn.Row(pn.pane.Markdown(f"## {TITLE}"), pn.layout.HSpacer(),
                    controls.tenant_filter(store), sizing_mode="stretch_width")
    estate = pn.Column(
        v["overview"],
        pn.Row(_card("Tier distribution", v["tier_objects"]),
               _card("Tier distribution", v["tier_bytes"]), sizing_mode="stretch_width"),
        pn.Row(_card("Cost", v["cost"]), _card("Moves", v["moves"]), sizing_mode="stretch_width"),
        pn.Row(_card("Top objects by recent access (click for history)",
                     controls.top_objects(store)),
               _card("Model", v["model"], v["importances"]), sizing_mode="stretch_width"),
        _card("Object drill-down", controls.drill_down(store), v["object"]),
        sizing_mode="stretch_width")
    operate = pn.Column(
        pn.Row(controls.autopilot(store), controls.retrain(store), sizing_mode="stretch_width"),
        controls.jobs(store),
        _card("Recent decisions (select pending ones to approve or reject)",
              controls.decisions(store)),
        controls.whatif(store), sizing_mode="stretch_width")
    page = pn.Column(header, v["notices"], pn.Tabs(("Estate", estate), ("Operate", operate),
                                                    dynamic=False),
                     sizing_mode="stretch_width", css_classes=["tiering-dashboard"])
    if refresh_ms:
        async def first_load() -> None:
            await store.load_traces()
            await store.refresh()

        pn.state.onload(first_load)
        pn.state.add_periodic_callback(store.tick, period=refresh_ms)
    return page


def session_page(settings: Settings):
    """A fresh store per browser session; closed with the session."""
    store = DashboardStore(settings.resolved_api_url, token=settings.client_key())

    def closed(_ctx) -> None:  # Bokeh calls this synchronously, on the server's loop
        try:
            asyncio.get_running_loop().create_task(store.aclose())
        except RuntimeError:  # no loop running: the server is stopping anyway
            pass

    pn.state.on_session_destroyed(closed)
    return build_page(store, refresh_ms=int(settings.dashboard_refresh_s * 1000))


def serve(settings: Settings) -> Any:
    """Start the dashboard server in a thread; returns it (``.stop()`` ends it)."""
    pn.extension("tabulator", notifications=False)
    host, port = settings.resolved_dashboard_host, settings.dashboard_port
    origins = [f"{host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"]
    server = pn.serve({"/": lambda: session_page(settings)}, port=port, address=host,
                      websocket_origin=origins + list(settings.dashboard_origins), show=False,
                      threaded=True, title=TITLE, verbose=False)
    log.info("dashboard on http://%s:%s", host, port)
    return server
