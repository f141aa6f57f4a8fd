"""Areas for the map pages: simplified outlines of every stored kind, and the choices of the
area filter."""

from __future__ import annotations

import pandas as pd

from web import storage
from web.services.caches import Cache

__all__ = ["OUTLINE_TOLERANCE_DEG", "area_choices", "area_outlines"]

#: Outlines are simplified to about this many degrees (~20 m) before they reach a page.
OUTLINE_TOLERANCE_DEG = 0.0002
_outlines = Cache("area outlines", max_entries=8, max_bytes=64 * 2**20)


def area_outlines(engine, listing: pd.DataFrame | None = None) -> dict[str, tuple[str, int]]:
    """Kind -> (simplified GeoJSON text of its areas with ``area_id`` and ``name``, number of
    areas), every stored kind, jurisdiction first; cached until the areas change.
    ``listing`` is storage.list_areas' frame when the caller has it already."""
    listing = storage.list_areas(engine) if listing is None else listing
    database = storage.database_key(engine)
    areas = tuple(map(tuple, listing[["kind", "area_id", "n_cells"]].to_numpy().tolist()))

    def load() -> dict[str, tuple[str, int]]:
        # older areas of this database
        _outlines.discard(lambda key: isinstance(key, tuple) and key[0] == database)
        return _outlines_of(engine, listing)

    return _outlines.get_or_load((database, areas), load)


def _outlines_of(engine, listing: pd.DataFrame) -> dict[str, tuple[str, int]]:
    import json

    import shapely

    kinds = list(dict.fromkeys(listing["kind"]))
    kinds = sorted(kinds, key=lambda k: k != "jurisdiction")  # stable: the rest keep order
    out: dict[str, tuple[str, int]] = {}
    for kind in kinds:
        frame = storage.load_areas_table(engine, kind)
        geometries = shapely.set_precision(
            shapely.simplify(
                frame.geometry.to_numpy(), OUTLINE_TOLERANCE_DEG, preserve_topology=True
            ),
            1e-5,
        )
        features = [
            {
                "type": "Feature",
                "properties": {"area_id": str(a), "name": str(n)},
                "geometry": json.loads(shapely.to_geojson(g)),
            }
            for a, n, g in zip(frame["area_id"], frame["name"], geometries, strict=True)
            if g is not None and not g.is_empty
        ]
        text = json.dumps(
            {"type": "FeatureCollection", "features": features},
            separators=(",", ":"),
            ensure_ascii=False,
        )
        out[kind] = (text, len(features))
    return out


def area_choices(
    engine, listing: pd.DataFrame | None = None
) -> list[tuple[str, list[tuple[str, str]]]]:
    """(kind, [(KIND:ID, name), ...]) for the area filter, jurisdiction left out."""
    listing = storage.list_areas(engine) if listing is None else listing
    choices = []
    for kind, part in listing.groupby("kind", sort=False):
        if kind == "jurisdiction":
            continue
        choices.append(
            (
                str(kind),
                [
                    (f"{kind}:{a}", str(n) if str(n) != str(a) else str(a))
                    for a, n in zip(part["area_id"], part["name"], strict=True)
                ],
            )
        )
    return choices
