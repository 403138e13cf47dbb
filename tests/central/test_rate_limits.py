"""Rate limits held in the central database: every worker process (or app object) on the same
database counts against one allowance, a restart does not reset it, and hostile names cannot
break it. Runs on SQLite and on PostgreSQL like the rest of the central suite."""
from __future__ import annotations

import multiprocessing
from urllib.parse import quote_from_bytes
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from central.app import create_app
from central.commands import open_db
from central.db import CentralDB
from central.errors import FORM_BODY
from central.rate_limits import SharedRateLimiter, bucket
from samplepoint.config import CentralServerConfig
from tests.central.console.conftest import PASSWORD, PASSWORD_HASH, csrf, sign_in

LIMIT = 15


def status_app(db, per_minute: int = LIMIT):
    return create_app(db, CentralServerConfig(status_per_device_per_min=per_minute))


def ask_status(client, token: str) -> int:
    return client.get("/api/v1/persons/status?qid=123",
                      headers={"Authorization": f"Bearer {token}"}).status_code


def test_the_window_slides_per_client_and_overall(tmp_path):
    now = [1_000_000.0]
    limiter = SharedRateLimiter(CentralDB(tmp_path / "c.db"), "test", per_client=2, overall=3,
                                window_s=10, clock=lambda: now[0])
    assert limiter.allow("a") is None and limiter.allow("a") is None
    assert limiter.allow("a") == pytest.approx(10)
    assert limiter.allow("b") is None
    assert limiter.allow("c") is not None          # overall limit
    now[0] += 10.5
    assert limiter.allow("a") is None


def test_an_attempt_counts_for_every_client_it_names_or_for_none(tmp_path):
    limiter = SharedRateLimiter(CentralDB(tmp_path / "c.db"), "test", per_client=2)
    assert limiter.allow("ip:1", "user:x") is None
    assert limiter.allow("ip:2", "user:x") is None
    assert limiter.allow("ip:3", "user:x") is not None       # the account is spent
    assert limiter.allow("ip:3", "user:y") is None           # ... and ip:3 was not counted for it
    assert limiter.allow("ip:3", "user:z") is None
    assert limiter.allow("ip:3", "user:w") is not None       # now the address is spent


def test_old_attempts_are_pruned(tmp_path):
    db = CentralDB(tmp_path / "c.db")
    now = [1_000_000.0]
    limiter = SharedRateLimiter(db, "test", per_client=5, window_s=60, clock=lambda: now[0])
    for n in range(50):
        limiter.allow(f"device-{n}")
    now[0] += 61
    limiter.allow("device-late")
    assert db.db.execute("SELECT COUNT(*) FROM rate_hits").fetchone()[0] == 1


def test_two_workers_on_one_database_together_never_exceed_the_status_limit(tmp_path):
    path = tmp_path / "central.db"
    first_db, second_db = CentralDB(path), CentralDB(path)        # two workers' own connections
    token = first_db.add_device("DEV-1", "S")
    apps = [status_app(first_db), status_app(second_db)]

    def ask(n: int) -> int:
        return ask_status(apps[n % 2].test_client(), token)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(3 * LIMIT)))
    assert answers.count(200) == LIMIT and answers.count(429) == 2 * LIMIT
    restarted = status_app(CentralDB(path))                        # a restart keeps the count
    assert ask_status(restarted.test_client(), token) == 429
    other = first_db.add_device("DEV-2", "S")
    assert ask_status(restarted.test_client(), other) == 200       # another device's own allowance


def _worker(target: str, token: str, asks: int, start, answers) -> None:
    client = status_app(open_db(target)).test_client()
    start.wait(30)
    answers.put([ask_status(client, token) for _ in range(asks)])


