"""Folium map building: :mod:`web.maps.render` turns geo's frames into the parts a page
places (header, body, script); :mod:`web.maps.plan_maps` draws patrol plans."""
