"""A small FHIR R4 server for tests: takes transaction Bundles, validates them, stores what they create.

It does what a FHIR server does with our Bundles: validates each against two independent model
sets (fhirclient's R4 4.0.1 and fhir.resources' R4B), applies conditional creates (`ifNoneExist`
with `identifier=` OR-lists and FHIR search escaping) and conditional updates (`PUT Type?identifier=`), rewrites `urn:uuid:` references to the
created or matched resources, resolves conditional references (`Patient?identifier=...`) and
commits all or nothing. It can refuse a Bundle, or commit one and then fail to answer, on request.
"""
from __future__ import annotations

import copy
import re
import threading
import uuid
from urllib.parse import unquote

from flask import Flask, jsonify, request

from samplepoint.httpserver import BackgroundServer


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code = status, code


def _split_unescaped(text: str, sep: str, limit: int | None = None) -> list[str]:
    """Split on `sep` where it is not escaped with a backslash (FHIR search escaping)."""
    parts, current, chars = [], "", iter(text)
    for char in chars:
        if char == "\\":
            current += char + next(chars, "")
        elif char == sep and (limit is None or len(parts) < limit):
            parts.append(current)
            current = ""
        else:
            current += char
    return parts + [current]


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def parse_identifier_search(query: str) -> list[tuple[str, str]]:
    name, _, value = query.partition("=")
    if name != "identifier" or not value:
        raise Refused(400, "not-supported", "only identifier= searches are supported")
    tokens = []
    for item in _split_unescaped(unquote(value), ","):
        pieces = _split_unescaped(item, "|", limit=1)
        if len(pieces) != 2:
            raise Refused(400, "invalid", "identifier search without a system")
        tokens.append((_unescape(pieces[0]), _unescape(pieces[1])))
    return tokens


def validate_both(bundle: dict) -> None:
    from fhir.resources.R4B.bundle import Bundle as BundleR4B
    from fhirclient.models.bundle import Bundle as BundleR4

    try:
        BundleR4(bundle, strict=True)
    except Exception as exc:        # noqa: BLE001 -- any refusal of the model is a 400 here
        raise Refused(400, "structure", "R4 models: " + " ".join(str(exc).split())[:500])
    try:
        BundleR4B.model_validate(bundle)
    except Exception as exc:        # noqa: BLE001
        raise Refused(400, "structure", "R4B models: " + " ".join(str(exc).split())[:500])


