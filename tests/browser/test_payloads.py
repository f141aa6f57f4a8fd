"""Script payloads in every admin-controlled name, every page opened as each role: nothing runs.

Issue 12. The demo database is built as tests/browser/conftest.py's live_server builds it, then
the names an administrator controls are overwritten with script payloads through the
product's own storage functions: station ids and names, grid, jurisdiction and urban-core
names (and the ids of grid1's grids, reassigned), a district layer loaded through
`hotspot areas load` whose ids and names are payloads, category names (English and Chinese)
and group, account display names, the city's name and audit entries. A plan generated and
published afterwards carries the payloads into its units, stops and briefings.

Each role logs in and opens every page it can open, in English and in Chinese; map tooltips
and popups are opened (real mouse hovers on station markers, then every feature with a
tooltip or popup), layers toggled and cells explained on the hotspot map. A page fails on
any dialog (every payload calls alert), any console error (the Content-Security-Policy
reports a blocked inline script or handler as one), any failed or non-local request, and any
payload found as markup in the DOM (an ``on*`` attribute calling alert, a ``javascript:``
link, a script element without the page's nonce).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner

from tests.browser.conftest import WatchedPage, demo_database, serving
from tests.web.conftest import PASSWORDS
from web import create_app, storage
from web.cli import cli

pytestmark = pytest.mark.browser

# Each calls alert with its own number, so a dialog names the payload that ran.
PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "${alert(2)}",
    '"><script>alert(3)</script>',
    "`-alert(4)-`",
    "javascript:alert(5)",
    "'};alert(6);//",
    "</script><svg onload=alert(7)>",
    "{{7*7}}<b onmouseover=alert(8)>x</b>\\`${alert(9)}",
]
# Ids end up in URLs (briefings per unit, area filters): no slash in these.
ID_PAYLOADS = [
    "<img src=x onerror=alert(21)>",
    "${alert(22)}",
    "`-alert(23)-`",
    "'};alert(24);x='",
    '"><svg onload=alert(25)>',
]
SECRET = "browser-payloads-" + "k" * 24


def payload(i: int, tag: str = "") -> str:
    """The i-th payload (cycling), with a tag so the page's text tells which name it is."""
    return f"{tag}{PAYLOADS[i % len(PAYLOADS)]}"


@dataclass
class Site:
    url: str
    db_url: str
    engine: object
    plan_ids: list[int]
    payload_plan: int
    user_ids: dict[str, int]
    district_ids: list[str] = field(default_factory=list)


