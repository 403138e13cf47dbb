"""The audit log page: newest first, a page at a time with older/newer links that entries written
meanwhile do not shift, a filter by action and by user, and hostile query strings answered calmly."""
from __future__ import annotations

import re
from html import unescape

import pytest

from central.console.views import AUDIT_PAGE

ACTIONS = ["sample-lookup", "person-lookup", "export", "results-upload"]


def page(client, url: str) -> tuple[list[int], dict[str, str]]:
    """(entry ids shown, top to bottom; the pager's links by id) of an audit page."""
    answer = client.get(url)
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    ids = [int(n) for n in re.findall(r'<tr data-id="(\d+)">', html)]
    links = {name: unescape(href) for href, name in
             re.findall(r'<a href="([^"]+)" id="audit-(newest|newer|older)"', html)}
    return ids, links


@pytest.fixture
def busy(console):
    # 180 entries: 60 by cdc (more than a page), 45 exports (less than one).
    with console.db.transaction() as db:
        db.executemany("INSERT INTO audit (at, username, action, detail) VALUES (?,?,?,?)",
                       [(f"2021-08-20T{n // 60:02d}:{n % 60:02d}:00.000+00:00",
                         ["cdc", "lab", "admin"][n % 3], ACTIONS[n % 4], f"entry {n}")
                        for n in range(3 * AUDIT_PAGE + 30)])
    return console


def all_ids(console) -> list[int]:
    return [r[0] for r in console.db.db.execute("SELECT id FROM audit ORDER BY id DESC")]


def test_the_log_pages_newest_first_forward_and_back(busy):
    client = busy.client("admin")
    everything = all_ids(busy)
    first, links = page(client, "/console/audit")
    assert first == everything[:AUDIT_PAGE] and set(links) == {"older"}
    seen, pages = list(first), [first]
    while "older" in links:
        ids, links = page(client, links["older"])
        assert 0 < len(ids) <= AUDIT_PAGE and "newer" in links and "newest" in links
        seen += ids
        pages.append(ids)
    assert seen == everything[:len(seen)] and len(seen) == len(all_ids(busy))
    for expected in reversed(pages[:-1]):           # and back with the newer links
        ids, links = page(client, links["newer"])
        assert ids == expected
    assert "newer" not in links


def test_entries_written_meanwhile_do_not_shift_the_next_page(busy):
    client = busy.client("admin")
    first, links = page(client, "/console/audit")
    for n in range(7):
        busy.db.audit("cdc", "export", f"late {n}")
    second, _ = page(client, links["older"])
    assert second[0] == max(i for i in all_ids(busy) if i < first[-1])
    newest, links = page(client, "/console/audit")
    assert newest[:7] == all_ids(busy)[:7]


def test_the_log_filters_by_action_and_user_and_pages_keep_the_filter(busy):
    client = busy.client("admin")
    matching = [r[0] for r in busy.db.db.execute(
        "SELECT id FROM audit WHERE action = 'export' ORDER BY id DESC")]
    ids, links = page(client, "/console/audit?action=export")
    assert ids == matching[:AUDIT_PAGE] and "older" not in links      # 45 exports fit one page
    ids, links = page(client, "/console/audit?user=cdc")
    cdc = [r[0] for r in busy.db.db.execute(
        "SELECT id FROM audit WHERE username = 'cdc' ORDER BY id DESC")]
    assert ids == cdc[:AUDIT_PAGE] and "user=cdc" in links["older"]
    older, _ = page(client, links["older"])
    assert older == cdc[AUDIT_PAGE:2 * AUDIT_PAGE]
    both, _ = page(client, "/console/audit?action=export&user=cdc")
    assert both and both == [r[0] for r in busy.db.db.execute(
        "SELECT id FROM audit WHERE action = 'export' AND username = 'cdc' ORDER BY id DESC")]
    html = client.get("/console/audit?action=export").get_data(as_text=True)
    assert '<option value="export" selected>' in html


@pytest.mark.parametrize("query", [
    "before=abc", "before=99999999999999999999999", "after=-1", "before=%C2%B2", "after=0",
    "action=%3Cscript%3E", "user=%00", "user=" + "x" * 5000, "before=1&after=1", "user=%ED%A0%80",
])
def test_odd_query_strings_show_a_page_not_an_error(busy, query):
    answer = busy.client("admin").get("/console/audit?" + query)
    assert answer.status_code == 200 and "<script>" not in answer.get_data(as_text=True)


def test_only_the_admin_reads_the_log(busy):
    assert busy.client("cdc").get("/console/audit").status_code == 403
