"""Which decision bus `tiering launch` runs: its own Kafka broker, or the in-process bus
with one line saying why."""

from __future__ import annotations

from tiering.app import launch
from tiering.config import Settings
from tiering.devstack._proc import ServiceError


def test_without_java_the_launch_says_so_in_one_line_and_uses_the_in_process_bus(tmp_path, monkeypatch, capsys):
    def no_java():
        raise ServiceError("Java 17+ is needed for Kafka (apt-get install openjdk-17-jre-headless)")

    monkeypatch.setattr("tiering.devstack.kafka.java_binary", no_java)
    settings = Settings(data_dir=tmp_path / "var")
    broker, same = launch.start_embedded_kafka(settings)
    assert broker is None and same.kafka_bootstrap is None
    said = " ".join(capsys.readouterr().err.split())  # one message, however the console wraps it
    assert said.count("decision bus:") == 1 and "in-process" in said and "Java 17+" in said
    assert not (tmp_path / "var" / "kafka").exists()


def test_a_configured_broker_or_the_switch_off_starts_none(tmp_path, monkeypatch):
    monkeypatch.setattr("tiering.devstack.kafka.java_binary",
                        lambda: (_ for _ in ()).throw(AssertionError("not asked")))
    for settings in (Settings(data_dir=tmp_path, kafka_bootstrap="kafka:9092"),
                     Settings(data_dir=tmp_path, embedded_kafka=False)):
        broker, same = launch.start_embedded_kafka(settings)
        assert broker is None and same == settings