def _overwrite_names(engine, tmp_path, env: dict[str, str]) -> list[str]:
    """Payloads in every stored name; returns the payload district ids."""
    # Stations: ids and names (both languages).
    stations = storage.list_stations(engine)
    stations = stations.assign(
        station_id=[ID_PAYLOADS[i % len(ID_PAYLOADS)] for i in range(len(stations))],
        name=[payload(i, "station ") for i in range(len(stations))],
        name_en=[payload(i + 3, "station-en ") for i in range(len(stations))],
    )
    storage.store_stations(engine, stations)

    # Grids: names of all, and the ids of grid1's grids (reassigned to the new ids).
    users = storage.list_users(engine)
    user_ids = dict(zip(users["username"], users["id"].astype(int), strict=True))
    assigned = {name: storage.user_grid_ids(engine, uid) for name, uid in user_ids.items()}
    renamed = {old: ID_PAYLOADS[i] for i, old in enumerate(assigned["grid1"])}
    grids = storage.load_areas_table(engine, "grid")
    grid_cells = storage.load_area_cells(engine, "grid")
    grids["name"] = [payload(i, "grid ") for i in range(len(grids))]
    grids["area_id"] = grids["area_id"].map(lambda a: renamed.get(a, a))
    grid_cells["area_id"] = grid_cells["area_id"].map(lambda a: renamed.get(a, a))
    storage.store_areas(engine, "grid", grids, grid_cells, source="payloads")
    for name, ids in assigned.items():
        if ids:
            storage.set_user_grids(engine, user_ids[name], [renamed.get(a, a) for a in ids])

    # The jurisdiction and the urban core: names only (one area each).
    for i, kind in enumerate(("jurisdiction", "urban_core")):
        frame = storage.load_areas_table(engine, kind)
        frame["name"] = payload(i + 1, f"{kind} ")
        storage.store_areas(engine, kind, frame, storage.load_area_cells(engine, kind))

    # A district layer from a file, as an administrator loads one: two halves of the city
    # whose ids and names are payloads.
    minx, miny, maxx, maxy = grids.total_bounds
    minx, miny, maxx, maxy = minx - 0.05, miny - 0.05, maxx + 0.05, maxy + 0.05
    mid = (minx + maxx) / 2
    district_ids = [ID_PAYLOADS[0], ID_PAYLOADS[3]]
    features = [
        {
            "type": "Feature",
            "properties": {"code": district_ids[k], "label": payload(k + 2, "district ")},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[x0, miny], [x1, miny], [x1, maxy], [x0, maxy], [x0, miny]]],
            },
        }
        for k, (x0, x1) in enumerate(((minx, mid), (mid, maxx)))
    ]
    path = tmp_path / "districts.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    result = CliRunner().invoke(
        cli,
        ["areas", "load", str(path), "--kind", "district", "--id-field", "code",
         "--name-field", "label"],
        env=env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output

    # Categories: both names of every category, and the group of one.
    categories = storage.load_categories_table(engine)
    categories["name_en"] = [payload(i, "cat ") for i in range(len(categories))]
    categories["name_zh"] = [payload(i + 4, "类别 ") for i in range(len(categories))]
    categories.loc[categories["code"] == "GAMBLING", "group"] = PAYLOADS[0]
    storage.store_categories(engine, categories)

    # Accounts' display names, the city's name, audit entries (a stranger's login name).
    for i, (name, uid) in enumerate(user_ids.items()):
        storage.update_user(engine, uid, display_name=payload(i, f"{name} "))
    storage.set_meta(engine, {"city_name": payload(5, "city ")})
    for i, text in enumerate(PAYLOADS):
        storage.audit(engine, "login_failed", username=text[:40], detail=payload(i + 1),
                      ip="127.0.0.1")  # fmt: skip
    return district_ids


def _payload_plan(engine, user_id: int) -> int:
    """Plan and publish today's night shift now that stations carry payloads."""
    from web import clock
    from web.services.patrol_plans import PlanRequest, plan_day, plan_record

    timezone = storage.get_meta(engine).get("timezone", "Asia/Shanghai")
    request = PlanRequest(date=clock.today(timezone).isoformat(), shift="night",
                          candidates=80, time_limit_s=2.0)  # fmt: skip
    planned = plan_day(engine, request, SECRET)
    plan_id = storage.store_plan(engine, created_by=user_id, **plan_record(planned, request))
    storage.publish_plan(engine, plan_id, user_id)
    return plan_id


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    """The demo with payloads in its names, served on a local port."""
    tmp_path = tmp_path_factory.mktemp("payloads")
    db_url, env = demo_database(tmp_path)
    engine = storage.make_engine(db_url)
    district_ids = _overwrite_names(engine, tmp_path, env)
    users = storage.list_users(engine)
    user_ids = dict(zip(users["username"], users["id"].astype(int), strict=True))
    plan_id = _payload_plan(engine, user_ids["planner"])
    plan_ids = sorted(int(i) for i in storage.list_plans(engine)["id"])
    app = create_app({"DATABASE_URL": db_url, "SECRET_KEY": SECRET, "PLAN_TIME_LIMIT_S": 4.0})
    with serving(app) as base_url:
        yield Site(base_url, db_url, engine, plan_ids, plan_id, user_ids, district_ids)
    engine.dispose()


# --- what a page must not do -----------------------------------------------------------------

