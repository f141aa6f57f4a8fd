"""Administrator pages: accounts, management-grid assignments, API tokens and the audit log."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from web import storage
from web.i18n import city_timezone
from web.security import spreadsheet_text
from web.services.accounts import MIN_PASSWORD_LENGTH, USERNAME, hash_password
from web.storage import accounts as account_store
from web.storage import tokens as token_store
from web.views.access import audit, get_engine, roles_required
from web.views.auth import PASSWORD_FORM_MAX

bp = Blueprint("admin", __name__, url_prefix="/admin")


DISPLAY_NAME_MAX = 80


def _display_name(text: str) -> str:
    """The name shown for an account: one line of at most DISPLAY_NAME_MAX characters."""
    name = " ".join(str(text).split())
    if len(name) > DISPLAY_NAME_MAX:
        raise ValueError(_("A name has at most %(n)d characters.", n=DISPLAY_NAME_MAX))
    return name


def _password_hash(password: str) -> str:
    """The hash of a new password, or ValueError in the page's language: at least
    MIN_PASSWORD_LENGTH characters, and at most what the login form takes (a longer one could
    never be used to log in)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(_("A password has at least %(n)d characters.", n=MIN_PASSWORD_LENGTH))
    if len(password) > PASSWORD_FORM_MAX:
        raise ValueError(_("A password has at most %(n)d characters.", n=PASSWORD_FORM_MAX))
    return hash_password(password)


def _check_grids(grids: list[str]) -> None:
    """Raise ValueError naming grid ids that are not stored grids."""
    if not grids:
        return
    known = set(storage.list_areas(get_engine()).query("kind == 'grid'")["area_id"])
    unknown = [g for g in grids if g not in known]
    if unknown:
        raise ValueError(_("Unknown grid id(s): %(ids)s", ids=", ".join(unknown)))


def _grid_ids(form) -> list[str]:
    """The grid ids picked in a form (one ``grids`` value per ticked box; a value holding
    several ids separated by commas is split, as scripts sent them before)."""
    picked = []
    for value in form.getlist("grids"):
        picked += [part.strip() for part in value.replace("，", ",").split(",") if part.strip()]
    return list(dict.fromkeys(picked))


def _stored_grids() -> list[tuple[str, str]]:
    """(id, label) of every stored management grid, for the boxes to tick."""
    areas = storage.list_areas(get_engine())
    grids = areas[areas["kind"] == "grid"]
    out = []
    names = grids["name"].fillna("").astype(str)
    for gid, name in zip(grids["area_id"].astype(str), names, strict=True):
        out.append((gid, f"{name} ({gid})" if name and name != gid else gid))
    return out


@bp.get("/users")
@roles_required("admin")
def users():
    """Every account, with a form to create one."""
    return _users_page({})


def _users_page(typed: dict[str, object], status: int = 200):
    """The accounts page; ``typed`` refills the new-account form after an error (never the
    password)."""
    page = render_template(
        "admin/users.html",
        users=storage.list_users(get_engine()),
        roles=storage.ROLES,
        grids=_stored_grids(),
        form=typed,
    )
    return page, status


@bp.post("/users")
@roles_required("admin")
def create_user():
    """Create an account (and assign its grids when it is a grid worker's)."""
    form = request.form
    username = form.get("username", "").strip()
    role = form.get("role", "")
    try:
        if not USERNAME.fullmatch(username):
            raise ValueError(_("A user name has 2 to 40 letters, digits, dots, dashes or "
                               "underscores, starting with a letter or digit."))  # fmt: skip
        if not role:  # no role is preselected: least privilege unless one is chosen
            raise ValueError(_("Choose a role."))
        if role not in storage.ROLES:
            raise ValueError(_("Unknown role %(role)s.", role=role))
        grids = _grid_ids(form)
        if grids and role != "grid_worker":
            raise ValueError(_("Only grid workers are assigned grids."))
        if storage.get_user_by_name(get_engine(), username) is not None:
            raise ValueError(_("The user name %(name)s is taken.", name=username))
        _check_grids(grids)  # before creating, so a bad id leaves nothing half-made
        user_id = storage.create_user(
            get_engine(),
            username,
            _password_hash(form.get("password", "")),
            role,
            display_name=_display_name(form.get("display_name", "")),
        )
        if grids:
            storage.set_user_grids(get_engine(), user_id, grids)
    except ValueError as err:
        flash(str(err), "error")
        typed: dict[str, object] = {
            k: form.get(k, "") for k in ("username", "display_name", "role")
        }
        typed["grids"] = _grid_ids(form)
        return _users_page(typed, 400)
    audit("user_created", f"{username} ({role}){' grids ' + ', '.join(grids) if grids else ''}")
    flash(_("Account %(name)s created.", name=username), "success")
    return redirect(url_for("admin.users"))