class FhirReceiver:
    """The server's state: resources by (type, id), every Bundle received, failure switches."""

    def __init__(self, token: str | None = None):
        self.resources: dict[tuple[str, str], dict] = {}
        self.received: list[dict] = []          # every Bundle that reached transaction processing
        self.token = token
        self.refuse_next = 0                    # answer 500 without committing, this many times
        self.refuse_requests: set[int] = set()  # or answer 500 to these requests (1 = the first)
        self.requests = 0
        self.lose_next = 0                      # commit, then answer 500, this many times
        self.lock = threading.Lock()

    # --- search ---------------------------------------------------------------------------------

    def search(self, store: dict, resource_type: str, query: str) -> list[str]:
        tokens = parse_identifier_search(query)
        return [f"{t}/{i}" for (t, i), res in store.items() if t == resource_type and any(
            (ident.get("system"), ident.get("value")) in tokens for ident in res.get("identifier", []))]

    def of_type(self, resource_type: str) -> list[dict]:
        return [r for (t, _), r in self.resources.items() if t == resource_type]

    # --- transactions ---------------------------------------------------------------------------

    def transact(self, bundle: dict) -> dict:
        validate_both(bundle)
        if bundle.get("type") != "transaction":
            raise Refused(400, "invalid", "only transaction Bundles are accepted")
        self.received.append(copy.deepcopy(bundle))
        staged = dict(self.resources)
        mapping, answers, created = {}, [], []
        for entry in bundle.get("entry", []):
            resource, req = entry.get("resource") or {}, entry.get("request") or {}
            kind = resource.get("resourceType")
            if req.get("method") == "PUT" and str(req.get("url", "")).startswith(kind + "?"):
                self._update(staged, entry, kind, mapping, answers, created)
                continue
            if req.get("method") != "POST" or req.get("url") != kind:
                raise Refused(400, "not-supported", "only POST of a resource type, or a conditional "
                                                    "PUT, is supported")
            if not req.get("ifNoneExist"):
                raise Refused(400, "invalid", "every create must be conditional here")
            matches = self.search(staged, kind, req["ifNoneExist"])
            if len(matches) > 1:
                raise Refused(412, "multiple-matches", f"{kind}: more than one match")
            if matches:
                mapping[entry["fullUrl"]] = matches[0]
                answers.append({"status": "200 OK", "location": matches[0] + "/_history/1"})
                continue
            new_id = str(uuid.uuid4())
            stored = copy.deepcopy(resource)
            stored["id"] = new_id
            staged[(kind, new_id)] = stored
            created.append(stored)
            mapping[entry["fullUrl"]] = f"{kind}/{new_id}"
            answers.append({"status": "201 Created", "location": f"{kind}/{new_id}/_history/1"})
        for stored in created:
            self._resolve(stored, mapping, staged)
        self.resources = staged
        return {"resourceType": "Bundle", "type": "transaction-response",
                "entry": [{"response": a} for a in answers]}

    def _update(self, staged, entry, kind, mapping, answers, created) -> None:
        """Conditional update: create where nothing matches, replace the one match (same id)."""
        matches = self.search(staged, kind, entry["request"]["url"].partition("?")[2])
        if len(matches) > 1:
            raise Refused(412, "multiple-matches", f"{kind}: more than one match")
        new_id = matches[0].partition("/")[2] if matches else str(uuid.uuid4())
        stored = copy.deepcopy(entry["resource"])
        stored["id"] = new_id
        staged[(kind, new_id)] = stored
        created.append(stored)
        mapping[entry["fullUrl"]] = f"{kind}/{new_id}"
        answers.append({"status": "200 OK" if matches else "201 Created",
                        "location": f"{kind}/{new_id}"})

    def _resolve(self, node, mapping: dict, staged: dict) -> None:
        if isinstance(node, list):
            for item in node:
                self._resolve(item, mapping, staged)
        elif isinstance(node, dict):
            ref = node.get("reference")
            if isinstance(ref, str):
                if ref.startswith("urn:uuid:"):
                    if ref not in mapping:
                        raise Refused(400, "not-found", "a urn:uuid reference has no entry")
                    node["reference"] = mapping[ref]
                elif "?" in ref:
                    kind, _, query = ref.partition("?")
                    matches = self.search(staged, kind, query)
                    if len(matches) != 1:
                        raise Refused(412, "not-found", f"conditional reference to {kind}: "
                                                        f"{len(matches)} matches")
                    node["reference"] = matches[0]
            for key, value in node.items():
                if key != "reference":
                    self._resolve(value, mapping, staged)

    # --- HTTP -----------------------------------------------------------------------------------

    def app(self) -> Flask:
        app = Flask("fhir-receiver")

        @app.post("/fhir")
        def base():
            if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
                return _outcome(401, "login", "missing or wrong bearer token")
            bundle = request.get_json(force=True, silent=True)
            if not isinstance(bundle, dict):
                return _outcome(400, "structure", "not a JSON object")
            with self.lock:
                self.requests += 1
                if self.requests in self.refuse_requests:
                    return _outcome(500, "transient", "refused on request")
                if self.refuse_next:
                    self.refuse_next -= 1
                    return _outcome(500, "transient", "refused on request")
                try:
                    answer = self.transact(bundle)
                except Refused as exc:
                    return _outcome(exc.status, exc.code, str(exc))
                if self.lose_next:
                    self.lose_next -= 1
                    return _outcome(500, "transient", "committed, answer lost on request")
            return app.response_class(_json(answer), status=200, mimetype="application/fhir+json")

        return app

    def serve(self) -> BackgroundServer:
        server = BackgroundServer(self.app()).start()
        server.fhir_url = server.url + "/fhir"
        return server


def _json(body) -> str:
    import json
    return json.dumps(body, ensure_ascii=False)


def _outcome(status: int, code: str, text: str):
    response = jsonify({"resourceType": "OperationOutcome",
                        "issue": [{"severity": "error", "code": code, "diagnostics": text}]})
    response.status_code = status
    return response