# Payload markup that reached the DOM as elements, whether or not the CSP stopped it.
_INJECTED_JS = """() => {
  const where = (el) => {
    const parts = [];
    for (let p = el.parentElement; p && parts.length < 4; p = p.parentElement) {
      parts.unshift(p.tagName.toLowerCase() + (p.id ? '#' + p.id : '')
        + (p.classList.length ? '.' + [...p.classList].join('.') : ''));
    }
    return parts.join(' > ');
  };
  const found = [];
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      const name = a.name.toLowerCase();
      if ((name.startsWith('on') && /alert\\(/.test(a.value))
          || (['href', 'src', 'action', 'formaction', 'xlink:href'].includes(name)
              && /^\\s*javascript:/i.test(a.value))) {
        found.push(`<${el.tagName.toLowerCase()} ${a.name}="${a.value}"> in ${where(el)}`);
      }
    }
    const type = (el.getAttribute('type') || 'text/javascript').toLowerCase();
    if (el.tagName === 'SCRIPT' && /javascript|module|ecmascript/.test(type)
        && !el.hasAttribute('nonce') && !el.src && /alert\\(/.test(el.textContent)) {
      found.push(`<script>${el.textContent.slice(0, 120)}</script> in ${where(el)}`);
    }
  }
  return found;
}"""

# The page's folium maps (folium names each map's variable map_<id>), as a JS expression.
_FOLIUM_MAPS_JS = (
    "Object.keys(window)"
    ".filter((k) => /^map_/.test(k) && window[k] instanceof L.Map).map((k) => window[k])"
)

# Every folium map on the page: fire mouseover (and click, for popups) on every feature
# layer that has a tooltip or popup (its own or its group's), as a hover does, and keep the
# text each showed. Groups of many features (the overview's incident cells) are sampled.
_OPEN_TOOLTIPS_JS = """(maxPerGroup) => {
  const texts = [];
  for (const map of FOLIUM_MAPS) {
    const leaves = [];
    map.eachLayer((l) => {
      if ((l instanceof L.Path || l instanceof L.Marker) && !(l instanceof L.LayerGroup)) {
        leaves.push(l);
      }
    });
    const perParent = new Map();
    for (const leaf of leaves) {
      const parents = Object.values(leaf._eventParents || {});
      const withTip = (x) => x.getTooltip && x.getTooltip();
      const withPopup = (x) => x.getPopup && x.getPopup();
      const tip = withTip(leaf) || parents.some(withTip);
      const pop = withPopup(leaf) || parents.some(withPopup);
      if (!tip && !pop) continue;
      const key = parents.length ? parents[0] : leaf;
      const n = perParent.get(key) || 0;
      if (n >= maxPerGroup) continue;
      perParent.set(key, n + 1);
      const at = leaf.getLatLng ? leaf.getLatLng() : leaf.getBounds().getCenter();
      if (tip) {
        leaf.fire('mouseover', {latlng: at}, true);
        document.querySelectorAll('.leaflet-tooltip').forEach((t) => texts.push(t.textContent));
        leaf.fire('mouseout', {latlng: at}, true);
      }
      if (pop) {
        leaf.fire('click', {latlng: at}, true);
        document.querySelectorAll('.leaflet-popup-content')
          .forEach((p) => texts.push(p.textContent));
        map.closePopup();
      }
    }
  }
  return texts;
}""".replace("FOLIUM_MAPS", _FOLIUM_MAPS_JS)

# Screen positions of the markers with their own tooltip (stations) in view, for real hovers.
_MARKER_POINTS_JS = """(limit) => {
  const points = [];
  for (const map of FOLIUM_MAPS) {
    const box = map.getContainer().getBoundingClientRect();
    map.eachLayer((l) => {
      if (points.length >= limit || !(l instanceof L.CircleMarker) || !l.getTooltip()) return;
      const p = map.latLngToContainerPoint(l.getLatLng());
      if (p.x > 5 && p.y > 5 && p.x < box.width - 5 && p.y < box.height - 5) {
        points.push([box.left + p.x, box.top + p.y]);
      }
    });
  }
  return points;
}""".replace("FOLIUM_MAPS", _FOLIUM_MAPS_JS)

