"""Defects found by the adversarial review of the site (each test names what it guards)."""

from __future__ import annotations

import pytest

# Query parameters named like url_for's own arguments: never passed on to url_for.
URL_FOR_NAMES = ("endpoint=x", "_external=1&_scheme=javascript", "_anchor=x&_method=GET")


@pytest.mark.parametrize("query", URL_FOR_NAMES)
def test_hotspot_map_ignores_query_names_of_url_for(client_as, query) -> None:
    """The map's "Recompute scores now" form used to pass every query parameter to url_for:
    ``?endpoint=x`` was a 500 and ``_external``/``_scheme`` chose the form's target."""
    response = client_as("commander").get(f"/command/hotspots?{query}&weekdays=5&weekdays=6")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'action="/command/scores/run?weekdays=5&amp;weekdays=6"' in page


@pytest.mark.parametrize("query", URL_FOR_NAMES)
def test_recompute_scores_goes_back_to_the_map_with_its_own_parameters(client_as, query):
    response = client_as("commander").post(f"/command/scores/run?{query}&group=violent")
    assert response.status_code == 302
    assert response.headers["Location"] == "/command/hotspots?group=violent"


# End dates without a start: the map counts back 28 days from the end.
@pytest.mark.parametrize(
    "url",
    ["/command/hotspots?end={end}", "/command/cells.json?end={end}"],
)
@pytest.mark.parametrize("end", ["0000-01-01", "0001-01-01", "9999-12-31", "1"])
def test_map_end_date_out_of_range_is_a_400_naming_end(client_as, url, end) -> None:
    """An end date pandas cannot count back from (year 0 or 1) was a 500."""
    response = client_as("planner").get(url.format(end=end))
    assert response.status_code == 400
    assert "end:" in response.get_data(as_text=True)


def test_map_end_date_near_the_first_date_starts_on_it(client_as) -> None:
    """An end a few days after 1970-01-01 counts back to that day, not before it (which the
    start's own check would refuse, naming a start nobody typed)."""
    response = client_as("planner").get("/command/cells.json?end=1970-01-05")
    assert response.status_code == 200
    assert response.get_json()["start"] == "1970-01-01"
