"""The central database's SQL for labs, results, corrected collection times and retention.

A mixin of `central.db.CentralDB` (it uses its `db` connection and `transaction()`), kept apart so
that each file stays one readable size; the schema is migration 3 in central/db.py, and
DISPUTES_MIGRATION below. The SQL here only finds which results belong to which sample; what they
say together is central.verdict's rule, applied in Python, never an ORDER BY or LIMIT here.
"""
from __future__ import annotations

import json
import logging
import secrets
import sqlite3
from datetime import datetime, timezone
from typing import Iterable, Iterator

from central import status as status_module
from central import verdict as rule
from central.clocktrust import DeliveryClock, correct, with_offset
from central.results import LabResult
from samplepoint import wire

log = logging.getLogger(__name__)

CREATED, DUPLICATE, CONFLICT = "created", "duplicate", "conflict"
UNKNOWN_TUBE, CANCELLED_TUBE, WRONG_TEST_TYPE = "unknown-tube", "cancelled-tube", "wrong-test-type"
BEFORE_SAMPLE = "result-before-sample"
PROBLEMS = {
    UNKNOWN_TUBE: "no sample with this tube code has reached the central server",
    CANCELLED_TUBE: "this tube was cancelled at the sampling point",
    BEFORE_SAMPLE: "result_time is before every sample with this tube code was collected",
    WRONG_TEST_TYPE: "test_type differs from the sample's test type",
    CONFLICT: "a different result for this tube, lab and time is already stored; both are kept and "
              "the tube shows a conflict that needs a new test",
}
# A lab that sends two different results under one key (tube, lab, result time) has said both:
# the second is kept beside the first, and `lab_results` (every result either way) is what the
# result rule reads. Migration 9 in central.db.MIGRATIONS.
DISPUTES_MIGRATION = """
    CREATE TABLE result_disputes (
        tube_code   TEXT NOT NULL,
        lab_id      TEXT NOT NULL,
        result_at   TEXT NOT NULL,
        test_type   TEXT NOT NULL,
        result      TEXT NOT NULL CHECK (result IN ('negative', 'positive', 'invalid')),
        received_at TEXT NOT NULL,
        PRIMARY KEY (tube_code, lab_id, result_at, result)
    );
    CREATE VIEW lab_results AS
        SELECT tube_code, lab_id, result_at, test_type, result, received_at FROM results
        UNION ALL
        SELECT tube_code, lab_id, result_at, test_type, result, received_at FROM result_disputes;
"""
SAMPLE_RESULT_COLUMNS = (  # the shape status.from_rows reads, with `s` the sample and `r` a result
    "s.record_id, s.test_type, {sampled} AS collected_at,"
    " (SELECT COUNT(*) FROM persons x WHERE x.record_id = s.record_id) AS people,"
    " r.lab_id, r.result, r.result_at")
PERSONAL_COLUMNS = ("id_number = '', full_name = '', date_of_birth = NULL, phone = NULL, qid = NULL, "
                    "declarer_qid = NULL")


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _sampled(s: str, c: str) -> str:
    """SQL: when sample `s` (clock row `c`) was taken. The corrected time when there is one; else the
    device's own time, but never after the record reached us (a clock stuck in the future must not
    stretch a result's validity)."""
    return (f"(CASE WHEN {c}.flagged = 0 AND {c}.corrected_at IS NOT NULL THEN {c}.corrected_at"
            f" WHEN julianday({s}.collected_at) <= julianday({s}.received_at) THEN {s}.collected_at"
            f" ELSE {s}.received_at END)")


def _retained_from(s: str, c: str) -> str:
    """SQL: the time retention counts from. Without a corrected time the device's may be decades
    stale (fake-hwclock, 1970), so count from receipt: collection cannot have been after it."""
    return (f"(CASE WHEN {c}.flagged = 0 AND {c}.corrected_at IS NOT NULL THEN {c}.corrected_at"
            f" ELSE {s}.received_at END)")


def _belongs(s: str, c: str, r: str) -> str:
    """SQL: result `r` belongs to closed sample `s`: the latest closed sample of its tube code taken
    at or before the result time (a tube code may be reused; a result never goes to a later sample)."""
    return (f"{r}.tube_code = {s}.tube_code AND julianday({_sampled(s, c)}) <= julianday({r}.result_at)"
            f" AND NOT EXISTS (SELECT 1 FROM samples s2 LEFT JOIN sample_clock c2"
            f" ON c2.record_id = s2.record_id WHERE s2.tube_code = {r}.tube_code"
            f" AND s2.status = 'closed' AND s2.record_id != {s}.record_id"
            f" AND julianday({_sampled('s2', 'c2')}) <= julianday({r}.result_at)"
            f" AND (julianday({_sampled('s2', 'c2')}), s2.record_id) >"
            f" (julianday({_sampled(s, c)}), {s}.record_id))")


