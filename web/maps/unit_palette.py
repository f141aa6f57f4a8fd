"""Distinct colours for up to 60 patrol units on one map.

A fixed twelve-colour list repeats after twelve units; a city plan has five to sixty. The
palette here is generated once, deterministically: candidate colours on a grid of hue,
lightness and chroma in OKLCH (a perceptual colour space), kept only when they are inside
sRGB and neither too light to see on a light basemap nor too dark to tell apart, then picked
one at a time, each the candidate farthest (by CIEDE2000) from every colour already picked.
So the first k colours are as far apart as the candidates allow, and units given colours in
order (station by station, unit by unit) get neighbours that differ most.

:func:`delta_e_2000` (Sharma, Wu and Dalal 2005) is public so tests can check the spread.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["MAX_DISTINCT", "delta_e_2000", "hex_to_lab", "text_colour", "unit_palette"]

#: Units that get pairwise distinct colours; more reuse the palette in order.
MAX_DISTINCT = 60

# OKLCH candidates: lightness steps, chroma steps and every 5 degrees of hue.
_LIGHTNESS = (0.42, 0.50, 0.58, 0.66, 0.74)
_CHROMA = (0.09, 0.13, 0.17, 0.21)
_HUES_DEG = np.arange(0.0, 360.0, 5.0)
# The first colour: a strong blue (hue 260 degrees), as the old palette started with.
_FIRST = (0.50, 0.17, 260.0)


def _oklch_to_linear_srgb(lightness, chroma, hue_deg) -> np.ndarray:
    """OKLCH (Ottosson 2020) to linear sRGB, one row per colour."""
    hue = np.radians(hue_deg)
    lab = np.stack([lightness, chroma * np.cos(hue), chroma * np.sin(hue)], axis=-1)
    lms_ = lab @ np.array(
        [
            [1.0, 1.0, 1.0],
            [0.3963377774, -0.1055613458, -0.0894841775],
            [0.2158037573, -0.0638541728, -1.2914855480],
        ]
    )
    lms = lms_**3
    return lms @ np.array(
        [
            [4.0767416621, -1.2684380046, -0.0041960863],
            [-3.3077115913, 2.6097574011, -0.7034186147],
            [0.2309699292, -0.3413193965, 1.7076147010],
        ]
    )


def _encode(linear: np.ndarray) -> np.ndarray:
    """Linear sRGB in [0, 1] to gamma-encoded sRGB in [0, 1]."""
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


def _decode(encoded: np.ndarray) -> np.ndarray:
    return np.where(encoded <= 0.04045, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4)


def _linear_to_lab(linear: np.ndarray) -> np.ndarray:
    """Linear sRGB to CIELAB (D65 white)."""
    xyz = linear @ np.array(
        [
            [0.4124564, 0.2126729, 0.0193339],
            [0.3575761, 0.7151522, 0.1191920],
            [0.1804375, 0.0721750, 0.9503041],
        ]
    )
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    delta = 6 / 29
    f = np.where(xyz > delta**3, np.cbrt(xyz), xyz / (3 * delta**2) + 4 / 29)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])],
        axis=-1,
    )


def hex_to_lab(colour: str) -> np.ndarray:
    """CIELAB (D65) of a ``#rrggbb`` colour."""
    text = colour.lstrip("#")
    rgb = np.array([int(text[i : i + 2], 16) / 255 for i in (0, 2, 4)])
    return _linear_to_lab(_decode(rgb))


def delta_e_2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference between CIELAB colours (broadcasting over rows)."""
    lab1, lab2 = np.asarray(lab1, dtype=float), np.asarray(lab2, dtype=float)
    l1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    l2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean**7 / (c_mean**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dl = l2 - l1
    dc = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0.0, dh)
    dh_big = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    l_mean = (l1 + l2) / 2
    cp_mean = (c1p + c2p) / 2
    h_sum = h1p + h2p
    wrapped = np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2)
    h_mean = np.where(np.abs(h1p - h2p) <= 180, h_sum / 2, wrapped)
    h_mean = np.where(c1p * c2p == 0, h_sum, h_mean)
    t = (
        1
        - 0.17 * np.cos(np.radians(h_mean - 30))
        + 0.24 * np.cos(np.radians(2 * h_mean))
        + 0.32 * np.cos(np.radians(3 * h_mean + 6))
        - 0.20 * np.cos(np.radians(4 * h_mean - 63))
    )
    d_theta = 30 * np.exp(-(((h_mean - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(cp_mean**7 / (cp_mean**7 + 25.0**7))
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    s_c = 1 + 0.045 * cp_mean
    s_h = 1 + 0.015 * cp_mean * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    return np.sqrt(
        (dl / s_l) ** 2 + (dc / s_c) ** 2 + (dh_big / s_h) ** 2 + r_t * (dc / s_c) * (dh_big / s_h)
    )


def _candidates() -> tuple[np.ndarray, np.ndarray]:
    """In-gamut OKLCH grid colours: their sRGB (0-1) and CIELAB, the first one ``_FIRST``."""
    grid = np.array(
        [_FIRST] + [(lv, cv, hv) for lv in _LIGHTNESS for cv in _CHROMA for hv in _HUES_DEG]
    )
    linear = _oklch_to_linear_srgb(grid[:, 0], grid[:, 1], grid[:, 2])
    inside = np.all((linear >= -1e-9) & (linear <= 1 + 1e-9), axis=1)
    linear = np.clip(linear[inside], 0.0, 1.0)
    return _encode(linear), _linear_to_lab(linear)


@functools.lru_cache(maxsize=1)
def _palette() -> tuple[str, ...]:
    rgb, lab = _candidates()
    chosen = [0]
    nearest = delta_e_2000(lab, lab[0])
    while len(chosen) < MAX_DISTINCT:
        pick = int(np.argmax(nearest))
        chosen.append(pick)
        nearest = np.minimum(nearest, delta_e_2000(lab, lab[pick]))
    return tuple("#" + "".join(f"{round(float(v) * 255):02x}" for v in rgb[k]) for k in chosen)


def unit_palette(count: int) -> list[str]:
    """``count`` colours (``#rrggbb``): pairwise distinct up to :data:`MAX_DISTINCT`, each
    as far as possible from all before it; beyond that the palette repeats in order."""
    palette = _palette()
    return [palette[i % len(palette)] for i in range(max(count, 0))]


def text_colour(colour: str) -> str:
    """White or near-black, whichever reads better on ``colour`` (WCAG contrast)."""
    text = colour.lstrip("#")
    linear = _decode(np.array([int(text[i : i + 2], 16) / 255 for i in (0, 2, 4)]))
    luminance = float(linear @ np.array([0.2126, 0.7152, 0.0722]))
    on_white = 1.05 / (luminance + 0.05)
    on_black = (luminance + 0.05) / (0.05 + 0.0093)  # #1b1b1b
    return "#ffffff" if on_white >= on_black else "#1b1b1b"
