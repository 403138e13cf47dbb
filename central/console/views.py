"""The console's pages: sign-in, fleet, samples and person look-ups, results upload, retests, exports,
audit log. Every export and every look-up of people is written to the audit log."""
from __future__ import annotations

import io
import logging
import re
import tempfile
from datetime import date, datetime, timezone

from flask import (Blueprint, abort, current_app, g, redirect, render_template, request, send_file,
                   session, url_for)
from flask_login import current_user, login_user, logout_user

from central import export as exports
from central import results_api
from central.commands import write_needs_retest
from central.console import auth, fleet as fleet_module
from central.console.forms import (ExportForm, PersonForm, ResultsForm, RetestForm, SignInForm,
                                   SignOutForm)
from central.console.i18n import LANGUAGES, catalog, problem_text, translator
from central.export import zone_label
from central.importer import import_csv
from central.rate_limits import Held, SignInLimiter
from central.requests_common import central_db
from central.results import CsvFileError
from samplepoint.clock import tz_from_offset

log = logging.getLogger(__name__)
blueprint = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
                      static_folder="static", static_url_path="/static")
SHOWN_PROBLEMS = 200
SIGN_IN_WINDOW_S = 300.0
AUDIT_PAGE = 50
_ENTRY_ID = re.compile(r"[0-9]{1,18}")


def settings():
    return current_app.extensions["central_settings"]


def report_tz():
    return tz_from_offset(settings().report_utc_offset)


def now() -> datetime:
    return current_app.extensions["central_clock"]()


def audit(action: str, detail: str = "") -> None:
    central_db().audit(current_user.get_id() or "-", action, detail)


def printable(text: str) -> str:
    """`text` without control characters (no account name holds one; PostgreSQL cannot even
    store a NUL), trimmed."""
    return "".join(c for c in text if c.isprintable()).strip()


def mask(value: str) -> str:
    """The audit log names a person by the last 4 characters only (it is itself read by people)."""
    return "…" + value[-4:] if len(value) > 4 else "…"


# --- every page --------------------------------------------------------------------------------

@blueprint.before_request
def language():
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        session["lang"] = asked
    g.lang = session.get("lang") if session.get("lang") in LANGUAGES else settings().console_language
    g.t = translator(g.lang)


@blueprint.after_request
def headers(response):
    # Pages name people: never cached, never framed, nothing but our own files.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'")
    return response


