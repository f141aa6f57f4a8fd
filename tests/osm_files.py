"""Small OpenStreetMap XML extracts written by tests (streets for the map's base layer)."""

from __future__ import annotations

from pathlib import Path


def write_osm(path: Path, ways: list[tuple[str, list[tuple[float, float]]]]) -> Path:
    """Write ``ways`` ((highway kind, [(lon, lat), ...]) each, nodes not shared between
    ways) as an OSM XML file at ``path``; return the path."""
    nodes, parts, node_id = [], [], 1
    for way_id, (kind, points) in enumerate(ways, start=1):
        refs = []
        for lon, lat in points:
            nodes.append(f'<node id="{node_id}" lat="{lat}" lon="{lon}"/>')
            refs.append(f'<nd ref="{node_id}"/>')
            node_id += 1
        parts.append(f'<way id="{way_id}">{"".join(refs)}<tag k="highway" v="{kind}"/></way>')
    path.write_text(f'<?xml version="1.0"?><osm version="0.6">{"".join(nodes + parts)}</osm>')
    return path
