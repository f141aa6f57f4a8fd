"""The Jiayuguan demo's own Chinese category table, and category names in the page's language
(web.i18n.category_name)."""

from __future__ import annotations

import pytest
from flask import render_template_string

from geo.categories import load_categories
from web import storage
from web.i18n import category_name, category_names
from web.services import site_data as hd
from web.services.demo import DEMO_CATEGORIES_FILE, DEMO_REPORT_CATEGORIES
from web.services.filters import parse_filters
from web.storage import reports
from web.storage.category_table import replace_categories

DEMO_TABLE = load_categories(DEMO_CATEGORIES_FILE)
CHICAGO_ONLY = ("BATTERY", "THEFT", "HOMICIDE", "NARCOTICS", "CRIMINAL DAMAGE")


def test_the_demo_table_is_a_chinese_bureaus() -> None:
    codes = list(DEMO_TABLE["code"])
    for code in ("TELECOM_FRAUD", "BURGLARY", "EBIKE_THEFT", "PICKPOCKETING", "ROBBERY",
                 "FIGHT", "GAMBLING", "NEIGHBOUR_DISPUTE", "FAMILY_DISPUTE",
                 "PROVOKING_TROUBLE", "SAFETY_HAZARD", "TRAFFIC_ACCIDENT"):  # fmt: skip
        assert code in codes
    # Codes go into URLs and APIs: upper-case ASCII letters and underscores only.
    assert all(code.isascii() and code.replace("_", "").isalpha() for code in codes)
    assert all(code == code.upper() for code in codes)
    # Every Chinese name is Chinese, every English name Latin.
    assert all(not name.isascii() for name in DEMO_TABLE["name_zh"])
    assert all(name.isascii() for name in DEMO_TABLE["name_en"])
    # The groups are the ones the site names (and translates).
    assert set(DEMO_TABLE["group"]) <= {"violent", "property", "disorder", "police_initiated",
                                        "other"}  # fmt: skip
    weight = dict(zip(DEMO_TABLE["code"], DEMO_TABLE["weight"], strict=True))
    assert weight["ROBBERY"] > weight["BURGLARY"] > weight["PICKPOCKETING"]
    assert weight["PICKPOCKETING"] > weight["NEIGHBOUR_DISPUTE"]
    flagged = set(DEMO_TABLE.loc[DEMO_TABLE["police_initiated"], "code"])
    assert {"GAMBLING", "DRUGS"} <= flagged and "BURGLARY" not in flagged


def test_the_demo_loads_its_own_table(demo_db) -> None:
    engine = storage.make_engine(demo_db)
    stored = storage.load_categories_table(engine)
    assert list(stored["code"]) == list(DEMO_TABLE["code"])
    assert list(stored["name_zh"]) == list(DEMO_TABLE["name_zh"])
    assert not set(CHICAGO_ONLY) & set(stored["code"])
    incidents = storage.load_incidents(engine)
    assert set(incidents["category"]) <= set(DEMO_TABLE["code"])
    assert len(set(incidents["category"])) >= 15  # every common category occurs
    report_codes = {c.category_code for c in reports.list_report_categories(engine)}
    assert report_codes == {row[3] for row in DEMO_REPORT_CATEGORIES}
    assert report_codes <= set(stored["code"])


def test_group_filters_use_the_citys_table(demo_db) -> None:
    site = hd.site_data(storage.make_engine(demo_db))
    violent = parse_filters({"group": "violent"}, site)
    expected = DEMO_TABLE.loc[DEMO_TABLE["group"] == "violent", "code"]
    assert violent.categories == tuple(sorted(expected))
    burglary = parse_filters({"group": "burglary"}, site)
    assert burglary.categories == ("BURGLARY",)


def test_replacing_keeps_categories_still_referred_to(engine) -> None:
    reports.add_report_category(engine, "litter", "乱扔垃圾", "Litter", "THEFT", 1)
    removed = replace_categories(engine, DEMO_TABLE)
    stored = storage.load_categories_table(engine)
    assert "THEFT" in set(stored["code"]) and "THEFT" not in removed
    assert set(stored["code"]) == {*DEMO_TABLE["code"], "THEFT"}
    assert "BATTERY" in removed and "ROBBERY" not in removed  # the demo has a ROBBERY
    # Again: nothing more to remove, the table unchanged.
    assert replace_categories(engine, DEMO_TABLE) == []
    assert storage.load_categories_table(engine)["code"].tolist() == stored["code"].tolist()


@pytest.mark.parametrize(("language", "column"), [("zh", "name_zh"), ("en", "name_en")])
def test_category_name_follows_the_page_language(app, language: str, column: str) -> None:
    names = dict(zip(DEMO_TABLE["code"], DEMO_TABLE[column], strict=True))
    with app.test_request_context(headers={"Accept-Language": language}):
        assert category_name("EBIKE_THEFT") == names["EBIKE_THEFT"]
        assert category_name("NOT_A_CODE") == "NOT_A_CODE"
        assert category_name(None) == ""
        assert category_names() == names
        rendered = render_template_string("{{ 'TELECOM_FRAUD' | category_name }}")
        assert rendered == names["TELECOM_FRAUD"]
    assert (
        names["EBIKE_THEFT"] == {"zh": "盗窃电动车", "en": "E-bike and motorcycle theft"}[language]
    )