@bp.get("/grids")
@roles_required("admin")
def grids_map():
    """The management grids on a map with their grid workers; grids nobody has stand out."""
    import folium

    from web.maps.render import centred_map, frame_bounds, label_areas, map_parts, map_text

    engine = get_engine()
    accounts = storage.list_users(engine)
    workers: dict[str, list[str]] = {}
    for row in accounts[accounts["role"] == "grid_worker"].itertuples():
        name = str(row.display_name or row.username)
        for gid in filter(None, str(row.grids).split(", ")):
            workers.setdefault(gid, []).append(
                name if row.active else _("%(name)s (disabled)", name=name)
            )
    shapes = storage.load_areas_table(engine, "grid")
    rows = [
        {"id": str(gid), "name": str(name or ""), "workers": workers.get(str(gid), [])}
        for gid, name in zip(shapes["area_id"], shapes["name"], strict=True)
    ]
    bounds = frame_bounds(shapes)
    fmap = centred_map(
        bounds,
        zoom_start=12,
        tile_url=str(current_app.config["TILE_URL"]) or None,
        tile_attribution=str(current_app.config["TILE_ATTRIBUTION"]) or None,
    )
    if len(shapes):
        shapes = shapes.assign(
            label=[map_text(f"{r['name']} ({r['id']})" if r["name"] else r["id"]) for r in rows],
            people=[map_text(", ".join(r["workers"]) or _("nobody assigned")) for r in rows],
            assigned=[bool(r["workers"]) for r in rows],
        )
        layer = folium.GeoJson(
            shapes[["area_id", "label", "people", "assigned", "geometry"]].to_json(),
            name=map_text(_("Management grids")),
            style_function=lambda f: {
                "color": "#1a3d7c" if f["properties"]["assigned"] else "#c0392b",
                "fillColor": "#1a3d7c" if f["properties"]["assigned"] else "#e67e22",
                "weight": 2,
                "fillOpacity": 0.15 if f["properties"]["assigned"] else 0.45,
            },
            tooltip=folium.GeoJsonTooltip(
                fields=["label", "people"],
                aliases=[map_text(_("Grid")), map_text(_("Grid workers"))],
            ),
        ).add_to(fmap)
        label_areas(layer, "area_id", "grid")
        if bounds is not None:
            fmap.fit_bounds(bounds)
    return render_template(
        "admin/grids.html",
        map_parts=map_parts(fmap),
        grids=rows,
        unassigned=[r for r in rows if not r["workers"]],
    )


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@roles_required("admin")
def edit_user(user_id: int):
    """Change an account's role, status, password or grids."""
    record = storage.get_user(get_engine(), user_id)
    if record is None:
        abort(404, description=f"no account with id {user_id}")
    if request.method == "POST":
        form = request.form
        role = form.get("role", record.role)
        active = form.get("active") == "on"
        password = form.get("password", "")
        grids = _grid_ids(form)
        try:
            if role not in storage.ROLES:
                raise ValueError(_("Unknown role %(role)s.", role=role))
            if record.id == _current_id() and (role != "admin" or not active):
                raise ValueError(_("You cannot remove your own administrator access."))
            if grids and role != "grid_worker":
                raise ValueError(_("Only grid workers are assigned grids."))
            _check_grids(grids)
            display_name = _display_name(form.get("display_name", record.display_name))
            new_hash = _password_hash(password) if password else None
            # Everything is checked above: the two writes below cannot be refused halfway.
            storage.set_user_grids(get_engine(), user_id, grids if role == "grid_worker" else [])
            storage.update_user(
                get_engine(),
                user_id,
                role=role,
                active=active,
                password_hash=new_hash,
                display_name=display_name,
            )
        except ValueError as err:
            flash(str(err), "error")
            typed = {"display_name": form.get("display_name", ""), "role": role,
                     "active": active, "grids": grids}  # fmt: skip
            return _user_page(record, typed, 400)
        changes = [f"role {role}", "active" if active else "disabled"]
        if new_hash:
            changes.append("password reset")
        changes.append("grids " + (", ".join(grids) or "none"))
        audit("user_changed", f"{record.username}: " + "; ".join(changes))
        flash(_("Account %(name)s saved.", name=record.username), "success")
        return redirect(url_for("admin.users"))
    assigned = storage.user_grid_ids(get_engine(), user_id)
    stored = {"display_name": record.display_name, "role": record.role,
              "active": record.active, "grids": assigned}  # fmt: skip
    return _user_page(record, stored)


