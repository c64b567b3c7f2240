"""``reserve_port``: how ``tiering launch`` holds its API and dashboard ports while it starts."""

from __future__ import annotations

import socket

import pytest

from tiering.devstack._proc import PortInUse, reserve_port, wait_listening


def test_a_reserved_port_is_refused_to_a_plain_bind_until_released():
    reserved = reserve_port("127.0.0.1", 0)
    port = reserved.getsockname()[1]
    with socket.socket() as other, pytest.raises(OSError):
        other.bind(("127.0.0.1", port))
    reserved.close()
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))


def test_a_port_someone_listens_on_cannot_be_reserved():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with pytest.raises(PortInUse, match=f"127.0.0.1:{port} is taken"):
            reserve_port("127.0.0.1", port)


def test_our_server_can_listen_on_the_reservation_or_bind_beside_it():
    reserved = reserve_port("127.0.0.1", 0)
    port = reserved.getsockname()[1]
    assert not wait_listening("127.0.0.1", port, timeout=0.3)
    # As Bokeh does: its own socket, with SO_REUSEADDR, next to ours.
    with socket.socket() as beside:
        beside.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        beside.bind(("127.0.0.1", port))
        beside.listen()
        assert wait_listening("127.0.0.1", port, timeout=5)
    # As uvicorn does: listening on the reserved socket itself.
    reserved.listen()
    assert wait_listening("0.0.0.0", port, timeout=5)
    reserved.close()


def test_service_ports_are_chosen_outside_the_kernels_ephemeral_range():
    """A port released before its service binds it must not be one that any
    outgoing connection on the host may take meanwhile (SeaweedFS once lost
    its admin port that way, mid-test, and exited)."""
    from tiering.devstack._proc import _ephemeral_range, free_port_pair, free_ports

    lo, hi = _ephemeral_range()
    ports = free_ports(12) + [free_port_pair(10000) + d for d in (0, 10000)]
    assert len(set(ports)) == len(ports)
    assert all(not lo <= p <= hi and p >= 20000 for p in ports), ports


def test_connections_accepted_on_a_reserved_port_send_without_delay():
    """Served as uvicorn serves the API (``loop.create_server(sock=...)``), each
    accepted connection has TCP_NODELAY: no ~40 ms stall per response on a
    kept-alive connection."""
    import asyncio

    async def accept_one() -> int:
        reserved = reserve_port("127.0.0.1", 0)
        reserved.listen()
        seen: asyncio.Future = asyncio.get_running_loop().create_future()

        async def on_connect(reader, writer):
            conn = writer.get_extra_info("socket")
            seen.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=reserved)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", reserved.getsockname()[1])
            nodelay = await asyncio.wait_for(seen, 10)
            writer.close()
        return nodelay

    assert asyncio.run(accept_one()) == 1