@blueprint.app_context_processor
def page_helpers():
    if not request.path.startswith("/console") and request.path != "/":
        return {}
    lang = getattr(g, "lang", settings().console_language)
    t = getattr(g, "t", translator(lang))
    tz = report_tz()

    def when(moment, with_date=True):
        if not moment:
            return "—"
        if isinstance(moment, str):
            moment = fleet_module._aware(moment)
        local = moment.astimezone(tz)
        return local.strftime("%d/%m/%Y %H:%M" if with_date else "%H:%M")

    def ago(seconds):
        if seconds is None:
            return t("ago.never")
        seconds = max(0, int(seconds))
        for limit, unit, size in ((120, "s", 1), (7200, "min", 60), (172800, "h", 3600)):
            if seconds < limit:
                return t("ago." + unit, n=seconds // size)
        return t("ago.d", n=seconds // 86400)

    other = "en" if lang == "vi" else "vi"
    return {"t": t, "lang": lang, "other_lang": other, "when": when, "ago": ago,
            "zone": zone_label(tz), "switch_url": request.path + "?lang=" + other,
            "sign_out_form": SignOutForm(), "user": current_user}


# --- signing in --------------------------------------------------------------------------------

def _sign_in_limiter() -> SignInLimiter:
    """Failures per address and per account, counted in the database for every worker."""
    return current_app.extensions.setdefault(
        "console_sign_in_limiter", SignInLimiter(central_db(), window_s=SIGN_IN_WINDOW_S))


def _sign_in_page(problem: str | None, code: int, form=None, headers=None):
    return render_template("sign_in.html", form=form or SignInForm(), problem=problem), code, \
        headers or {}


@blueprint.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    form = SignInForm()
    if request.method == "GET":
        return _sign_in_page(g.t("sign_in.needed") if request.args.get("next") else None, 200, form)
    if not (form.username.data or "").isprintable():
        # A name with control characters is no account's name: say so rather than strip them.
        return _sign_in_page(g.t("sign_in.bad_name"), 400, form)
    if not form.validate_on_submit():                  # no password was checked: nothing counted
        return _sign_in_page(g.t("sign_in.expired") if "csrf_token" in form.errors
                             else g.t("sign_in.wrong"), 401, form)
    username, address = form.username.data.strip(), request.remote_addr or "?"
    held = _sign_in_limiter().attempt(address, username.lower())
    row = central_db().user(username)
    account = row["username"] if row else "-"        # never a typed name that is no account
    if not isinstance(held, Held):
        central_db().audit_repeated(account, "sign-in-limited", address, SIGN_IN_WINDOW_S)
        return _sign_in_page(g.t("sign_in.limited", minutes=max(1, round(held / 60))), 429, form,
                             {"Retry-After": str(max(1, round(held)))})
    good, rehash = auth.check_password(row["password_hash"] if row else auth.DUMMY_HASH,
                                       form.password.data)
    if not (row and good and not row["disabled"]):
        central_db().audit_repeated(account, "sign-in-refused", address, SIGN_IN_WINDOW_S)
        return _sign_in_page(g.t("sign_in.wrong"), 401, form)
    _sign_in_limiter().succeeded(held)
    if rehash:
        central_db().set_password_hash(row["username"], rehash)
    _fresh_session()
    session.regenerate()                              # a new session id: no fixation
    login_user(auth.User(row["username"], row["role"]))
    central_db().audit(row["username"], "sign-in", address)
    return redirect(_next_page())


def _next_page() -> str:
    target = request.args.get("next", "")
    # Only our own console paths: never an open redirect to another site.
    if target.startswith("/console/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("console.fleet")


@blueprint.post("/sign-out")
def sign_out():
    """Signing out ends every session of the account, on every browser it signed in from."""
    if SignOutForm().validate_on_submit() and current_user.is_authenticated:
        ended = central_db().end_console_sessions(current_user.get_id())
        audit("sign-out", f"{ended} session(s) ended")
        logout_user()
        _fresh_session()
    return redirect(url_for("console.sign_in"))


def _fresh_session() -> None:
    """Nothing of the session before, but the language it chose."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


# --- fleet ---------------------------------------------------------------------------------------

@blueprint.get("/")
@auth.requires("fleet")
def fleet():
    tz = report_tz()
    today = now().astimezone(tz).date()
    try:
        day = date.fromisoformat(request.args.get("day", "")) if request.args.get("day") else today
    except ValueError:
        day = today
    db = central_db()
    names = db.site_names()
    devices = fleet_module.device_rows(db.device_overview(), db.device_quarantine(), names, now())
    counts = fleet_module.hourly_counts(db.sampling_times(*fleet_module.day_bounds(day, tz)), tz)
    today_counts = counts if day == today else fleet_module.hourly_counts(
        db.sampling_times(*fleet_module.day_bounds(today, tz)), tz)
    title = g.t("fleet.chart", day=day.strftime("%d/%m/%Y"), zone=zone_label(tz))
    chart = fleet_module.chart_svg(counts, names, title) if counts else None
    totals = [(site, names.get(site, ""), sum(series)) for site, series in today_counts.items()]
    return render_template("fleet.html", devices=devices, chart=chart, chart_title=title,
                           day=day.isoformat(), totals=totals,
                           total=sum(n for _, _, n in totals))


# --- samples and people --------------------------------------------------------------------------

@blueprint.get("/samples")
@auth.requires("samples")
def samples():
    code = printable(request.args.get("code", ""))[:64]
    found = []
    if code:
        found = list(central_db().find_samples(code))
        audit("sample-lookup", f"{code}: {len(found)} found")
    return render_template("samples.html", code=code, found=found, person_form=PersonForm(),
                           status=None, may_see_people=current_user.may("persons"))


@blueprint.post("/person")
@auth.requires("persons")
def person():
    form = PersonForm()
    status, problem = None, None
    if form.validate_on_submit():
        value = form.value.data.strip()
        answer = results_api.lookup({form.kind.data: value})
        if isinstance(answer, tuple):
            problem = g.t("person.bad")
        else:
            status = answer
            audit("person-lookup", f"{form.kind.data} {mask(value)}: {answer['state']}")
    else:
        problem = g.t("sign_in.expired") if "csrf_token" in form.errors else g.t("person.bad")
    return render_template("samples.html", code="", found=[], person_form=form, status=status,
                           problem=problem, may_see_people=True), 400 if problem else 200


# --- results -------------------------------------------------------------------------------------

@blueprint.route("/results", methods=["GET", "POST"])
@auth.requires("results")
def results():
    form = ResultsForm()      # the file's size limit: central_server.results_upload_max_mib
    report = None
    if request.method == "POST":
        upload = request.files.get("file")
        if not form.validate_on_submit():
            report = {"error": g.t("sign_in.expired")}
        elif upload is None or not upload.filename:
            report = {"error": g.t("results.missing")}
        else:
            report = _import(upload)
    return render_template("results.html", form=form, report=report,
                           results_zone=settings().results_utc_offset)


def _import(upload) -> dict:
    problems: list[tuple[int, str, str]] = []
    total = 0

    def on_problem(line: int, problem: str, tube_code: str) -> None:
        nonlocal total
        total += 1
        if len(problems) < SHOWN_PROBLEMS:
            problems.append((line, problem_text(problem, g.lang), tube_code))
    name = upload.filename[-80:]
    try:
        counts = import_csv(central_db(), upload.stream,
                            tz=tz_from_offset(settings().results_utc_offset),
                            now=datetime.now(timezone.utc), on_problem=on_problem)
    except CsvFileError as exc:
        audit("results-upload-refused", f"{name}: {exc}")
        return {"error": g.t("results.unreadable", reason=str(exc))}
    audit("results-upload", f"{name}: {dict(sorted(counts.items()))}")
    return {"name": name, "created": counts.get("created", 0),
            "duplicate": counts.get("duplicate", 0), "problems": problems, "total": total,
            "more": total - len(problems)}


@blueprint.get("/retest")
@auth.requires("persons")
def retest():
    rows = list(central_db().needing_individual_test())
    audit("retest-list", f"{len(rows)} people")
    return render_template("retest.html", rows=rows, form=RetestForm())


@blueprint.post("/retest.csv")
@auth.requires("persons")
def retest_csv():
    if not RetestForm().validate_on_submit():
        abort(400)
    text = io.StringIO()
    text.write(exports.BOM)
    rows = write_needs_retest(central_db(), text, report_tz())
    audit("export", f"needs-retest csv: {rows} rows")
    return send_file(io.BytesIO(text.getvalue().encode("utf-8")), mimetype="text/csv",
                     as_attachment=True, download_name=f"can-xet-nghiem-lai-{now():%Y%m%d-%H%M}.csv")


# --- exports -------------------------------------------------------------------------------------

@blueprint.route("/export", methods=["GET", "POST"])
@auth.requires("export")
def export():
    form = ExportForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return render_template("export.html", form=form, problem=g.t("sign_in.expired")), 400
        since = None
        if form.since.data:
            start = datetime.combine(form.since.data, datetime.min.time(), report_tz())
            since = start.astimezone(timezone.utc).isoformat(timespec="milliseconds")
        fmt = form.format.data
        out = tempfile.TemporaryFile()
        rows = exports.EXPORTERS[fmt](central_db().export_samples(since), out, tz=report_tz(),
                                      lang=form.columns.data)
        out.seek(0)
        audit("export", f"{fmt}, columns {form.columns.data}, since {form.since.data or 'all'}: "
                        f"{rows} {'samples' if fmt == 'jsonl' else 'rows'}")
        name = f"mau-xet-nghiem-{now().astimezone(report_tz()):%Y%m%d-%H%M}{exports.SUFFIXES[fmt]}"
        return send_file(out, mimetype=exports.MEDIA_TYPES[fmt], as_attachment=True,
                         download_name=name)
    return render_template("export.html", form=form, problem=None)


# --- audit ---------------------------------------------------------------------------------------

@blueprint.get("/audit")
@auth.requires("audit")
def audit_log():
    """The audit log a page at a time, newest first, filtered by action or user."""
    actions = audit_actions()
    action = request.args.get("action") if request.args.get("action") in actions else None
    username = printable(request.args.get("user", ""))[:64] or None
    entries, newer, older = central_db().audit_page(
        AUDIT_PAGE, before=_entry_id(request.args.get("before")),
        after=_entry_id(request.args.get("after")), action=action, username=username)
    filters = {name: value for name, value in (("action", action), ("user", username)) if value}
    paged = bool(request.args.get("before") or request.args.get("after"))
    return render_template(
        "audit.html", entries=entries, actions=actions, action=action, username=username or "",
        newer_url=url_for("console.audit_log", after=entries[0]["id"], **filters) if newer else None,
        older_url=url_for("console.audit_log", before=entries[-1]["id"], **filters) if older else None,
        newest_url=url_for("console.audit_log", **filters) if paged else None)


def audit_actions() -> list[str]:
    """Every action the audit log names (each has its text in the catalogs)."""
    return [key[len("action."):] for key in catalog("vi") if key.startswith("action.")]


def _entry_id(text: str | None) -> int | None:
    return int(text) if text and _ENTRY_ID.fullmatch(text) else None
