"""Reading OpenStreetMap extracts: node coordinates and the ways with a ``highway`` tag.

:func:`read_osm` reads a local ``.osm`` XML file (standard library, streamed) or an
``.osm.pbf`` file (pyosmium, imported only for that) into :class:`OsmStreets`, the raw
content ``planner.street_graph`` builds a street graph from. Every fault of the file (missing,
empty, of an unknown type, malformed) is a `RoadNetworkError` naming the file.

Nothing here touches the network: extracts are prepared elsewhere and read from disk.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from planner._arrays import FloatArray, IntArray
from planner.errors import RoadNetworkError

__all__ = ["OsmStreets", "OsmWay", "read_osm"]


@dataclass(frozen=True)
class OsmWay:
    """One way of the extract: its OSM id, node references in order, and tags."""

    way_id: int
    refs: tuple[int, ...]
    tags: Mapping[str, str]


@dataclass(frozen=True, eq=False)
class OsmStreets:
    """The raw content of an extract: node coordinates and the ways with a highway tag."""

    node_id: IntArray
    lon: FloatArray
    lat: FloatArray
    ways: tuple[OsmWay, ...]


def read_osm(path: Path) -> OsmStreets:
    """Read the nodes and highway ways of a ``.osm`` (OSM XML) or ``.osm.pbf`` file.

    Raises
    ------
    RoadNetworkError
        When the file is missing, empty, of an unknown type or unreadable.
    """
    if not path.is_file():
        raise RoadNetworkError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise RoadNetworkError(f"{path}: the file is empty")
    name = path.name.lower()
    if name.endswith(".pbf"):
        streets = _read_osm_pbf(path)
    elif name.endswith((".osm", ".xml")):
        streets = _read_osm_xml(path)
    else:
        raise RoadNetworkError(f"{path}: expected an .osm (OSM XML) or .osm.pbf file")
    _check_nodes(path, streets)
    return streets


def _check_nodes(path: Path, streets: OsmStreets) -> None:
    """Raise naming the first node with coordinates that are no longitude and latitude (NaN,
    infinite, out of range: the graph's metres would be NaN or from the other side of the
    earth) and the first node id given twice (which of its places the ways meant is unknown)."""
    lon, lat = streets.lon, streets.lat
    bad = ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise RoadNetworkError(
            f"{path}: node {int(streets.node_id[i])} has lon={float(lon[i])}, "
            f"lat={float(lat[i])}, not a longitude -180..180 and latitude -90..90 "
            f"({int(bad.sum())} such node(s))"
        )
    ids, counts = np.unique(streets.node_id, return_counts=True)
    if (counts > 1).any():
        twice = ids[counts > 1]
        raise RoadNetworkError(
            f"{path}: node id {int(twice[0])} is given more than once "
            f"({twice.size} such id(s)); the extract is damaged"
        )


def _read_osm_xml(path: Path) -> OsmStreets:
    """Read nodes and highway ways from OSM XML, streaming so large files stay small."""
    node_ids: list[int] = []
    lons: list[float] = []
    lats: list[float] = []
    ways: list[OsmWay] = []
    try:
        context = ET.iterparse(path, events=("start", "end"))
        _, root = next(context)
        if root.tag != "osm":
            raise RoadNetworkError(f"{path}: not OSM XML (root element <{root.tag}>)")
        for event, element in context:
            if event != "end" or element.tag not in ("node", "way", "relation"):
                continue
            if element.tag == "node":
                node_ids.append(int(element.attrib["id"]))
                lons.append(float(element.attrib["lon"]))
                lats.append(float(element.attrib["lat"]))
            elif element.tag == "way":
                tags = {t.attrib["k"]: t.attrib["v"] for t in element.iter("tag")}
                if "highway" in tags:
                    refs = tuple(int(nd.attrib["ref"]) for nd in element.iter("nd"))
                    ways.append(OsmWay(int(element.attrib["id"]), refs, tags))
            # Each top-level element is done with: dropping it keeps memory flat.
            root.clear()
    except RoadNetworkError:
        raise
    except ET.ParseError as err:
        raise RoadNetworkError(f"{path}: not well-formed XML: {err}") from err
    except KeyError as err:
        raise RoadNetworkError(f"{path}: a node, way or tag lacks the attribute {err}") from err
    except ValueError as err:
        raise RoadNetworkError(f"{path}: an id or coordinate is not a number: {err}") from err
    try:
        node_id = np.array(node_ids, dtype=np.int64)
        for way in ways:
            np.array((way.way_id, *way.refs), dtype=np.int64)
    except OverflowError as err:
        raise RoadNetworkError(f"{path}: an id is larger than a 64-bit OSM id: {err}") from err
    return OsmStreets(
        node_id=node_id,
        lon=np.array(lons, dtype=np.float64),
        lat=np.array(lats, dtype=np.float64),
        ways=tuple(ways),
    )


def _read_osm_pbf(path: Path) -> OsmStreets:
    """Read highway ways and their node locations from an .osm.pbf file with pyosmium."""
    try:
        import osmium
        import osmium.filter
    except ImportError as err:
        raise RoadNetworkError(
            f"{path}: reading .osm.pbf needs the 'osmium' package (pip install osmium), "
            "or convert the file to .osm XML"
        ) from err
    locations: dict[int, tuple[float, float]] = {}
    ways: list[OsmWay] = []
    try:
        processor = (
            osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
            .with_locations()
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
            .with_filter(osmium.filter.KeyFilter("highway"))
        )
        for way in processor:
            if not isinstance(way, osmium.osm.Way):  # the entity filter lets only ways through
                continue
            refs = []
            for way_node in way.nodes:
                refs.append(way_node.ref)
                # A node missing from the extract has no location: treated as in XML.
                if way_node.location.valid():
                    locations[way_node.ref] = (way_node.lon, way_node.lat)
            ways.append(OsmWay(way.id, tuple(refs), dict(way.tags)))
    except RuntimeError as err:
        raise RoadNetworkError(f"{path}: cannot read as .osm.pbf: {err}") from err
    node_ids = np.array(sorted(locations), dtype=np.int64)
    coords = np.array([locations[i] for i in node_ids.tolist()], dtype=np.float64)
    coords = coords.reshape(-1, 2)
    return OsmStreets(node_id=node_ids, lon=coords[:, 0], lat=coords[:, 1], ways=tuple(ways))