def _user_page(record: storage.UserRecord, typed: dict[str, object], status: int = 200):
    """An account's form, filled with ``typed`` (the stored values, or what was typed before
    an error; never the password)."""
    page = render_template(
        "admin/user.html", user=record, roles=storage.ROLES, form=typed, grids=_stored_grids()
    )
    return page, status


def _current_id() -> int | None:
    from flask_login import current_user

    return current_user.id if current_user.is_authenticated else None


#: The actions the site and the command line write to the audit log, with their labels.
AUDIT_ACTIONS = {
    "login": _l("Login"),
    "login_failed": _l("Failed login"),
    "login_throttled": _l("Login slowed down"),
    "logout": _l("Logout"),
    "forbidden": _l("Refused page"),
    "user_created": _l("Account created"),
    "user_changed": _l("Account changed"),
    "token_created": _l("API token created"),
    "token_revoked": _l("API token revoked"),
    "token_used": _l("API token used"),
    "token_refused": _l("API token refused"),
    "import": _l("Incidents imported"),
    "areas_loaded": _l("Areas loaded"),
    "stations_loaded": _l("Stations loaded"),
    "report_category": _l("Report category changed"),
    "score_run": _l("Scores computed"),
    "plan_generated": _l("Plan generated"),
    "plan_replanned": _l("Plan re-planned during the shift"),
    "plan_edited": _l("Plan edited"),
    "plan_published": _l("Plan published"),
    "plan_cancelled": _l("Plan job cancelled"),
    "plan_exported": _l("Plan exported"),
    "checkin": _l("Check-in"),
    "field_report": _l("Event report"),
    "field_report_review": _l("Event report reviewed"),
    "feed": _l("Incident feed"),
    "warning_raised": _l("Warning raised"),
    "warning_acknowledged": _l("Warning acknowledged"),
}
AUDIT_PAGE_ROWS = 500  # entries a page shows at most
AUDIT_CSV_ROWS = 50_000  # entries a CSV export holds at most


def _audit_filters() -> dict[str, str]:
    """The audit filters of the query string (as typed, for the form)."""
    args = request.args
    return {k: args.get(k, "").strip() for k in ("start", "end", "user", "action")}


def _audit_entries(typed: dict[str, str], limit: int):
    """The entries the filters select (newest first, at most ``limit``); ValueError names a
    date that is not one."""
    timezone = ZoneInfo(city_timezone())

    def day_start(text: str, name: str) -> int | None:
        if not text:
            return None
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError(_("%(field)s: not a date (YYYY-MM-DD).", field=name)) from None
        return int(datetime.combine(day, time(), timezone).timestamp())

    start_s = day_start(typed["start"], _("From"))
    end_day = day_start(typed["end"], _("To"))
    end_s = None if end_day is None else end_day + 86_400  # "to" includes its day
    if start_s is not None and end_s is not None and end_s <= start_s:
        raise ValueError(_("To: must not be before From."))
    return storage.list_audit(
        get_engine(),
        limit=limit,
        action=typed["action"] or None,
        start_s=start_s,
        end_s=end_s,
        username=typed["user"] or None,
    )


def _action_names() -> dict[str, str]:
    names = {code: str(label) for code, label in AUDIT_ACTIONS.items()}
    for code in account_store.audit_actions(get_engine()):
        names.setdefault(code, code)
    return names


