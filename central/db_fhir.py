"""The central database's SQL for FHIR export and push: samples with their results, and what was sent.

A mixin of `central.db.CentralDB` (it uses its `db` connection and `transaction()`); the push table
is migration 4 in central/db.py. A push unit is a sample (`sample:<record id>`) or one of its results
(`result:<record id>:<lab>:<result time>`), recorded per destination once the receiver accepted it.
"""
from __future__ import annotations

import json
from typing import Iterator

from central import verdict as rule
from central.db_results import _belongs, _sampled
from central.fhir import LabResult, SampleData, result_unit


# A disputed result (central/db_results.py) has no resources of its own; its unit makes the push
# send the tube's verdict again.
DISPUTE_UNIT = "'dispute:' || s.record_id || ':' || r.lab_id || ':' || r.result_at || ':' || r.result"


class FhirSQL:
    def sample_results(self, record_id: str) -> list[LabResult]:
        """The results belonging to a closed sample, oldest first (the status logic's matching)."""
        return [LabResult(*row) for row in self.db.execute(
            "SELECT r.lab_id, r.result_at, r.test_type, r.result FROM samples s"
            " LEFT JOIN sample_clock c ON c.record_id = s.record_id"
            f" JOIN results r ON {_belongs('s', 'c', 'r')}"
            " WHERE s.record_id = ? AND s.status = 'closed' ORDER BY r.result_at, r.lab_id",
            (record_id,))]

    def _fhir_rows(self, where: str, args: tuple, limit: int | None = None):
        return self.db.execute(
            f"SELECT s.record_id, s.body, {_sampled('s', 'c')} AS sampled_at,"
            " e.record_id IS NOT NULL AS erased FROM samples s"
            " LEFT JOIN sample_clock c ON c.record_id = s.record_id"
            f" LEFT JOIN erased_samples e ON e.record_id = s.record_id {where}"
            " ORDER BY s.received_at, s.record_id" + (" LIMIT ?" if limit is not None else ""),
            (*args, limit) if limit is not None else args)

    def fhir_samples(self, since: str | None = None) -> Iterator[SampleData | str]:
        """Every sample received at or after `since` with its results, oldest first, streaming;
        the record id alone (a str) for a sample whose personal fields were erased."""
        rows = self._fhir_rows("WHERE s.received_at >= ?", (since,)) if since else \
            self._fhir_rows("", ())
        for row in rows:
            if row["erased"]:
                yield row["record_id"]
                continue
            yield SampleData(json.loads(row["body"]), row["sampled_at"],
                             tuple(self.sample_results(row["record_id"])), verdict=self._verdict(row))

    def fhir_unsent(self, destination: str, limit: int) -> list[SampleData]:
        """Up to `limit` samples, oldest first, with a unit `destination` has not yet accepted;
        each holds only those units. Samples whose personal fields were erased are never sent."""
        sent_unit = "SELECT 1 FROM fhir_sent f WHERE f.destination = ? AND f.unit = "
        rows = self._fhir_rows(
            f"WHERE e.record_id IS NULL AND (NOT EXISTS ({sent_unit}'sample:' || s.record_id) OR"
            f" (s.status = 'closed' AND EXISTS (SELECT 1 FROM results r WHERE {_belongs('s', 'c', 'r')}"
            f" AND NOT EXISTS ({sent_unit}'result:' || s.record_id || ':' || r.lab_id || ':' ||"
            f" r.result_at)) OR EXISTS (SELECT 1 FROM result_disputes r WHERE {_belongs('s', 'c', 'r')}"
            f" AND NOT EXISTS ({sent_unit}{DISPUTE_UNIT}))))",
            (destination, destination, destination), limit).fetchall()
        out = []
        for row in rows:
            record_id = row["record_id"]
            prefix = f"result:{record_id}:"
            sent = {r[0] for r in self.db.execute(
                "SELECT unit FROM fhir_sent WHERE destination = ? AND (unit = ? OR"
                " substr(unit, 1, ?) = ? OR substr(unit, 1, ?) = ?)",
                (destination, f"sample:{record_id}", len(prefix), prefix, len(prefix) + 1,
                 f"dispute:{record_id}:"))}
            results = tuple(r for r in self.sample_results(record_id)
                            if result_unit(record_id, r) not in sent)
            disputes = tuple(unit for unit in self._dispute_units(record_id) if unit not in sent)
            out.append(SampleData(json.loads(row["body"]), row["sampled_at"], results,
                                  include_sample=f"sample:{record_id}" not in sent,
                                  verdict=self._verdict(row), disputes=disputes))
        return out

    def _dispute_units(self, record_id: str) -> list[str]:
        return [row[0] for row in self.db.execute(
            f"SELECT {DISPUTE_UNIT} FROM samples s LEFT JOIN sample_clock c ON c.record_id ="
            f" s.record_id JOIN result_disputes r ON {_belongs('s', 'c', 'r')}"
            " WHERE s.record_id = ? AND s.status = 'closed'", (record_id,))]

    def _verdict(self, row) -> rule.Verdict:
        """The one result rule over every result of the sample (disputed ones too), so the
        verdict a Bundle carries is the one the status API and the exports give."""
        return rule.tube_verdict(self.sample_readings(row["record_id"]))

    def fhir_erased_unsent(self, destination: str) -> int:
        """Samples erased (retention) before `destination` got them: they will never be sent."""
        return self.db.execute(
            "SELECT COUNT(*) FROM erased_samples e WHERE NOT EXISTS (SELECT 1 FROM fhir_sent f"
            " WHERE f.destination = ? AND f.unit = 'sample:' || e.record_id)",
            (destination,)).fetchone()[0]

    def mark_fhir_sent(self, destination: str, units: list[str], now: str) -> None:
        with self.transaction() as db:
            db.executemany("INSERT INTO fhir_sent VALUES (?,?,?) ON CONFLICT DO NOTHING",
                           [(destination, unit, now) for unit in units])

    def fhir_sent_count(self, destination: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM fhir_sent WHERE destination = ?",
                               (destination,)).fetchone()[0]
