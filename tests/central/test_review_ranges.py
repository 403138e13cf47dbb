"""Times out of range and malformed answers: refused row by row, never a 500 or a crash."""
from __future__ import annotations

import pytest

from provisioning.enrol import EnrolError, TryLater, request_token
from samplepoint import config as config_module
from samplepoint.cli import main
from samplepoint.httpserver import BackgroundServer
from tests.central.test_ingest import body, post

HEADER = "tube_code,test_type,result,result_time,lab\n"


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+07:00", "9999-12-31T23:59:59-07:00"])
def test_collection_time_out_of_range_is_400_and_the_batch_goes_on(central, when):
    bad, good = body(collected_at=when), body()
    single = post(central, bad)
    assert single.status_code == 400 and single.json()["field"] == "collected_at"
    batch = post(central, {"records": [bad, good]}, path="/api/v1/samples/batch")
    assert [r["status"] for r in batch.json()["results"]] == ["invalid", "created"]


def test_result_time_out_of_range_is_a_bad_row_and_good_rows_import(central, poster, people,
                                                                    tmp_path, capsys):
    poster(people[:1], "DT00000071", "2021-08-20T09:00:00+07:00")
    path = tmp_path / "r.csv"
    path.write_text(HEADER + "DT00000071,rt-pcr,negative,0001-01-01T00:00:00+07:00,LAB-1\n"
                    + "DT00000071,rt-pcr,negative,2021-08-20T20:00:00+07:00,LAB-1\n")
    code = main(["central", "import-results", "--db", str(central.db.path), str(path)])
    err = capsys.readouterr().err
    assert code == 1 and "line 2: " in err and central.db.count_results() == 1


@pytest.mark.parametrize("status, payload, kind", [
    ("201 Created", b"<html>login</html>", "text/html"),
    ("201 Created", b"[]", "application/json"),
    ("503 Service Unavailable", b"[]", "application/json"),
    ("400 Bad Request", b'"just a string"', "application/json"),
])
def test_enrolment_with_a_malformed_answer_tries_later_or_refuses_cleanly(tmp_path, status,
                                                                          payload, kind):
    def app(environ, start_response):
        start_response(status, [("Content-Type", kind)])
        return [payload]
    with BackgroundServer(app) as server:
        config = config_module.from_dict({"central": {"url": server.url}})
        with pytest.raises((TryLater, EnrolError)) as info:
            request_token(config, "CODE")
    assert isinstance(info.value, TryLater) == status.startswith(("201", "503"))
