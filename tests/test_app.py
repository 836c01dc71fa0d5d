"""The composition root."""

from trunkline.settings import Settings
from trunkline.web.app import TrunklineApp, create_app


def test_only_server_processes_tune_the_garbage_collector():
    settings = Settings(database_url="sqlite:///:memory:")
    assert create_app(settings).tune_gc is True
    assert TrunklineApp(settings).tune_gc is False
