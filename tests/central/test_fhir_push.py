"""`central push-fhir` against a local FHIR receiver that validates and stores: each sample and each
result is sent once, a failure stops the run and the next run resumes, a lost answer never duplicates."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from central.fhir_push import PushError, PushLock
from central.results import LabResult
from samplepoint.durable import write_atomic
from tests.central.fhir_receiver import FhirReceiver

COLLECTED = "2021-08-20T09:15:00+07:00"
RESULT_AT = datetime(2021, 8, 20, 14, 30, tzinfo=timezone.utc)


@pytest.fixture
def receiver():
    state = FhirReceiver(token="fhir-secret-token")
    server = state.serve()
    state.url = server.fhir_url
    yield state
    server.stop()


@pytest.fixture
def central_config(tmp_path):
    token = tmp_path / "fhir-token"
    write_atomic(token, "fhir-secret-token\n")
    path = tmp_path / "central.toml"
    path.write_text(f'[central_server]\nfhir_token_file = "{token}"\n', encoding="utf-8")
    return path


def push(central, receiver, config, *extra):
    result = subprocess.run([sys.executable, "-m", "samplepoint.cli", "central", "push-fhir",
                             "--db", str(central.db.path), "--url", receiver.url, "--config",
                             str(config), *extra], capture_output=True, text=True, timeout=120)
    summary = json.loads(result.stdout) if result.stdout.strip() else None
    return result, summary


def sent_units(bundles) -> list[str]:
    """Each Bundle entry as what it carries: a sample's specimen or a result's report (the tube's
    verdict is sent again whenever a result arrives: it is replaced, not a unit)."""
    return [e["resource"]["identifier"][0]["value"] for b in bundles for e in b["entry"]
            if e["resource"]["resourceType"] in ("Specimen", "DiagnosticReport")
            and not e["resource"]["identifier"][0]["system"].endswith("verdict")]


def test_push_sends_each_sample_once_then_only_new_results(central, poster, people, receiver,
                                                           central_config):
    records = [poster(people[i * 5:i * 5 + 5], f"DT0000010{i}", COLLECTED) for i in range(3)]
    result, summary = push(central, receiver, central_config, "--samples-per-bundle", "2")
    assert result.returncode == 0, result.stderr
    assert summary == {"bundles": 2, "samples": 3, "results": 0, "skipped_erased": 0, "failed": None}
    assert len(receiver.of_type("Patient")) == 15 and len(receiver.of_type("Specimen")) == 3

    result, summary = push(central, receiver, central_config)
    assert (result.returncode, summary["bundles"], len(receiver.received)) == (0, 0, 2)

    central.db.add_results([LabResult("DT00000101", "rt-pcr", "positive", RESULT_AT, "LAB-1")])
    result, summary = push(central, receiver, central_config)
    assert summary == {"bundles": 1, "samples": 0, "results": 1, "skipped_erased": 0, "failed": None}
    last = receiver.received[-1]
    assert [e["resource"]["resourceType"] for e in last["entry"]] == (["Observation"] * 5 + \
        ["DiagnosticReport"]) * 2                 # the sample's resources are not sent again
    report, verdict = receiver.of_type("DiagnosticReport")
    assert verdict["subject"] == report["subject"]
    group = [r for r in receiver.of_type("Group")
             if r["identifier"][0]["value"] == records[1].record_id][0]
    assert report["subject"]["reference"] == f"Group/{group['id']}"
    assert len(receiver.of_type("Patient")) == 15
    assert sorted(sent_units(receiver.received)) == sorted(set(sent_units(receiver.received)))


def test_a_refused_bundle_stops_the_run_and_the_next_run_resumes(central, poster, people, receiver,
                                                                 central_config):
    for i in range(4):
        poster(people[i:i + 1], f"DT0000020{i}", COLLECTED)
    receiver.refuse_requests = {3}
    result, summary = push(central, receiver, central_config, "--samples-per-bundle", "1")
    assert result.returncode == 1 and summary["bundles"] == 2
    assert "HTTP 500" in summary["failed"] and "HTTP 500" in result.stderr
    assert central.db.fhir_sent_count(receiver.url) == 2

    result, summary = push(central, receiver, central_config, "--samples-per-bundle", "1")
    assert (result.returncode, summary["bundles"], summary["samples"]) == (0, 2, 2)
    assert len(receiver.of_type("Specimen")) == 4
    assert len(sent_units(receiver.received)) == 4          # never a sample twice


def test_an_answer_lost_after_commit_never_makes_duplicates(central, poster, people, receiver,
                                                            central_config):
    poster(people[:5], "DT00000300", COLLECTED)
    central.db.add_results([LabResult("DT00000300", "rt-pcr", "negative", RESULT_AT, "LAB-1")])
    receiver.lose_next = 1
    result, summary = push(central, receiver, central_config)
    assert result.returncode == 1 and central.db.fhir_sent_count(receiver.url) == 0
    stored = len(receiver.resources)
    assert stored == 5 + 1 + 1 + 1 + 5 + 1 + 5 + 1          # ... and the tube's verdict

    result, summary = push(central, receiver, central_config)
    assert result.returncode == 0 and summary["samples"] == 1
    assert len(receiver.resources) == stored                # matched by the conditional creates
    assert central.db.fhir_sent_count(receiver.url) == 2


def test_a_wrong_token_sends_nothing_and_records_nothing(tmp_path, central, poster, people, receiver):
    poster(people[:1], "DT00000400", COLLECTED)
    token = tmp_path / "wrong-token"
    write_atomic(token, "not-the-token")
    config = tmp_path / "wrong.toml"
    config.write_text(f'[central_server]\nfhir_token_file = "{token}"\n', encoding="utf-8")
    result, summary = push(central, receiver, config)
    assert result.returncode == 1 and "HTTP 401" in summary["failed"] and "login" in summary["failed"]
    assert central.db.fhir_sent_count(receiver.url) == 0 and not receiver.resources


def test_push_logs_no_personal_data(central, poster, people, receiver, central_config):
    poster(people[:5], "DT00000500", COLLECTED)
    receiver.refuse_next = 1
    first, _ = push(central, receiver, central_config)
    second, _ = push(central, receiver, central_config)
    logs = first.stderr + second.stderr
    assert "bundle 1 accepted" in logs and "stopped after 0 bundles" in logs
    for person in people[:5]:
        for value in (person.full_name, person.id_number, person.phone, person.qid):
            assert value not in logs


def test_erased_samples_are_never_pushed(central, poster, people, receiver, central_config):
    poster(people[:2], "DT00000600", COLLECTED)
    now = datetime.now(timezone.utc)
    central.db.erase_personal_data(now.replace(year=now.year + 1), now)
    result, summary = push(central, receiver, central_config)
    assert summary == {"bundles": 0, "samples": 0, "results": 0, "skipped_erased": 1, "failed": None}


def test_only_one_push_runs_on_a_database_at_a_time(central):
    with PushLock(central.db.path):
        with pytest.raises(PushError, match="another"):
            with PushLock(central.db.path):
                pass
    with PushLock(central.db.path):
        pass


def test_push_refuses_a_bad_url(central, central_config):
    result = subprocess.run([sys.executable, "-m", "samplepoint.cli", "central", "push-fhir", "--db",
                             str(central.db.path), "--url", "ftp://x", "--config",
                             str(central_config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--url" in result.stderr


@pytest.fixture
def mtls_receiver(tmp_path):
    """The receiver over HTTPS on loopback, demanding a client certificate from a private CA."""
    import ssl
    import threading

    from werkzeug.serving import make_server

    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp_path)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Test CA",
            "-keyout", "ca.key", "-out", "ca.pem")
    (tmp_path / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, cn in (("srv", "127.0.0.1"), ("client", "central-server")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}", "-keyout",
                f"{name}.key", "-out", f"{name}.csr")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", f"{name}.pem")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "srv.pem", tmp_path / "srv.key")
    context.load_verify_locations(tmp_path / "ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    state = FhirReceiver()
    server = make_server("127.0.0.1", 0, state.app(), threaded=True, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"https://127.0.0.1:{server.port}/fhir"
    yield state
    server.shutdown()
    thread.join(5)


def test_mutual_tls_from_the_central_config(tmp_path, central, poster, people, mtls_receiver):
    poster(people[:2], "DT00000700", COLLECTED)
    no_cert = tmp_path / "no-cert.toml"
    no_cert.write_text(f'[central_server]\nfhir_ca_bundle = "{tmp_path / "ca.pem"}"\n')
    result, summary = push(central, mtls_receiver, no_cert)
    assert result.returncode == 1 and "cannot reach" in summary["failed"]
    assert central.db.fhir_sent_count(mtls_receiver.url) == 0
    with_cert = tmp_path / "mtls.toml"
    with_cert.write_text(f'[central_server]\nfhir_ca_bundle = "{tmp_path / "ca.pem"}"\n'
                         f'fhir_client_cert = "{tmp_path / "client.pem"}"\n'
                         f'fhir_client_key = "{tmp_path / "client.key"}"\n')
    result, summary = push(central, mtls_receiver, with_cert)
    assert result.returncode == 0 and summary["samples"] == 1
    assert len(mtls_receiver.of_type("Patient")) == 2


def test_vietnamese_names_survive_the_push(central, poster, people, receiver, central_config):
    import dataclasses
    person = dataclasses.replace(people[0], full_name="Đặng Thị Ngọc Hà", date_of_birth="2004-12-31")
    poster([person], "DT00000800", COLLECTED)
    result, _ = push(central, receiver, central_config)
    assert result.returncode == 0
    patient, = receiver.of_type("Patient")
    assert (patient["name"][0]["text"], patient["birthDate"]) == ("Đặng Thị Ngọc Hà", "2004-12-31")


def test_push_never_sends_personal_data_in_clear_to_a_remote_server(central, poster, people,
                                                                    central_config, tmp_path):
    """An http:// FHIR URL that is not loopback is refused before anything is sent (here a loopback
    proxy stands for whoever is on the path); the lab setting lets it through."""
    import os
    from samplepoint.httpserver import BackgroundServer
    seen = []

    def on_the_path(environ, start_response):
        seen.append(environ.get("HTTP_AUTHORIZATION", ""))
        start_response("503 Service Unavailable", [("Content-Type", "application/json")])
        return [b"{}"]

    poster(people[:1], "DT00000900", COLLECTED)
    with BackgroundServer(on_the_path) as proxy:
        env = {**{k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "http_proxy")},
               "HTTP_PROXY": proxy.url, "http_proxy": proxy.url}

        def push_to(config):
            return subprocess.run([sys.executable, "-m", "samplepoint.cli", "central", "push-fhir",
                                   "--db", str(central.db.path), "--url", "http://fhir.example.vn/fhir",
                                   "--config", str(config)], capture_output=True, text=True,
                                  timeout=120, env=env)
        refused = push_to(central_config)
        assert seen == [] and refused.returncode == 2
        (line,) = refused.stderr.splitlines()
        assert "--url: plain http:// to a non-loopback host sends personal data" in line
        assert "central_server.fhir_allow_insecure_http = true" in line
        lab = tmp_path / "lab.toml"
        lab.write_text(central_config.read_text() + "fhir_allow_insecure_http = true\n")
        sent = push_to(lab)
        assert seen == ["Bearer fhir-secret-token"] and sent.returncode == 1
        assert "fhir_allow_insecure_http = true" in sent.stderr
