"""Stored samples and their lab results as HL7 FHIR R4 transaction Bundles with conditional creates; pure.

Every resource is created with `ifNoneExist` on a business identifier (CCCD number, QID, tube record
id, result key), so sending the same data again never makes duplicates on the receiving server. The
tube's verdict (central.verdict: what all its results say together, a conflict included) is one
DiagnosticReport and one Observation per person, each a conditional update (`PUT` on its
identifier) sent again whenever a new result changes what the tube's results say. The
same input always gives the same bytes: fullUrls are name-based UUIDs of those identifiers and no
clock is read. Identifier and code systems, and their sources, are in docs/fhir.md.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Iterable
from urllib.parse import quote

from central import verdict as rule

FHIR_VERSION = "4.0.1"
DEFAULT_BASE = "urn:samplepoint:"

# National identifier systems (HL7 Vietnam VN Core community draft NamingSystems vn-cccd-ns, vn-cmnd-ns)
SID_CCCD = "http://fhir.hl7.org.vn/core/sid/cccd"
SID_CMND = "http://fhir.hl7.org.vn/core/sid/cmnd"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"

TESTS = {
    "rt-pcr": ("94500-6", "SARS-CoV-2 (COVID-19) RNA [Presence] in Respiratory specimen by NAA "
                          "with probe detection"),
    "rapid-antigen": ("94558-4", "SARS-CoV-2 (COVID-19) Ag [Presence] in Respiratory specimen by "
                                 "Rapid immunoassay"),
}
RESULT_CODES = {"positive": ("260373001", "Detected"), "negative": ("260415000", "Not detected")}
VERDICT_CODES = {**RESULT_CODES, rule.CONFLICT: ("419984006", "Inconclusive")}
VERDICT_TEXT = {rule.CONFLICT: "conflicting results for this tube: a new test is needed",
                rule.INVALID: "only invalid results for this tube"}
SPECIMEN_TYPES = {
    "nasopharyngeal-swab": ("258500001", "Nasopharyngeal swab"),
    "oropharyngeal-swab": ("258529004", "Throat swab"),
    "throat-swab": ("258529004", "Throat swab"),
    "nasal-swab": ("445297001", "Swab of internal nose"),
    "saliva": ("258560004", "Oral saliva sample"),
}
LAB_PROCEDURE = ("108252007", "Laboratory procedure")
_NAMESPACE = uuid.UUID("5b0c1f57-8d55-4f3e-9d7b-6f1c2a4e9b10")     # fullUrls: uuid5 of the key
_CCCD = re.compile(r"[0-9]{12}", re.ASCII)
_CMND = re.compile(r"[0-9]{9}", re.ASCII)


@dataclass(frozen=True)
class LabResult:
    lab_id: str
    result_at: str          # ISO 8601 with offset, as stored
    test_type: str
    result: str             # negative | positive | invalid


@dataclass(frozen=True)
class SampleData:
    """One stored sample as the central server knows it, and what of it is to be sent."""
    body: dict              # the wire body as stored (personal fields present, not erased)
    sampled_at: str         # the sampling time the status logic uses (corrected when possible)
    results: tuple[LabResult, ...] = ()
    include_sample: bool = True     # False: the sample's resources exist at the receiver already
    verdict: rule.Verdict = rule.NO_VERDICT    # of all the sample's results, sent or not
    disputes: tuple[str, ...] = ()  # push units of disputed results not sent yet (no resource each)


@dataclass(frozen=True)
class Systems:
    """Identifier systems of our own records, under one configurable base URI: `systems("qid")`."""
    base: str = DEFAULT_BASE

    def __call__(self, name: str) -> str:
        return self.base + name


def _escape(value: str) -> str:
    """FHIR search escaping of a token value (\\ | , $), then URL encoding."""
    return quote(re.sub(r"([\\|,$])", r"\\\1", value), safe="")


def search(identifiers: list[dict]) -> str:
    """`identifier=` search matching any of the identifiers (comma = OR)."""
    return "identifier=" + ",".join(quote(i["system"], safe=":/") + "|" + _escape(i["value"])
                                    for i in identifiers)


def coding(system: str, code: str, display: str) -> dict:
    return {"system": system, "code": code, "display": display}


@dataclass
class _Entry:
    """A resource created only if none matches `keys` (its conditional-create identifiers), or
    with `update`, created or replaced where its first identifier matches (conditional update)."""
    resource_type: str
    keys: list[dict]
    resource: dict
    more_identifiers: list[dict] = field(default_factory=list)
    update: bool = False

    @property
    def full_url(self) -> str:
        key = self.resource_type + "|" + search(self.keys[:1])
        return "urn:uuid:" + str(uuid.uuid5(_NAMESPACE, key))

    @property
    def conditional(self) -> str:
        return f"{self.resource_type}?{search(self.keys)}"

    def as_json(self) -> dict:
        request = {"method": "PUT", "url": f"{self.resource_type}?{search(self.keys[:1])}"} \
            if self.update else {"method": "POST", "url": self.resource_type,
                                 "ifNoneExist": search(self.keys)}
        return {"fullUrl": self.full_url,
                "resource": {"resourceType": self.resource_type,
                             "identifier": self.keys + self.more_identifiers, **self.resource},
                "request": request}


def person_identifiers(person: dict, record_id: str, position: int, systems: Systems) -> list[dict]:
    """The identifiers a person's data holds: CCCD or CMND number, QID; else a per-record key.

    Masked ID numbers (`******509`) identify nobody and are left out.
    """
    found = []
    number = person.get("id_number") or ""
    if _CCCD.fullmatch(number):
        found.append({"use": "official", "type": {"coding": [coding(V2_0203, "NI", "National unique "
                      "individual identifier")]}, "system": SID_CCCD, "value": number})
    elif _CMND.fullmatch(number):
        found.append({"use": "old", "type": {"coding": [coding(V2_0203, "NI", "National unique "
                      "individual identifier")]}, "system": SID_CMND, "value": number})
    elif number and "*" not in number:
        found.append({"use": "secondary", "system": systems("id-number"), "value": number})
    if person.get("qid"):
        found.append({"use": "secondary", "system": systems("qid"), "value": person["qid"]})
    if not found:
        found.append({"use": "temp", "system": systems("sample-person"),
                      "value": f"{record_id}/{position}"})
    return found


def _patient(person: dict, identifiers: list[dict]) -> _Entry:
    name = person["full_name"]
    words = name.split()
    human = {"use": "official", "text": name}
    if len(words) > 1:       # Vietnamese order: family name first, then middle and given names
        human.update(family=words[0], given=words[1:])
    resource = {"active": True, "name": [human], "gender": person.get("gender", "unknown")}
    if person.get("phone"):
        resource["telecom"] = [{"system": "phone", "value": person["phone"], "use": "mobile"}]
    if person.get("date_of_birth"):
        resource["birthDate"] = person["date_of_birth"]
    return _Entry("Patient", identifiers, resource)


def _reference(entry: _Entry, sent: bool) -> dict:
    return {"reference": entry.conditional if sent else entry.full_url}


class _SampleEntries:
    """The resources of one sample: patients, pool group, specimen, request, results."""

    def __init__(self, data: SampleData, systems: Systems):
        body, self.data, self.systems = data.body, data, systems
        record_id = body["record_id"]
        self.patients = [_patient(p, person_identifiers(p, record_id, i, systems))
                         for i, p in enumerate(body.get("persons", []), start=1)]
        record = [{"use": "official", "system": systems("sample-record"), "value": record_id}]
        self.test = {"coding": [coding(LOINC, *TESTS[body["test_type"]])]}
        self.pooled = len(self.patients) > 1
        self.group = _Entry("Group", record, {
            "type": "person", "actual": True, "quantity": len(self.patients),
            "name": f"Pool {body['tube_code']}",
            "member": [{"entity": self.ref(p)} for p in self.patients]}) if self.pooled else None
        subject = self.group or (self.patients[0] if self.patients else None)
        self.subject = self.ref(subject) if subject else {"display": "no person (cancelled tube)"}
        self.specimen = _Entry("Specimen", record, {})
        self.request = _Entry("ServiceRequest", record, {})
        self._fill_specimen_and_request()

    def ref(self, entry: _Entry) -> dict:
        return _reference(entry, not self.data.include_sample)

    def _fill_specimen_and_request(self) -> None:
        body, systems = self.data.body, self.systems
        tube = {"system": systems("tube-code"), "value": body["tube_code"]}
        kind = SPECIMEN_TYPES.get(body["sample_type"])
        cancelled = body.get("status") == "cancelled"
        usable = any(r.result in RESULT_CODES for r in self.data.results)
        self.specimen.resource.update({
            "status": "unavailable" if cancelled else "available",
            "type": {"coding": [coding(SNOMED, *kind)], "text": body["sample_type"]} if kind
            else {"text": body["sample_type"]},
            **({"subject": self.subject} if self.patients else {}),
            "request": [self.ref(self.request)],
            "collection": {"collector": {"identifier": {"system": systems("staff"),
                                                        "value": body["staff_id"]}},
                           "collectedDateTime": self.data.sampled_at},
            "container": [{"identifier": [tube]}]})
        self.specimen.more_identifiers = [{"use": "secondary", **tube}]    # reusable: never a key
        self.request.resource.update({
            "status": "revoked" if cancelled else "completed" if usable else "active",
            "intent": "order",
            "category": [{"coding": [coding(SNOMED, *LAB_PROCEDURE)]}],
            "code": self.test, "subject": self.subject, "authoredOn": self.data.sampled_at,
            "locationReference": [{"identifier": {"system": systems("site"), "value": body["site_id"]}}],
            "specimen": [self.ref(self.specimen)]})

    def result_entries(self, result: LabResult) -> list[_Entry]:
        """The result of the tube fanned out to each of its people, and one report for the tube."""
        systems, record_id = self.systems, self.data.body["record_id"]
        key = f"{record_id}/{result.lab_id}/{result.result_at}"
        lab = [{"identifier": {"system": systems("lab"), "value": result.lab_id}}]
        value = ({"valueCodeableConcept": {"coding": [coding(SNOMED, *RESULT_CODES[result.result])]}}
                 if result.result in RESULT_CODES else
                 {"dataAbsentReason": {"coding": [coding(DATA_ABSENT, "error", "Error")]},
                  "interpretation": [{"text": "invalid result from the lab"}]})
        note = [{"text": f"Pooled sample of {len(self.patients)} people: the result of the pool"
                         + (". Each person needs an individual test." if result.result == "positive"
                            else ".")}] if self.pooled else []
        observations = []
        for position, patient in enumerate(self.patients, start=1):
            observations.append(_Entry("Observation", [
                {"use": "official", "system": systems("result"), "value": f"{key}/{position}"}], {
                "status": "final",
                "category": [{"coding": [coding(OBSERVATION_CATEGORY, "laboratory", "Laboratory")]}],
                "code": self.test, "subject": self.ref(patient),
                "effectiveDateTime": self.data.sampled_at, "issued": result.result_at,
                "performer": lab, **value, **({"note": note} if note else {}),
                "specimen": self.ref(self.specimen), "basedOn": [self.ref(self.request)]}))
        report = _Entry("DiagnosticReport", [{"use": "official", "system": systems("result"),
                                              "value": key}], {
            "basedOn": [self.ref(self.request)], "status": "final",
            "category": [{"coding": [coding(V2_0074, "LAB", "Laboratory")]}],
            "code": self.test, "subject": self.subject,
            "effectiveDateTime": self.data.sampled_at, "issued": result.result_at,
            "performer": lab, "specimen": [self.ref(self.specimen)],
            "result": [{"reference": o.full_url} for o in observations],
            "conclusion": result.result + (f" (pool of {len(self.patients)})" if self.pooled else "")})
        if result.result in RESULT_CODES:
            report.resource["conclusionCode"] = [{"coding": [coding(SNOMED,
                                                                    *RESULT_CODES[result.result])]}]
        return observations + [report]

    def verdict_entries(self) -> list[_Entry]:
        """What the tube's results say together, for each person and for the tube (replaced on
        the receiver each time it is sent)."""
        verdict, systems, record_id = self.data.verdict, self.systems, self.data.body["record_id"]
        outcome = verdict.outcome
        value = ({"valueCodeableConcept": {"coding": [coding(SNOMED, *VERDICT_CODES[outcome])],
                                           **({"text": VERDICT_TEXT[outcome]} if outcome in
                                              VERDICT_TEXT else {})}}
                 if outcome in VERDICT_CODES else
                 {"dataAbsentReason": {"coding": [coding(DATA_ABSENT, "error", "Error")]}})
        retest = rule.needs_individual_test(verdict, self.pooled)
        note = [{"text": "Verdict of every result of this tube. Each person needs an individual test."
                 if retest else "Verdict of every result of this tube."}]
        issued = verdict.at.isoformat(timespec="milliseconds")
        observations = [_Entry("Observation", [
            {"use": "official", "system": systems("verdict"), "value": f"{record_id}/{position}"}], {
            "status": "final",
            "category": [{"coding": [coding(OBSERVATION_CATEGORY, "laboratory", "Laboratory")]}],
            "code": self.test, "subject": self.ref(patient), "effectiveDateTime": self.data.sampled_at,
            "issued": issued, **value, "note": note, "specimen": self.ref(self.specimen),
            "basedOn": [self.ref(self.request)]}, update=True)
            for position, patient in enumerate(self.patients, start=1)]
        report = _Entry("DiagnosticReport", [{"use": "official", "system": systems("verdict"),
                                              "value": record_id}], {
            "basedOn": [self.ref(self.request)], "status": "final",
            "category": [{"coding": [coding(V2_0074, "LAB", "Laboratory")]}],
            "code": self.test, "subject": self.subject, "effectiveDateTime": self.data.sampled_at,
            "issued": issued, "specimen": [self.ref(self.specimen)],
            "result": [{"reference": o.full_url} for o in observations],
            "conclusion": VERDICT_TEXT.get(outcome, outcome) + (
                f" (pool of {len(self.patients)})" if self.pooled else "")}, update=True)
        if outcome in VERDICT_CODES:
            report.resource["conclusionCode"] = [{"coding": [coding(SNOMED, *VERDICT_CODES[outcome])]}]
        return observations + [report]

    def entries(self) -> list[_Entry]:
        out = []
        if self.data.include_sample:
            out += self.patients + ([self.group] if self.group else []) + [self.specimen, self.request]
        for result in sorted(self.data.results, key=lambda r: (r.result_at, r.lab_id)):
            if self.patients:
                out += self.result_entries(result)
        if self.patients and (self.data.results or self.data.disputes) and self.data.verdict.outcome:
            out += self.verdict_entries()
        return out


def bundle(samples: Iterable[SampleData], systems: Systems = Systems()) -> dict:
    """One transaction Bundle for the given samples; a person in several samples is created once."""
    entries, seen = [], set()
    for data in samples:
        for entry in _SampleEntries(data, systems).entries():
            if entry.full_url not in seen:
                seen.add(entry.full_url)
                entries.append(entry.as_json())
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def units(data: SampleData) -> list[str]:
    """The push units a SampleData carries: its sample (when included) and each result."""
    record_id = data.body["record_id"]
    out = [f"sample:{record_id}"] if data.include_sample else []
    return out + [result_unit(record_id, r) for r in data.results] + list(data.disputes)


def result_unit(record_id: str, result: LabResult) -> str:
    return f"result:{record_id}:{result.lab_id}:{result.result_at}"


class InvalidBundle(ValueError):
    """A Bundle the FHIR R4 models refuse; the message names paths, never values."""


def validate(bundle_json: dict) -> None:
    """Check a Bundle against the FHIR R4 (4.0.1) resource models of the `fhirclient` library."""
    from fhirclient.models.bundle import Bundle
    from fhirclient.models.fhirabstractbase import FHIRValidationError

    try:
        Bundle(bundle_json, strict=True)
    except FHIRValidationError as exc:
        raise InvalidBundle(" ".join(str(exc).split())) from None
    except (TypeError, ValueError) as exc:
        raise InvalidBundle(type(exc).__name__) from None
