"""`samplepoint hotspot stats` numbers from hostapd_cli, the lease file and nft counters (counts only)."""
from __future__ import annotations

import json

from hotspot import stats

ALL_STA = """02:00:00:00:01:00
flags=[AUTH][ASSOC][AUTHORIZED]
aid=1
rx_packets=12
3a:11:22:33:44:55
flags=[AUTH][ASSOC][AUTHORIZED]
aid=2
"""


def test_stations_counted_by_their_mac_lines():
    assert stats.stations(ALL_STA) == 2 and stats.stations("") == 0


def test_live_leases_skip_expired_ones():
    text = ("1700000100 aa:bb:cc:dd:ee:01 10.42.0.10 phone *\n"
            "1700000000 aa:bb:cc:dd:ee:02 10.42.0.11 * *\n"
            "0 aa:bb:cc:dd:ee:03 10.42.0.12 * *\n"
            "garbage line\n")
    assert stats.live_leases(text, now=1700000050) == 2


def test_counters_by_reason_from_nft_json():
    nft = {"nftables": [{"metainfo": {"version": "1.0.6"}},
                        {"counter": {"family": "inet", "name": "outside_garden", "table": "t",
                                     "packets": 7, "bytes": 420}},
                        {"counter": {"family": "inet", "name": "garden_port", "table": "t",
                                     "packets": 2, "bytes": 120}},
                        {"counter": {"family": "inet", "name": "not_ours", "packets": 99}}]}
    assert stats.counters(json.dumps(nft)) == {"outside_garden": 7, "garden_port": 2}
    assert stats.counters("") == {}


def test_text_names_every_reason_and_no_address():
    found = stats.Stats(security="open (unencrypted)", associated=3, leases=4, admitted=0,
                        blocked={"outside_garden": 7})
    text = stats.render_text(found)
    assert "outside_garden" in text and "uplink_to_device" in text and "10.42." not in text
    assert "packets refused 7" in stats.summary(found)
    assert "unknown" in stats.render_text(stats.Stats())
