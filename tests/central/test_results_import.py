"""Results at the real central server: CSV import, the lab API, pooled fan-out and person status."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

import requests

from samplepoint.cli import main
from tests.central.conftest import full_status

UTC = timezone.utc
T0 = datetime(2021, 8, 20, 2, 0, tzinfo=UTC)          # 09:00 in Dong Thap
HEADER = "tube_code,test_type,result,result_time,lab\n"


def status(central, **params):
    return full_status(central, **params)


def set_clock(central, moment: datetime) -> None:
    central.app.extensions["central_clock"] = lambda: moment


def import_file(central, tmp_path, text: str, capsys, *extra):
    path = tmp_path / "results.csv"
    path.write_text(text, encoding="utf-8")
    code = main(["central", "import-results", "--db", str(central.db.path), *extra, str(path)])
    return code, capsys.readouterr()


def test_import_good_duplicate_and_bad_rows(central, poster, people, tmp_path, capsys):
    poster(people[:2], "DT00000001", "2021-08-20T09:00:00+07:00")
    poster(people[2:3], "DT00000002", "2021-08-20T09:05:00+07:00")
    poster(people[3:4], "DT00000003", "2021-08-20T09:06:00+07:00", status="cancelled")
    text = (HEADER
            + "DT00000001,rt-pcr,negative,2021-08-20T20:00:00+07:00,LAB-1\n"
            + "DT00000001,rt-pcr,negative,2021-08-20T20:00:00+07:00,LAB-1\n"   # same row twice
            + "DT99999999,rt-pcr,negative,2021-08-20T20:00:00+07:00,LAB-1\n"   # unknown tube
            + "DT00000002,rt-pcr,maybe,2021-08-20T20:00:00+07:00,LAB-1\n"      # bad value
            + "DT00000002,rapid-antigen,negative,2021-08-20T20:00:00+07:00,LAB-1\n"
            + "DT00000003,rt-pcr,negative,2021-08-20T20:00:00+07:00,LAB-1\n"   # cancelled tube
            + "DT00000002,rt-pcr,positive,2021-08-20T20:00:00+07:00,LAB-1\n")
    code, out = import_file(central, tmp_path, text, capsys)
    assert code == 1                                  # some rows were not imported
    assert '"created": 2' in out.out and '"duplicate": 1' in out.out
    for line, word in ((4, "no sample"), (5, "result must be"), (6, "test_type differs"),
                       (7, "cancelled")):
        assert f"line {line}: " in out.err and word in out.err
    assert central.db.count_results() == 2
    reported = [int(l.split()[1].rstrip(":")) for l in out.err.splitlines() if l.startswith("line ")]
    assert reported == sorted(reported) == [4, 5, 6, 7]          # in line order

    code, out = import_file(central, tmp_path, text, capsys)          # the same file again
    assert central.db.count_results() == 2 and '"created"' not in out.out and '"duplicate": 3' in out.out

    conflicting = HEADER + "DT00000001,rt-pcr,positive,2021-08-20T20:00:00+07:00,LAB-1\n"
    code, out = import_file(central, tmp_path, conflicting, capsys)
    assert "line 2: a different result" in out.err and central.db.count_results() == 2


def test_problem_report_file_is_written_and_safe(central, poster, people, tmp_path, capsys):
    report = tmp_path / "problems.csv"
    code, _ = import_file(central, tmp_path, HEADER + "=HYPERLINK(1),rt-pcr,negative,"
                          "2021-08-20T20:00:00+07:00,LAB-1\n", capsys, "--problems", str(report))
    rows = list(csv.reader(io.StringIO(report.read_text(encoding="utf-8"))))
    assert rows[0] == ["line", "problem", "tube_code"]
    assert rows[1][0] == "2" and rows[1][2] == "'=HYPERLINK(1)"


def test_whole_file_problems_import_nothing(central, tmp_path, capsys):
    code, out = import_file(central, tmp_path, "tube,result\nDT1,negative\n", capsys)
    assert code == 2 and "missing column" in out.err and "nothing was imported" in out.err
    code = main(["central", "import-results", "--db", str(central.db.path), str(tmp_path / "none.csv")])
    assert code == 2


def test_status_no_result_then_valid_then_expired(central, poster, people, tmp_path, capsys):
    person = people[0]
    set_clock(central, T0 + timedelta(hours=1))
    assert status(central, qid=person.qid)["state"] == "no-result"
    poster([person], "DT00000010", "2021-08-20T09:00:00+07:00")
    answer = status(central, qid=person.qid)
    assert answer["state"] == "no-result" and answer["awaiting_result"] is True

    import_file(central, tmp_path, HEADER + "DT00000010,rt-pcr,negative,2021-08-20T15:00:00+07:00,"
                "LAB-1\n", capsys)
    set_clock(central, T0 + timedelta(hours=71, minutes=59))
    answer = status(central, id_number=person.id_number)
    assert answer["state"] == "valid" and answer["result"] == "negative"
    assert answer["valid_until"] == "2021-08-23T02:00:00+00:00"        # 72 h after sampling
    assert answer["needs_individual_test"] is False

    set_clock(central, T0 + timedelta(hours=72))
    assert status(central, qid=person.qid)["state"] == "expired"


def test_validity_per_test_type_comes_from_config(central, poster, people):
    from samplepoint.config import CentralServerConfig
    central.app.extensions["central_settings"] = CentralServerConfig(rapid_antigen_valid_h=24.0)
    poster(people[:1], "DT00000020", "2021-08-20T09:00:00+07:00", test_type="rapid-antigen")
    central.db.add_results([_result("DT00000020", "rapid-antigen", "negative")])
    set_clock(central, T0 + timedelta(hours=23))
    assert status(central, qid=people[0].qid)["valid_until"] == "2021-08-21T02:00:00+00:00"
    set_clock(central, T0 + timedelta(hours=25))
    assert status(central, qid=people[0].qid)["state"] == "expired"


def _result(tube, test_type, result, at=T0 + timedelta(hours=6), lab="LAB-1"):
    from central.results import LabResult
    return LabResult(tube, test_type, result, at, lab)


def test_pooled_positive_fans_out_and_marks_everyone_for_an_individual_test(
        central, poster, people, capsys):
    pool = people[:5]
    poster(pool, "DT00000030", "2021-08-20T09:00:00+07:00")
    assert central.db.add_results([_result("DT00000030", "rt-pcr", "positive")]) == ["created"]
    set_clock(central, T0 + timedelta(hours=8))
    for person in pool:
        answer = status(central, qid=person.qid)
        assert answer["state"] == "valid" and answer["result"] == "positive"
        assert answer["pooled"] is True and answer["needs_individual_test"] is True
    assert main(["central", "needs-retest", "--db", str(central.db.path)]) == 0
    listed = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert sorted(r["qid"] for r in listed) == sorted(p.qid for p in pool)

    # The individual retest of one of them clears that person only.
    poster(pool[:1], "DT00000031", "2021-08-20T16:00:00+07:00")
    central.db.add_results([_result("DT00000031", "rt-pcr", "negative", T0 + timedelta(hours=12))])
    set_clock(central, T0 + timedelta(hours=13))
    cleared = status(central, qid=pool[0].qid)
    assert cleared["result"] == "negative" and cleared["needs_individual_test"] is False
    assert status(central, qid=pool[1].qid)["needs_individual_test"] is True


def test_invalid_result_is_no_result(central, poster, people):
    poster(people[:1], "DT00000040", "2021-08-20T09:00:00+07:00")
    central.db.add_results([_result("DT00000040", "rt-pcr", "invalid")])
    set_clock(central, T0 + timedelta(hours=8))
    assert status(central, qid=people[0].qid)["state"] == "no-result"


def test_lab_api_posts_results_with_a_lab_token_only(central, poster, people):
    poster(people[:3], "DT00000050", "2021-08-20T09:00:00+07:00")
    lab_token = central.db.add_lab("LAB-CDC")
    items = [{"tube_code": "DT00000050", "test_type": "rt-pcr", "result": "negative",
              "result_time": "2021-08-20T15:00:00+07:00"},
             {"tube_code": "NOPE", "test_type": "rt-pcr", "result": "negative",
              "result_time": "2021-08-20T15:00:00+07:00"},
             {"tube_code": "DT00000050", "test_type": "rt-pcr", "result": "negative",
              "result_time": "2021-08-20T15:00:00+07:00", "lab": "OTHER-LAB"},
             "junk"]

    def post(token, body):
        return requests.post(central.url + "/api/v1/results", json=body, timeout=5,
                             headers={"Authorization": f"Bearer {token}"})

    answer = post(lab_token, {"results": items})
    assert answer.status_code == 200
    statuses = [r["status"] for r in answer.json()["results"]]
    assert statuses == ["created", "unknown-tube", "invalid", "invalid"]
    assert [r["status"] for r in post(lab_token, {"results": items[:1]}).json()["results"]] == \
        ["duplicate"]
    assert post(central.token, {"results": items[:1]}).status_code == 401     # a device is no lab
    assert post("nonsense", {"results": items[:1]}).status_code == 401
    for body in ({"results": []}, {"results": "x"}, [], {"results": [{}] * 1001}):
        assert post(lab_token, body).status_code == 400
    refused = requests.get(central.url + "/api/v1/persons/status", params={"qid": "1"}, timeout=5,
                           headers={"Authorization": f"Bearer {lab_token}"})
    assert refused.status_code == 401                                          # a lab is no device


def test_status_query_is_validated(central):
    def get(params, token=central.token):
        return requests.get(central.url + "/api/v1/persons/status", params=params, timeout=5,
                            headers={"Authorization": f"Bearer {token}"}).status_code
    assert get({"qid": "123456789012345678"}) == 200
    for bad in ({}, {"qid": "1", "id_number": "001093029317"}, {"qid": "abc"}, {"qid": "1" * 25},
                {"id_number": "******509"}, {"id_number": "0010930293<script>"}, {"qid": "١٢٣"}):
        assert get(bad) == 400, bad
    assert get({"qid": "1"}, token="wrong") == 401


def test_add_lab_cli_prints_a_token(central, capsys):
    assert main(["central", "add-lab", "--db", str(central.db.path), "--lab-id", "LAB-2"]) == 0
    token = capsys.readouterr().out.strip()
    assert central.db.lab_for_token(token) == "LAB-2"
    assert main(["central", "add-lab", "--db", str(central.db.path), "--lab-id", "bad id!"]) == 2


def test_hostile_result_posts_never_crash(central):
    from hypothesis import HealthCheck, given, settings, strategies as st
    token = central.db.add_lab("LAB-H")
    client = central.app.test_client()
    leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=40))
    values = st.recursive(leaf, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=12), inner, max_size=5), max_leaves=20)
    items = st.fixed_dictionaries({}, optional={
        "tube_code": values, "test_type": values, "result": values, "result_time": values,
        "lab": values})

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(values, st.fixed_dictionaries({"results": st.lists(st.one_of(items, values),
                                                                         max_size=5)})))
    def post(body):
        response = client.post("/api/v1/results", json=body,
                               headers={"Authorization": f"Bearer {token}"})
        assert response.status_code in (200, 400)

    post()
    for raw in (b"{", b"\xff\xfe", b"[" * 100000):
        response = client.post("/api/v1/results", data=raw, content_type="application/json",
                               headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 400
