"""Folium map building: geo's frames in, the map's header, body and script out.

Only this module imports folium. Maps never fetch anything from the internet: assets are
served by the app (see web/assets.py) and the basemap is a configured tile URL or nothing.
"""

from __future__ import annotations

import folium
import numpy as np
import pandas as pd
import shapely
from branca.colormap import LinearColormap

from geo.cells import hex_from_cells, parent_cells
from web.assets import tile_layer_kwargs

__all__ = ["incident_cell_map", "cells_to_draw"]

_COLOURS = ["#ffffcc", "#ffeda0", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026"]


def cells_to_draw(cells: pd.DataFrame, max_cells: int) -> tuple[pd.DataFrame, int | None]:
    """Aggregate ``cell, n`` counts to coarser parents until at most ``max_cells`` remain.

    Returns the frame to draw and the resolution used (None for an empty frame).
    """
    if cells.empty:
        return cells, None
    import h3

    resolution = h3.get_resolution(hex_from_cells(cells["cell"].to_numpy()[:1])[0])
    frame = cells
    while len(frame) > max_cells and resolution > 0:
        resolution -= 1
        parents = parent_cells(frame["cell"].to_numpy(), resolution)
        frame = (
            pd.DataFrame({"cell": parents, "n": frame["n"].to_numpy()})
            .groupby("cell", as_index=False)["n"]
            .sum()
        )
    return frame, resolution


def _cells_bounds(cells: np.ndarray) -> tuple[float, float, float, float]:
    import h3

    points = np.array(
        [h3.cell_to_latlng(c) for c in hex_from_cells(cells)], dtype=np.float64
    ).reshape(-1, 2)
    return (
        float(points[:, 1].min()),
        float(points[:, 0].min()),
        float(points[:, 1].max()),
        float(points[:, 0].max()),
    )


def _cell_features(frame: pd.DataFrame, colormap: LinearColormap) -> dict:
    import h3

    features = []
    for hex_id, n in zip(hex_from_cells(frame["cell"].to_numpy()), frame["n"], strict=True):
        ring = [[round(lng, 6), round(lat, 6)] for lat, lng in h3.cell_to_boundary(hex_id)]
        ring.append(ring[0])
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {
                    "cell": hex_id,
                    "n": int(n),
                    "colour": colormap(int(n)),
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def incident_cell_map(
    cells: pd.DataFrame,
    *,
    boundary=None,
    grids=None,
    stations: pd.DataFrame | None = None,
    tile_url: str | None = None,
    tile_attribution: str | None = None,
    max_cells: int = 5000,
) -> dict[str, str]:
    """Render a map of incident counts per cell with boundary, grids and stations.

    Returns a dict with ``header``, ``html`` and ``script`` parts to place in a template.
    """
    bounds = None
    if boundary is not None and len(boundary):
        minx, miny, maxx, maxy = shapely.union_all(boundary.geometry.to_numpy()).bounds
        bounds = [[miny, minx], [maxy, maxx]]
    fmap = folium.Map(
        location=[0, 0] if bounds is None else [(bounds[0][0] + bounds[1][0]) / 2,
                                                (bounds[0][1] + bounds[1][1]) / 2],
        zoom_start=11,
        prefer_canvas=True,
        control_scale=True,
        **tile_layer_kwargs(tile_url, attribution=tile_attribution),
    )  # fmt: skip
    if boundary is not None and len(boundary):
        folium.GeoJson(
            boundary[["area_id", "geometry"]].to_json(),
            name="jurisdiction",
            style_function=lambda _f: {"color": "#333333", "weight": 2, "fill": False},
        ).add_to(fmap)
    if grids is not None and len(grids):
        folium.GeoJson(
            grids[["area_id", "name", "geometry"]].to_json(),
            name="management grids",
            style_function=lambda _f: {"color": "#3366cc", "weight": 1, "fillOpacity": 0.02},
            tooltip=folium.GeoJsonTooltip(fields=["area_id"], labels=False),
        ).add_to(fmap)
    drawn, resolution = cells_to_draw(cells, max_cells)
    if len(drawn):
        # Counts are skewed: colour breaks at quantiles keep the few top cells from washing
        # out the rest.
        breaks = np.unique(np.quantile(drawn["n"].to_numpy(), [0, 0.5, 0.75, 0.9, 0.97, 1]))
        if len(breaks) < 2:
            breaks = np.array([breaks[0], breaks[0] + 1])
        colormap = LinearColormap(
            _COLOURS[-len(breaks) :], index=breaks.tolist(), vmin=breaks[0], vmax=breaks[-1]
        )
        colormap.caption = f"incidents per cell (H3 res {resolution})"
        minx, miny, maxx, maxy = _cells_bounds(drawn["cell"].to_numpy())
        bounds = [[miny, minx], [maxy, maxx]]
        folium.GeoJson(
            _cell_features(drawn, colormap),
            name="incident cells",
            style_function=lambda f: {
                "fillColor": f["properties"]["colour"],
                "color": f["properties"]["colour"],
                "weight": 0.5,
                "fillOpacity": 0.7,
            },
            tooltip=folium.GeoJsonTooltip(fields=["cell", "n"], aliases=["cell", "incidents"]),
        ).add_to(fmap)
        colormap.add_to(fmap)
    if stations is not None and len(stations):
        group = folium.FeatureGroup(name="stations")
        for row in stations.itertuples():
            folium.CircleMarker(
                location=[row.lat, row.lon],
                radius=6,
                color="#1a237e",
                fill=True,
                fill_opacity=1.0,
                tooltip=str(row.name),
            ).add_to(group)
        group.add_to(fmap)
    folium.LayerControl(collapsed=True).add_to(fmap)
    if bounds is not None:
        fmap.fit_bounds(bounds)
    root = fmap.get_root()
    root.render()
    return {
        "header": root.header.render(),
        "html": root.html.render(),
        "script": root.script.render(),
    }