def test_two_worker_processes_together_never_exceed_the_status_limit(tmp_path):
    db = CentralDB(tmp_path / "central.db")
    token = db.add_device("DEV-1", "S")
    target = str(db.path)                  # the file, or on PostgreSQL its URL
    context = multiprocessing.get_context("fork")
    start, answers = context.Event(), context.Queue()
    workers = [context.Process(target=_worker, args=(target, token, LIMIT, start, answers))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    start.set()
    together = answers.get(timeout=60) + answers.get(timeout=60)
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    assert together.count(200) == LIMIT and together.count(429) == LIMIT


def test_sign_in_failures_are_counted_across_workers_and_restarts(tmp_path):
    path = tmp_path / "central.db"
    first_db = CentralDB(path)
    first_db.add_user("admin", PASSWORD_HASH, "admin")
    apps = [create_app(first_db), create_app(CentralDB(path))]
    answers = []
    for n in range(10):
        client = apps[n % 2].test_client()
        # Each guess from another address: together they put the account under attack.
        answers.append(sign_in(client, "admin", "wrong password",
                               environ_base={"REMOTE_ADDR": f"10.0.0.{n}"}).status_code)
    assert answers == [401] * 10
    restarted = create_app(CentralDB(path)).test_client()
    # An address that failed on the account waits (a restart does not forget it) ...
    assert sign_in(restarted, "admin", PASSWORD, environ_base={"REMOTE_ADDR": "10.0.0.3"}).status_code == 429
    # ... one that did not is asked for the password.
    assert sign_in(restarted, "admin", PASSWORD, environ_base={"REMOTE_ADDR": "10.0.1.2"}).status_code == 302
    # One address guessing at many accounts runs out of failures the same way.
    guesses = [sign_in(apps[n % 2].test_client(), f"user{n}", "x" * 12).status_code for n in range(21)]
    assert guesses == [401] * 20 + [429]


hostile_text = st.text(st.characters(blacklist_categories=()), max_size=300) | \
    st.sampled_from(["\x00", "a\x00b", "\ud800", "x" * 100_000, "ADMIN", " admin ",
                     "'; DROP TABLE users; --"])


@pytest.fixture
def one_db(tmp_path):
    """One database for every hypothesis example of a test (a fresh one each costs seconds on
    PostgreSQL)."""
    return CentralDB(tmp_path / "c.db")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(client=hostile_text)
def test_hostile_client_names_get_a_bucket_of_their_own(one_db, client):
    assert len(bucket("sign-in", client)) == 64
    limiter = SharedRateLimiter(one_db, "hostile", per_client=10 ** 6)
    assert limiter.allow(client, "ip:" + client) is None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(username=hostile_text.map(lambda text: text.encode("utf-8", "surrogatepass"))
       | st.binary(max_size=300),
       address=st.sampled_from(["127.0.0.1", "::1", "", "x" * 5000]))
def test_hostile_account_names_and_addresses_never_break_sign_in(one_db, username, address):
    one_db.add_user("admin", PASSWORD_HASH, "admin")          # once; later examples: already there
    client = create_app(one_db).test_client()
    token = csrf(client.get("/console/sign-in").get_data(as_text=True))
    # The raw bytes a client could send: bad UTF-8, NUL, surrogates' encodings.
    body = b"username=" + quote_from_bytes(username).encode() + b"&password=not-the-password" + \
        b"&csrf_token=" + token.encode()
    answer = client.post("/console/sign-in", data=body, content_type="application/x-www-form-urlencoded",
                         environ_base={"REMOTE_ADDR": address})
    allowed = (400, 401, 429) if len(body) <= FORM_BODY else (413,)     # a form over 64 KiB: 413
    assert answer.status_code in allowed, answer.get_data(as_text=True)[:300]


def test_clear_limits_lets_a_locked_out_console_in_again(tmp_path, capsys):
    """The counts survive restarts, so an admin command forgets them (and the audit log says so)."""
    from samplepoint.cli import main
    from central.db import CentralDB
    from central.rate_limits import SharedRateLimiter
    path = tmp_path / "central.db"
    db = CentralDB(path)
    limiter = SharedRateLimiter(db, "sign-in", per_client=2, window_s=300)
    assert limiter.allow("1.2.3.4") is None and limiter.allow("1.2.3.4") is None
    assert limiter.allow("1.2.3.4") is not None
    assert main(["central", "clear-limits", "--db", str(path)]) == 0
    assert "cleared 2 counted attempts" in capsys.readouterr().out
    assert limiter.allow("1.2.3.4") is None
    assert [row[2] for row in db.audit_log()][:1] == ["clear-limits"]
