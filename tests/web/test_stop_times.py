"""The stop times the plan page and the unit briefing share (web/templates/planner/_stops.html)."""

from __future__ import annotations

import re
from types import SimpleNamespace


def _times(app, **stop) -> str:
    macro = app.jinja_env.get_template("planner/_stops.html").module.times
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        return str(macro(SimpleNamespace(**stop), lambda seconds: f"t{int(seconds)}"))


def test_arrival_and_departure_and_the_start_only_after_a_wait_of_a_minute(app) -> None:
    waited = _times(app, arrival_s=100, start_s=160, departure_s=400)
    assert re.fullmatch(
        r'<td class="time">t100<br><small class="muted">start t160</small></td>\s*'
        r'<td class="time">t400</td>',
        waited,
    )
    at_once = _times(app, arrival_s=100, start_s=159, departure_s=400)
    assert re.fullmatch(r'<td class="time">t100</td>\s*<td class="time">t400</td>', at_once)
