"""The local broker's own rules, without starting it."""
from __future__ import annotations

import pytest

from truyvet.broker import BrokerError, LocalBroker, _cluster_id


def test_a_local_broker_only_serves_loopback(tmp_path):
    assert LocalBroker.for_bootstrap(tmp_path, "127.0.0.1:19092").port == 19092
    with pytest.raises(BrokerError, match="127.0.0.1"):
        LocalBroker.for_bootstrap(tmp_path, "kafka:9092")


def test_cluster_ids_never_look_like_an_option():
    ids = [_cluster_id() for _ in range(2000)]
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
