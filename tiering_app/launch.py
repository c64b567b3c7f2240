"""``tiering launch``: the whole stack in one supervised process tree."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from rich.console import Console

from tiering.config import Settings

log = logging.getLogger("tiering.launch")
console = Console(stderr=True)


def _producer_loop(send, settings: Settings, stop: threading.Event, *, objects: int,
                   rate: float, seed: int) -> None:
    from tiering.ingest.producer import SyntheticProducer

    producer = SyntheticProducer(objects=objects, seed=seed)
    batch = max(1, min(settings.ingest_batch_size, int(rate) or settings.ingest_batch_size))
    for records in producer.batches(batch):
        if stop.is_set():
            return
        started = time.monotonic()
        try:
            send(records)
        except Exception:  # keep producing; the API reports health separately
            log.exception("producer batch failed")
        if rate > 0:
            stop.wait(max(0.0, len(records) / rate - (time.monotonic() - started)))


def reserve_server_ports(settings: Settings) -> tuple[socket.socket, socket.socket | None]:
    """The API's and the dashboard's ports, held from the first step (see ``reserve_port``);
    a taken one stops the launch before anything has started."""
    from tiering.devstack._proc import PortInUse, reserve_port

    try:
        api = reserve_port(settings.api_host, settings.api_port)
    except PortInUse as e:
        raise PortInUse(f"API port: {e}; choose another with TIERING_API_PORT or --port") from None
    if not settings.dashboard_port:
        return api, None
    try:
        return api, reserve_port(settings.resolved_dashboard_host, settings.dashboard_port)
    except PortInUse as e:
        api.close()
        raise PortInUse(f"dashboard port: {e}; choose another with TIERING_DASHBOARD_PORT "
                        "(0 turns the dashboard off)") from None


def start_embedded_kafka(settings: Settings):
    """(the broker we started or None, settings naming it). The decision bus runs on a
    local Kafka broker (SASL on, loopback only, data under the data dir) unless one is
    configured, it is turned off, or Java or Maven is missing: then on the in-process
    bus, said in one line."""
    if settings.kafka_bootstrap or not settings.embedded_kafka:
        return None, settings
    import atexit

    from tiering.adapters.bus_kafka import quiet_plain_sasl_notice
    from tiering.devstack._proc import ServiceError
    from tiering.devstack.kafka import KafkaBroker, java_binary

    try:
        java_binary()  # missing Java or Maven raises ServiceError, saying which
        quiet_plain_sasl_notice()  # the broker's readiness probe connects from here
        console.print("decision bus: starting a local Kafka broker (its jars are fetched once)…")
        broker = KafkaBroker(settings.data_dir / "kafka", heap="256m", sasl=True).start()
    except ServiceError as e:
        console.print(f"decision bus: in-process ({str(e).splitlines()[0]}); install Java 17+ and "
                      "Maven for a local Kafka, or set TIERING_KAFKA_BOOTSTRAP")
        return None, settings
    atexit.register(broker.stop)  # ours to stop, even if the launch fails before its own stop
    return broker, settings.model_copy(update={"kafka_bootstrap": broker.bootstrap,
                                               "kafka_sasl_username": broker.sasl_user,
                                               "kafka_sasl_password": broker.sasl_password})


def import_policy_file(settings: Settings) -> None:
    """A ``policy.yaml`` left in the data dir by an earlier version becomes the
    stored price policy (unless one is stored already) and is renamed, so that
    it is taken once and never read again: the policy lives in the event store,
    where actors on every node read it."""
    from tiering.adapters.eventstore import open_object_logs
    from tiering.adapters.policy_file import load_policy_file
    from tiering.adapters.stack_settings import StoredSetting
    from tiering.domain.stack_settings import PRICE_POLICY

    path = settings.data_dir / "policy.yaml"
    if not path.exists():
        return
    try:
        config = load_policy_file(path)
    except ValueError as e:
        console.print(f"[yellow]{path} is not used[/]: {e}; PUT /policies sets the price policy")
        return
    store = open_object_logs(settings.eventstore_env())
    try:
        setting = StoredSetting(store, PRICE_POLICY)
        taken = setting.get()[1] is None
        if taken:
            setting.set(config.to_dict(), f"file:{path.name}")
    finally:
        store.close()
    path.rename(path.with_name("policy.yaml.imported"))
    said = "is now the stored price policy" if taken else "is not used: a price policy is stored already"
    console.print(f"{path} {said}; renamed to {path.name}.imported (PUT /policies changes the policy)")


def run(settings: Settings, *, produce: bool, objects: int, rate: float, seed: int) -> None:
    # Actors' lines name their actor themselves (adapters.logs): without Ray's
    # "(Actor pid=…)" prefix, a JSON line stays JSON. Read when Ray is imported.
    os.environ.setdefault("RAY_DISABLE_WORKER_LOG_PREFIX", "1")
    # and every line is shown: Ray's dedup masks digits, so "shard 0 ready" hid "shard 1 ready".
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    import ray
    import uvicorn

    from tiering.actors.background import background_actor_classes
    from tiering.adapters.logs import configure_logging
    from tiering.app import cluster
    from tiering.app.moves_runtime import MovesRuntime
    from tiering.app.stack_lock import StackLock
    from tiering.app.wiring import build_services
    from tiering.devstack._proc import wait_listening
    from tiering.services.job_runners import RayJobRunner
    from tiering.shards.ingest import ShardIngest
    from tiering.shards.worker import relax_gc
    from tiering.web.app import create_app

    configure_logging(settings.log_level, settings.log_format, "launch")
    api_socket, dashboard_socket = reserve_server_ports(settings)
    relax_gc()  # the API parses and routes ingest batches here
    # What the stack writes (the event store, policies, models, the object
    # store's and Kafka's data) is this user's alone; the actors and services
    # this process starts inherit the mask.
    os.umask(0o077)
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    settings.data_dir.chmod(0o700)
    lock = StackLock(settings.data_dir).acquire()  # the kernel frees it if this process dies
    settings = cluster.open_instance(settings)  # before anything is started in its name
    import_policy_file(settings)
    mode = cluster.connect(settings)
    console.print(f"ray: {mode}, instance {settings.instance_id}; event store: "
                  f"{'postgresql' if settings.uses_postgres else settings.sqlite_path}")
    # the object store and the decision bus first (an embedded SeaweedFS and
    # Kafka unless configured), so that every actor below gets their addresses
    # in its settings.
    broker, settings = start_embedded_kafka(settings)
    moves = MovesRuntime.prepare(settings)
    settings = moves.settings
    handles = cluster.shard_handles(settings)
    runner_cls, snapshot_cls = background_actor_classes()
    payload = settings.model_dump(mode="json")
    runner = runner_cls.options(name="projections", get_if_exists=True).remote(payload)
    snapshotter = snapshot_cls.options(name="snapshotter", get_if_exists=True).remote(payload)
    cluster.check_ours([runner, snapshotter], settings)
    ray.get([runner.lag.remote(), snapshotter.snapshot_now.remote()])
    ingest = ShardIngest(handles, coalesce_s=settings.ingest_coalesce_ms / 1000,
                         coalesce_records=settings.ingest_coalesce_records)
    moves.start(handles)  # movers, decision bus, reconciler, age rule
    services = build_services(settings, ingest, shard_handles=handles, runner=runner,
                              moves=moves, job_runner=RayJobRunner(name="jobs"), watch_incidents=True)
    app = create_app(services)
    if services.access.bootstrap(settings.admin_key_path):
        console.print(f"[bold]first start: an admin key (all tenants) is in {settings.admin_key_path}[/] "
                      "(0600). Use it as: curl -H \"Authorization: Bearer $(cat "
                      f"{settings.admin_key_path})\" {settings.resolved_api_url}/whoami ; "
                      "issue narrower keys with 'tiering keys create'.")
    console.print(f"moves: S3 at {settings.s3_endpoint}, {moves.bus.describe()['kind']} "
                  f"decision bus, {settings.movers} movers")
    server = uvicorn.Server(uvicorn.Config(app, host=settings.api_host,
                                           port=settings.api_port, log_level="warning"))
    stop = threading.Event()
    producer = None
    if produce:
        # produced PUTs get their bytes too, as POST /accesses does
        ingest_batch = (lambda records: moves.call(moves.ingest.aingest(records))) \
            if settings.ingest_materialize else ingest.ingest

        def send(records):  # counted in /metrics/prometheus like the API's batches
            result = ingest_batch(records)
            services.metrics.count_accepted(result.accepted, result.events)
            return result

        producer = threading.Thread(target=_producer_loop, args=(send, settings, stop),
                                    kwargs=dict(objects=objects, rate=rate, seed=seed),
                                    name="producer", daemon=True)
        producer.start()
    dashboard = None
    if dashboard_socket is not None:  # Panel on its own port, reading the API
        try:
            from tiering.web.dashboard.app import serve as serve_dashboard
        except ImportError as e:  # installed without the 'dashboard' extra
            console.print(f"[yellow]no dashboard[/]: {e} (pip install '.[dashboard]')")
        else:
            # Bokeh binds its own socket (beside our reservation), in its own thread.
            dashboard = serve_dashboard(settings)
            if not wait_listening(settings.resolved_dashboard_host, settings.dashboard_port):
                console.print("[yellow]the dashboard is not listening yet[/]")
            console.print(f"dashboard on http://{settings.resolved_dashboard_host}:"
                          f"{settings.dashboard_port}")
        dashboard_socket.close()
    console.print(f"[green]tiering is up[/]: {settings.shards} shards, API on "
                  f"{settings.resolved_api_url} (docs at /docs)"
                  + (f", producing ~{rate:,.0f} rec/s over {objects:,} objects" if produce else ""))
    try:
        try:
            server.run(sockets=[api_socket])  # returns on SIGINT/SIGTERM after a graceful HTTP shutdown
        except KeyboardInterrupt:  # uvicorn re-raises the signal it captured
            pass
    finally:
        console.print("shutting down…")
        stop.set()
        if dashboard is not None:
            dashboard.stop()
            dashboard.join(timeout=10)
        if producer is not None:
            producer.join(timeout=30)
        moves.stop()  # before the shards it calls; stops our SeaweedFS too
        if broker is not None:
            broker.stop()  # after the movers and the bus that used it
        services.close()  # the job worker, the API's store and read-model connections
        for actor in (runner, snapshotter):
            try:
                ray.get(actor.stop.remote(), timeout=15)
            except Exception:  # already gone is fine: we are shutting down
                pass
        for actor in (runner, snapshotter, *handles):
            ray.kill(actor, no_restart=True)
        ray.shutdown()
        lock.release()
        console.print("stopped")
