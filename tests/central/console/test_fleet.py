"""Fleet figures, pure: device states from heartbeats, hours in the report zone, the SVG chart."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta, timezone

from hypothesis import given, strategies as st

from central.console import fleet

VN = timezone(timedelta(hours=7))
NOW = datetime(2021, 8, 20, 10, 0, tzinfo=timezone.utc)


def device(device_id, seen_s_ago=None, **beat):
    seen = (NOW - timedelta(seconds=seen_s_ago)).isoformat() if seen_s_ago is not None else None
    return {"device_id": device_id, "site_id": "S", "last_seen": seen, "heartbeat_at": seen,
            "heartbeat": json.dumps(beat) if beat else None}


def test_states_silent_lagging_ok_and_clock():
    rows = fleet.device_rows([
        device("never"),
        device("quiet", 3600, queue_depth=0, sent_at=(NOW - timedelta(seconds=3600)).isoformat()),
        device("backlog", 10, queue_depth=2, oldest_pending_at=(NOW - timedelta(hours=1)).isoformat(),
               sent_at=(NOW - timedelta(minutes=10)).isoformat()),
        device("fine", 10, queue_depth=0, sent_at=(NOW - timedelta(seconds=10)).isoformat()),
    ], {"fine": 2}, {"S": "Trạm"}, NOW)
    by_id = {r["device_id"]: r for r in rows}
    assert [r["device_id"] for r in rows][:2] == ["never", "quiet"]        # silent first
    assert by_id["never"]["state"] == by_id["quiet"]["state"] == fleet.SILENT
    assert by_id["backlog"]["state"] == fleet.LAGGING and by_id["backlog"]["clock"] == fleet.CLOCK_OFF
    assert by_id["fine"]["state"] == fleet.OK and by_id["fine"]["clock"] == fleet.CLOCK_OK
    assert by_id["fine"]["conflicts"] == 2 and by_id["fine"]["site_name"] == "Trạm"
    assert by_id["never"]["clock"] == fleet.CLOCK_UNKNOWN


def test_a_broken_heartbeat_body_shows_as_no_heartbeat():
    row = {"device_id": "d", "site_id": "S", "last_seen": None, "heartbeat_at": None,
           "heartbeat": "{not json"}
    assert fleet.device_rows([row], {}, {}, NOW)[0]["queue_depth"] is None


def test_hours_count_in_the_report_zone():
    bounds = fleet.day_bounds(date(2021, 8, 20), VN)
    assert bounds == ("2021-08-19T17:00:00.000+00:00", "2021-08-20T17:00:00.000+00:00")
    counts = fleet.hourly_counts([("A", "2021-08-20T01:30:00+00:00"), ("A", "2021-08-20T08:10:00+07:00"),
                                  ("B", "2021-08-20T23:59:00+07:00"), ("B", "garbage")], VN)
    assert counts["A"][8] == 2 and counts["B"][23] == 1 and sum(counts["B"]) == 1


@given(st.dictionaries(st.text(min_size=1, max_size=30), st.lists(st.integers(0, 10_000), min_size=24,
                                                                  max_size=24), max_size=12),
       st.text(max_size=40))
def test_chart_is_well_formed_svg_whatever_the_names(counts, title):
    svg = fleet.chart_svg(counts, {site: "<b>&" + site for site in counts}, title)
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    assert len(root.findall("{http://www.w3.org/2000/svg}polyline")) == len(counts)