@bp.get("/audit")
@roles_required("admin")
def audit_log():
    """The newest audit entries, filtered by date range, user and action."""
    typed = _audit_filters()
    status = 200
    try:
        entries = _audit_entries(typed, AUDIT_PAGE_ROWS)
    except ValueError as err:
        flash(str(err), "error")
        entries, status = storage.list_audit(get_engine(), limit=0), 400
    page = render_template(
        "admin/audit.html",
        entries=entries,
        filters=typed,
        action_names=_action_names(),
        usernames=list(storage.list_users(get_engine())["username"]),
        limit=AUDIT_PAGE_ROWS,
        csv_limit=AUDIT_CSV_ROWS,
    )
    return page, status


@bp.get("/audit.csv")
@roles_required("admin")
def audit_csv():
    """The entries the filters select as CSV (UTF-8 with BOM, for Excel and WPS), newest
    first, at most AUDIT_CSV_ROWS."""
    typed = _audit_filters()
    try:
        entries = _audit_entries(typed, AUDIT_CSV_ROWS)
    except ValueError as err:
        abort(400, description=str(err))
    names = _action_names()
    timezone = ZoneInfo(city_timezone())
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_("Time"), _("User"), _("Action"), _("Action code"), _("Detail"),
                     _("Address")])  # fmt: skip
    for e in entries.itertuples():
        at = datetime.fromtimestamp(int(e.at), timezone).strftime("%Y-%m-%d %H:%M:%S")
        row = [at, e.username, names.get(e.action, e.action), e.action, e.detail, e.ip]
        writer.writerow([spreadsheet_text(v) for v in row])
    parts = ["audit"] + [typed[k] for k in ("start", "end") if typed[k]]
    response = current_app.response_class(
        "\ufeff" + out.getvalue(), mimetype="text/csv", content_type="text/csv; charset=utf-8"
    )
    response.headers["Content-Disposition"] = f'attachment; filename="{"_".join(parts)}.csv"'
    return response


@bp.get("/tokens")
@roles_required("admin")
def tokens():
    """API tokens of machine clients, with a form to make one."""
    return _tokens_page()


def _tokens_page(new_token: str | None = None, new_name: str = "", status: int = 200):
    response = current_app.make_response((
        render_template(
            "admin/tokens.html",
            tokens=token_store.list_tokens(get_engine()),
            scopes=token_store.SCOPES,
            new_token=new_token,
            new_name=new_name,
        ),
        status,
    ))  # fmt: skip
    # A page showing a new token is never kept by the browser or a proxy.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/tokens")
@roles_required("admin")
def create_token():
    """Make a token and show it, this once (only its hash is stored)."""
    name = request.form.get("name", "").strip()
    scope = request.form.get("scope", "")
    # Said in the page's language; the store checks the same again (in English for the CLI).
    problem = None
    if not token_store.NAME.fullmatch(name):
        problem = _("a token name has 2 to 80 letters, digits, dots, dashes or underscores")
    elif scope not in token_store.SCOPES:
        problem = _("choose a scope")
    elif any(t.name.lower() == name.lower() for t in token_store.list_tokens(get_engine())):
        problem = _("a token named %(name)s exists already", name=name)
    if problem is not None:
        flash(_("The token was not made: %(reason)s", reason=problem), "error")
        return redirect(url_for("admin.tokens"))
    try:
        record, token = token_store.create_token(
            get_engine(), name, scope, created_by=_current_id()
        )
    except ValueError as err:
        flash(_("The token was not made: %(reason)s", reason=str(err)), "error")
        return redirect(url_for("admin.tokens"))
    audit("token_created", f"{record.name} (scope {record.scope}, {record.hint}...)")
    return _tokens_page(new_token=token, new_name=record.name)


@bp.post("/tokens/<int:token_id>/revoke")
@roles_required("admin")
def revoke_token(token_id: int):
    """Revoke a token once the form confirms it (clients using it are refused at once)."""
    record = token_store.get_token(get_engine(), token_id)
    if record is None:
        abort(404, description=f"no token with id {token_id}")
    if request.form.get("confirm") != record.name:
        flash(_("Type the token's name to confirm revoking it."), "error")
        return redirect(url_for("admin.tokens"))
    if record.revoked_at is None:
        token_store.revoke_token(get_engine(), record.name)
        audit("token_revoked", f"{record.name} (scope {record.scope})")
    flash(_("Token %(name)s revoked.", name=record.name), "success")
    return redirect(url_for("admin.tokens"))
