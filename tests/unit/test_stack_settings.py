"""Stack settings live in the event store: every process reads the newest, and
what an earlier version kept in files is taken over once."""

from __future__ import annotations

from tiering.adapters.eventstore import open_object_logs
from tiering.adapters.stack_settings import StoredSetting
from tiering.app.launch import import_policy_file
from tiering.config import Settings
from tiering.domain.stack_settings import PRICE_POLICY


def test_two_processes_views_of_a_setting_agree_and_keep_who_set_it(tmp_path):
    settings = Settings(data_dir=tmp_path)
    one, two = (StoredSetting(open_object_logs(settings.eventstore_env()), "s") for _ in range(2))
    assert one.get() == (0, None)
    one.set({"a": 1}, "alice")
    assert two.get() == (1, {"a": 1})
    two.set({"a": 2}, "bob")  # written from its own view, after alice's
    assert one.get() == (2, {"a": 2})
    events = one.app.recorder.select_events(one.id)
    assert [one.app.mapper.to_domain_event(e).by for e in events] == ["alice", "bob"]


def test_a_policy_file_of_an_earlier_version_is_imported_once(tmp_path, capsys):
    settings = Settings(data_dir=tmp_path)
    (tmp_path / "policy.yaml").write_text("defaults:\n  hot: {storage_gb_month: 0.5}\n")
    import_policy_file(settings)
    stored = StoredSetting(open_object_logs(settings.eventstore_env()), PRICE_POLICY)
    assert stored.get()[1]["defaults"]["hot"]["storage_gb_month"] == 0.5
    assert not (tmp_path / "policy.yaml").exists() and (tmp_path / "policy.yaml.imported").exists()
    (tmp_path / "policy.yaml").write_text("defaults:\n  hot: {storage_gb_month: 9}\n")
    import_policy_file(settings)  # a policy is stored already: the file does not win
    assert stored.get()[1]["defaults"]["hot"]["storage_gb_month"] == 0.5
    assert "is not used" in " ".join(capsys.readouterr().err.split())