_TOGGLE_LAYERS_JS = """() => {
  const boxes = [...document.querySelectorAll('.leaflet-control-layers-selector')];
  boxes.forEach((b) => b.click());
  boxes.forEach((b) => b.click());
  return boxes.length;
}"""


@dataclass
class Probe:
    """One role's browser page, with everything that went wrong, page by page."""

    watched: WatchedPage
    dialogs: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    tooltip_texts: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)

    @property
    def page(self):
        return self.watched.page

    def open(self, path: str, lang: str) -> None:
        watched = self.watched
        marks = (len(watched.console_errors), len(watched.failed), len(watched.external),
                 len(self.dialogs))  # fmt: skip
        response = watched.goto(path)
        where = f"[{lang}] {path}"
        self.pages.append(where)
        if response is None or response.status != 200:
            self.problems.append(f"{where}: HTTP {response and response.status}")
            return
        self.page.wait_for_load_state("load")
        try:
            self.exercise(path)
        except Exception as err:  # noqa: BLE001 - a page that breaks is one more finding
            self.problems.append(f"{where}: {type(err).__name__}: {str(err)[:300]}")
        self.check(where, marks)

    def wait_for(self, expression: str, what: str, timeout_s: float = 20.0) -> None:
        """Poll a JavaScript expression from outside the page (the page's CSP forbids the
        eval that page.wait_for_function polls with, once a broken page makes it poll)."""
        deadline = time.monotonic() + timeout_s
        while not self.page.evaluate(f"() => Boolean({expression})"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not happen within {timeout_s:.0f} s")
            self.page.wait_for_timeout(100)

    def exercise(self, path: str) -> None:
        page = self.page
        if path.startswith("/command/hotspots"):
            self.wait_for("document.getElementById('stat-total').textContent.trim()",
                          "the hotspot statistics")  # fmt: skip
            links = page.locator("#top-cells a")
            for i in range(min(2, links.count())):
                cell = links.nth(i).get_attribute("data-cell")
                links.nth(i).click()
                self.wait_for(
                    f"document.getElementById('cell-body').textContent.includes('{cell}')"
                    " && document.querySelector('#cell-body h3')",
                    f"the explanation of cell {cell}",
                )
            page.evaluate(_TOGGLE_LAYERS_JS)
            page.wait_for_timeout(300)
        if path == "/api/docs":
            page.wait_for_selector("#swagger-ui .opblock")
        if page.locator(".folium-map").count():
            self.wait_for("Object.keys(window).some((k) => /^map_/.test(k))", "the folium map")
            for x, y in page.evaluate(_MARKER_POINTS_JS, 5):
                page.mouse.move(x, y)
                page.wait_for_timeout(60)
                self.tooltip_texts += page.locator(".leaflet-tooltip").all_inner_texts()
            page.mouse.move(1, 1)
            if not path.startswith("/command/hotspots"):
                page.evaluate(_TOGGLE_LAYERS_JS)
            self.tooltip_texts += page.evaluate(_OPEN_TOOLTIPS_JS, 30)
        page.wait_for_timeout(100)  # let anything a tooltip or panel started run

    def check(self, where: str, marks: tuple[int, int, int, int]) -> None:
        watched = self.watched
        for kind, items, mark in (("console error", watched.console_errors, marks[0]),
                                  ("failed request", watched.failed, marks[1]),
                                  ("external request", watched.external, marks[2]),
                                  ("dialog", self.dialogs, marks[3])):  # fmt: skip
            self.problems += [f"{where}: {kind}: {item}" for item in items[mark:]]
        self.problems += [f"{where}: injected: {m}" for m in self.page.evaluate(_INJECTED_JS)]


@pytest.fixture
def probe(browser, site) -> Iterator[Probe]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(20000)
    found = Probe(WatchedPage(page, site.url))

    def on_dialog(dialog) -> None:
        found.dialogs.append(f"{dialog.type}({dialog.message!r}) on {page.url}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    yield found
    context.close()


def _pages(role: str, site: Site, lang: str) -> list[str]:
    """The pages to open; filtered pages and a demo plan (its map draws today's stations)
    once, in English, to keep the run short."""
    first = lang == "en"
    # The plan made after the payloads went in: its units and briefings carry them.
    plan_ids = [site.payload_plan] + ([site.plan_ids[0]] if role == "admin" and first else [])
    plans = [p for i in plan_ids for p in (f"/plans/{i}", f"/plans/{i}/briefing")]
    district = f"district:{site.district_ids[0]}"
    filtered = [
        "/command/hotspots?" + urlencode({"area": district, "category": ["GAMBLING", "ROBBERY"]},
                                         doseq=True),
        "/command/statistics?" + urlencode({"period": "week", "area": district}),
    ] if first else []  # fmt: skip
    command = [
        "/overview",
        "/command/hotspots",
        "/command/statistics",
        *filtered,
        "/command/accuracy",
        "/plans/",
        *plans,
    ]
    admin = ["/admin/users", "/admin/audit"]
    admin += [f"/admin/users/{site.user_ids[n]}" for n in ("grid1", "admin", "commander")]
    tail = ["/api/docs", "/account"]
    return {
        "admin": [*admin, *command, "/plans/new", *tail],
        "commander": [*command, *tail],
        "planner": [*command, "/plans/new", *tail],
        "grid1": ["/grid/", *tail],
    }[role]


@pytest.mark.parametrize("username", ["admin", "commander", "planner", "grid1"])
def test_payload_names_never_run(probe, site, username) -> None:
    """Every page the role can open, in English and Chinese: no dialog, no console error, no
    payload as markup; the payloads show as text (they did reach the pages)."""
    page = probe.page
    probe.watched.login(username, PASSWORDS[username])
    for lang in ("en", "zh"):
        probe.watched.click_through(f"#lang-{lang}")
        for path in _pages(username, site, lang):
            probe.open(path, lang)
    problems = "\n".join(probe.problems)
    assert not probe.problems, f"{len(probe.problems)} problem(s) as {username}:\n{problems}"
    # The payloads did reach the pages and the tooltips, as text.
    assert "alert(" in page.locator("#who").inner_text()
    shown = "\n".join(probe.tooltip_texts)
    if username != "grid1":
        assert "station " in shown and "alert(" in shown, shown[:500]
    else:
        assert "alert(" in shown, shown[:500]


def test_payload_area_kind_never_runs(probe, site, tmp_path) -> None:
    """An area layer whose kind is a payload: the hotspot map names a kind it does not know by
    the kind itself (layer control, area filter). Runs last: it adds the layer to the site."""
    minx, miny, maxx, maxy = storage.load_areas_table(site.engine, "grid").total_bounds
    ring = [[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy], [minx, miny]]
    feature = {"type": "Feature", "properties": {"code": "k1", "label": "kind test"},
               "geometry": {"type": "Polygon", "coordinates": [ring]}}  # fmt: skip
    path = tmp_path / "kind.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    kind = "<img src=x onerror=alert(31)>"
    result = CliRunner().invoke(
        cli,
        ["areas", "load", str(path), "--kind", kind, "--id-field", "code", "--name-field",
         "label"],
        env={"HOTSPOT_DATABASE_URL": site.db_url},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    probe.watched.login("commander", PASSWORDS["commander"])
    for lang in ("en", "zh"):
        probe.watched.click_through(f"#lang-{lang}")
        for path_ in ("/command/hotspots", "/command/statistics", "/overview"):
            probe.open(path_, lang)
    problems = "\n".join(probe.problems)
    assert not probe.problems, f"{len(probe.problems)} problem(s), payload area kind:\n{problems}"
