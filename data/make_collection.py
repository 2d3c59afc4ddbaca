"""Generate the bundled example image collection deterministically.

Writes into ``collection/`` next to this script:

* ``scene_YYYYMMDD.tif`` for four dates of 2021: 2-band (``red``, ``nir``) uint16
  scenes of 30 m pixels in EPSG:32618 over the area of ``example.tif``, made by
  averaging its 10 m pixels 3 x 3 and letting the vegetation green up and dry
  down with the season. Nodata is 0. ``scene_20210629.tif`` has a cloud (both bands
  0) and lies on a lattice shifted by 15 m; ``scene_20210808.tif`` has a stripe
  where only ``nir`` is missing. Each file carries its acquisition time in the
  ``TIFFTAG_DATETIME`` tag.
* ``items.json``: a STAC ItemCollection describing the four scenes (relative hrefs,
  one ``image`` asset whose ``eo:bands`` are ``red`` and ``nir``).

Run ``python data/make_collection.py`` (after ``make_example.py``) to regenerate
them; the output is identical every time.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from pyproj import Transformer
from shapely import box, to_geojson

HERE = Path(__file__).resolve().parent
OUT = HERE / "collection"
CRS = "EPSG:32618"
SCALE = 30.0
#: date, acquisition time, seasonal vegetation factor, lattice shift (m)
SCENES = [
    ("20210410", "15:42:11", 0.55, 0.0),
    ("20210520", "15:42:37", 0.95, 0.0),
    ("20210629", "15:43:02", 1.25, 15.0),
    ("20210808", "15:43:20", 0.85, 0.0),
]


def base_scene() -> tuple[np.ndarray, Affine]:
    """Red and NIR of ``example.tif`` averaged to 30 m (nodata-aware), and its transform."""
    with rasterio.open(HERE / "example.tif") as src:
        red, nir = src.read([3, 4]).astype("float64")
        t = src.transform
    h, w = red.shape[0] // 3, red.shape[1] // 3
    out = []
    for band in (red, nir):
        blocks = band[: h * 3, : w * 3].reshape(h, 3, w, 3)
        valid = blocks > 0
        total = np.where(valid, blocks, 0).sum(axis=(1, 3))
        count = valid.sum(axis=(1, 3))
        out.append(np.where(count > 0, total / np.maximum(count, 1), 0))
    return np.stack(out), Affine(SCALE, 0, t.c, 0, -SCALE, t.f)


def scene(base: np.ndarray, factor: float, date: str) -> np.ndarray:
    red, nir = base
    vegetation = (nir > 1.5 * red) & (red > 0)
    red = np.where(vegetation, red * (1.6 - 0.5 * factor), red)
    nir = np.where(vegetation, nir * factor, nir)
    data = np.clip(np.stack([red, nir]), 0, 10000).round().astype("uint16")
    data[(data == 0).any(axis=0)[None].repeat(2, axis=0)] = 0
    rows, cols = np.mgrid[0 : data.shape[1], 0 : data.shape[2]]
    if date == "20210629":  # a cloud: both bands missing
        data[:, (rows - 30) ** 2 / 9**2 + (cols - 30) ** 2 / 14**2 < 1] = 0
    if date == "20210808":  # a detector stripe: only nir missing
        data[1, :, 70:73] = 0
    return data


def main() -> None:
    OUT.mkdir(exist_ok=True)
    base, transform = base_scene()
    to_lonlat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    features = []
    for date, clock, factor, shift in SCENES:
        data = scene(base, factor, date)
        t = Affine(SCALE, 0, transform.c + shift, 0, -SCALE, transform.f - shift)
        name = f"scene_{date}.tif"
        profile = {
            "driver": "GTiff", "width": data.shape[2], "height": data.shape[1], "count": 2, "dtype": "uint16",
            "crs": CRS, "transform": t, "nodata": 0, "tiled": True, "blockxsize": 32, "blockysize": 32,
            "compress": "deflate", "predictor": 2,
        }
        with rasterio.open(OUT / name, "w", **profile) as dst:
            dst.write(data)
            dst.descriptions = ("red", "nir")
            dst.update_tags(TIFFTAG_DATETIME=f"{date[:4]}:{date[4:6]}:{date[6:]} {clock}")
        bounds = rasterio.transform.array_bounds(data.shape[1], data.shape[2], t)
        lonlat = to_lonlat.transform_bounds(*bounds)
        features.append({
            "type": "Feature",
            "stac_version": "1.0.0",
            "stac_extensions": ["https://stac-extensions.github.io/eo/v1.1.0/schema.json"],
            "id": f"scene_{date}",
            "geometry": json.loads(to_geojson(box(*lonlat))),
            "bbox": [round(v, 7) for v in lonlat],
            "properties": {
                "datetime": f"{date[:4]}-{date[4:6]}-{date[6:]}T{clock}Z",
                "eo:cloud_cover": 6.0 if date == "20210629" else 0.0,
            },
            "links": [],
            "assets": {
                "image": {
                    "href": f"./{name}",
                    "type": "image/tiff; application=geotiff",
                    "roles": ["data"],
                    "eo:bands": [{"name": "red"}, {"name": "nir"}],
                },
            },
        })
    items = {"type": "FeatureCollection", "features": features}
    (OUT / "items.json").write_text(json.dumps(items, indent=1) + "\n")


if __name__ == "__main__":
    main()