class ResultsSQL:
    # --- clock ----------------------------------------------------------------------------------

    @staticmethod
    def _clock_row(record: wire.SampleRecord, delivery: DeliveryClock | None,
                   received_at: str) -> tuple:
        """The sample_clock row of a record received now: its corrected collection time."""
        received = datetime.fromisoformat(received_at)
        fixed = correct(record, delivery, received)
        return (record.record_id, fixed.corrected_at and _utc(fixed.corrected_at), fixed.method,
                with_offset(delivery, received).offset_s, int(fixed.flagged))

    def sample_clock(self, record_id: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT s.collected_at, c.* FROM samples s LEFT JOIN sample_clock c "
                               "USING (record_id) WHERE record_id = ?", (record_id,)).fetchone()

    def flagged_times(self) -> list[sqlite3.Row]:
        """Samples whose collection time could not be corrected (or that predate clock evidence)."""
        return self.db.execute("SELECT s.record_id, s.device_id, s.collected_at FROM samples s "
                               "LEFT JOIN sample_clock c USING (record_id) "
                               "WHERE c.flagged IS NULL OR c.flagged = 1 ORDER BY s.received_at"
                               ).fetchall()

    # --- labs -----------------------------------------------------------------------------------

    def add_lab(self, lab_id: str) -> str:
        """Register (or re-key) a lab; returns its new bearer token, which is stored only hashed."""
        from central.db import hash_token, utc_now
        token = secrets.token_urlsafe(32)
        with self.transaction() as db:
            db.execute("INSERT INTO labs (lab_id, token_hash, created_at) VALUES (?,?,?) "
                       "ON CONFLICT(lab_id) DO UPDATE SET token_hash = excluded.token_hash",
                       (lab_id, hash_token(token), utc_now()))
        return token

    def lab_for_token(self, token: str) -> str | None:
        from central.db import hash_token
        row = self.db.execute("SELECT lab_id FROM labs WHERE token_hash = ?",
                              (hash_token(token),)).fetchone()
        return row[0] if row else None

    # --- results --------------------------------------------------------------------------------

    def add_results(self, results: Iterable[LabResult]) -> list[str]:
        """Store each result once, in one transaction; return an outcome per result (see PROBLEMS)."""
        from central.db import utc_now
        now = utc_now()
        outcomes = []
        with self.transaction() as db:
            for item in results:
                outcomes.append(self._add_result(db, item, now))
        return outcomes

    @staticmethod
    def _add_result(db: sqlite3.Connection, item: LabResult, now: str) -> str:
        samples = db.execute(
            f"SELECT s.test_type, s.status, julianday({_sampled('s', 'c')}) <= julianday(?) AS before"
            " FROM samples s LEFT JOIN sample_clock c ON c.record_id = s.record_id"
            f" WHERE s.tube_code = ? ORDER BY julianday({_sampled('s', 'c')}) DESC, s.record_id DESC",
            (item.result_at_utc, item.tube_code)).fetchall()
        closed = [s for s in samples if s["status"] == "closed"]
        if not closed:
            return CANCELLED_TUBE if samples else UNKNOWN_TUBE
        owner = next((s for s in closed if s["before"]), None)
        if owner is None:
            return BEFORE_SAMPLE
        if owner["test_type"] != item.test_type:
            return WRONG_TEST_TYPE
        key = (item.tube_code, item.lab_id, item.result_at_utc)
        row = db.execute("SELECT result FROM results WHERE tube_code = ? AND lab_id = ? AND "
                         "result_at = ?", key).fetchone()
        if row is not None:
            if row[0] == item.result:
                return DUPLICATE
            db.execute("INSERT INTO result_disputes VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                       (*key, item.test_type, item.result, now))
            log.warning("results: two different results for one tube from lab %s at %s; both kept",
                        item.lab_id, item.result_at_utc)
            return CONFLICT
        db.execute("INSERT INTO results VALUES (?,?,?,?,?,?)", (*key, item.test_type, item.result, now))
        return CREATED

    def count_results(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM results").fetchone()[0]

    def person_samples(self, *, qid: str | None = None, id_number: str | None = None,
                       record_id: str | None = None) -> list[sqlite3.Row]:
        """Every closed sample of one person (or the one sample `record_id`) with each of its
        results, disputed ones too (one row per result, or one with no result)."""
        column, value = ("s.record_id", record_id) if record_id else ("p.qid", qid) if qid else \
            ("p.id_number", id_number)
        return self.db.execute(
            f"SELECT DISTINCT {SAMPLE_RESULT_COLUMNS.format(sampled=_sampled('s', 'c'))} FROM persons p"
            " JOIN samples s ON s.record_id = p.record_id AND s.status = 'closed'"
            " LEFT JOIN sample_clock c ON c.record_id = s.record_id"
            f" LEFT JOIN lab_results r ON {_belongs('s', 'c', 'r')} WHERE {column} = ?",
            (value,)).fetchall()

    def sample_readings(self, record_id: str) -> list[rule.Reading]:
        """Every result belonging to one sample, disputed ones too: what the result rule reads."""
        rows = status_module.from_rows(self.person_samples(record_id=record_id))
        return [rule.Reading(r.lab_id, r.result_at, r.result) for r in rows if r.result]

    def needing_individual_test(self) -> Iterator[dict]:
        """People who need a new individual test (central.verdict.needs_individual_test) because of
        the sample listed with them: a positive pool, or results that conflict. A person whose
        later sample has a usable result is not listed. Streaming, by tube."""
        for row in self.stream(
                f"SELECT s.record_id, s.tube_code, s.site_id, p.full_name, p.id_number, p.qid, p.phone"
                " FROM samples s JOIN persons p ON p.record_id = s.record_id"
                " LEFT JOIN sample_clock c ON c.record_id = s.record_id"
                " WHERE s.status = 'closed' AND p.full_name != '' AND EXISTS (SELECT 1 FROM"
                f" lab_results r WHERE {_belongs('s', 'c', 'r')} AND (r.result = 'positive' OR"
                f" EXISTS (SELECT 1 FROM lab_results r2 WHERE {_belongs('s', 'c', 'r2')}"
                " AND r2.result != r.result)))"        # a superset: the rule decides below
                " ORDER BY s.tube_code, s.record_id, p.position"):
            found = self._retest_reason(row)
            if found is not None:
                yield {**{k: row[k] for k in ("tube_code", "site_id", "full_name", "id_number",
                                              "qid", "phone")}, **found}

    def _retest_reason(self, row) -> dict | None:
        qid, id_number = row["qid"], row["id_number"]
        if qid:
            samples = self.person_samples(qid=qid)
        elif id_number and "*" not in id_number:
            samples = self.person_samples(id_number=id_number)
        else:                   # nobody to look up: this sample alone
            samples = self.person_samples(record_id=row["record_id"])
        return status_module.retest_reason(status_module.from_rows(samples), row["record_id"])

    # --- retention ------------------------------------------------------------------------------

    def erase_personal_data(self, cutoff: datetime, now: datetime) -> tuple[int, int]:
        """Erase the people's personal fields of samples collected before cutoff: (samples, people).

        Results, counts and the stored body's digest stay, so a late resend still reads as duplicate.
        """
        with self.transaction() as db:
            rows = db.execute(
                "SELECT s.record_id, s.body FROM samples s LEFT JOIN sample_clock c USING (record_id)"
                " WHERE s.record_id NOT IN (SELECT record_id FROM erased_samples) AND"
                f" julianday({_retained_from('s', 'c')}) < julianday(?)",
                (_utc(cutoff),)).fetchall()
            people = 0
            for record_id, body_text in rows:
                body = json.loads(body_text)
                count = len(body.get("persons", []))
                people += count
                body["persons"] = [{"erased": True} for _ in range(count)]
                db.execute("UPDATE samples SET body = ? WHERE record_id = ?",
                           (wire.canonical(body), record_id))
                db.execute(f"UPDATE persons SET {PERSONAL_COLUMNS} WHERE record_id = ?", (record_id,))
                db.execute("INSERT INTO erased_samples VALUES (?,?)", (record_id, _utc(now)))
            db.execute("UPDATE conflicts SET body = '{\"erased\":true}' WHERE "
                       "julianday(received_at) < julianday(?)", (_utc(cutoff),))
        return len(rows), people

    def personal_data_summary(self) -> dict:
        samples, oldest = self.db.execute(
            "SELECT COUNT(*), MIN(received_at) FROM samples WHERE record_id NOT IN "
            "(SELECT record_id FROM erased_samples)").fetchone()
        return {"samples_with_personal_data": samples, "oldest_received_at": oldest}
