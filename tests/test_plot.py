"""sampling.plot draws what it says, on the Agg backend."""

from __future__ import annotations

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402

from sampling import Image, OptionError, sample_regions  # noqa: E402
from sampling.plot import plot_histograms, plot_image, plot_time_series, rgb_composite  # noqa: E402

from .conftest import EXAMPLE_DATA

IMAGE = str(EXAMPLE_DATA / "example.tif")
REGIONS = str(EXAMPLE_DATA / "example_regions.gpkg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")

@pytest.fixture(scope="module")
def fields() -> gpd.GeoDataFrame:
    return gpd.read_file(REGIONS)

def test_rgb_composite_stretch_and_mask():
    rgba, extent = rgb_composite(IMAGE)
    image = Image.open(IMAGE)
    assert rgba.shape == (240, 320, 4) and extent == (500000.0, 503200.0, 4197600.0, 4200000.0)
    alpha = rgba[..., 3]
    # the cloud (nodata) is transparent, the rest opaque
    assert alpha[40, 270] == 0 and alpha[200, 20] == 1 and 0 < (alpha == 0).mean() < 0.1
    # 2nd-98th percentile stretch: about 2 % of the valid pixels are clipped at each end of a band
    red = rgba[..., 0][alpha == 1]
    assert 0.005 < (red == 0).mean() < 0.05 and 0.005 < (red == 1).mean() < 0.05
    assert image.band_names[:3] == ["blue", "green", "red"]  # red/green/blue were found by name
    small, _ = rgb_composite(IMAGE, max_size=100)
    assert small.shape == (60, 80, 4)  # every 4th pixel: 320 / 4 <= 100

def test_plot_image_with_regions_and_samples(fields, tmp_path):
    samples = sample_regions(IMAGE, fields, geometries=True)
    ax = plot_image(IMAGE, regions=fields, samples=samples, column="class")
    images = [a for a in ax.get_children() if isinstance(a, AxesImage)]
    assert len(images) == 1 and images[0].get_array().shape == (240, 320, 4)
    dots = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert sum(len(c.get_offsets()) for c in dots) == len(samples)
    assert len(dots) == fields["class"].nunique()  # one colour per class
    outlines = [c for c in ax.collections if not isinstance(c, PathCollection)]
    assert sum(len(c.get_paths()) for c in outlines) >= len(fields)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["crop", "forest", "urban", "water"]
    out = tmp_path / "figure.png"
    ax.figure.savefig(out)
    assert out.stat().st_size > 10_000

def test_plot_image_needs_point_geometries(fields):
    with pytest.raises(OptionError, match="geometries=True"):
        plot_image(IMAGE, samples=sample_regions(IMAGE, fields))

def test_plot_image_single_band_and_other_crs(fields):
    ax = plot_image(IMAGE, bands=["nir"], regions=fields.to_crs(4326))
    rgba = ax.get_images()[0].get_array()
    assert np.allclose(rgba[..., 0], rgba[..., 1])  # grey
    # the regions were reprojected back onto the image
    x0, x1 = ax.get_xlim()
    path_x = np.concatenate([p.vertices[:, 0] for c in ax.collections for p in c.get_paths()])
    assert (path_x > x0).all() and (path_x < x1).all()

def long_table() -> pd.DataFrame:
    times = pd.date_range("2024-01-01", periods=6, freq="MS", tz="UTC").as_unit("ms").asi8
    rows = []
    for k, (lon, lat) in enumerate([(-75.0, 37.9), (-75.001, 37.9), (-75.002, 37.9)]):
        for t in times:
            rows.append({"id": "x", "longitude": lon, "latitude": lat, "time": t, "nir": 1000 + k * 100 + t % 7,
                         "field": "a" if k < 2 else "b"})
    return pd.DataFrame(rows)

def test_plot_time_series_per_pixel_and_per_region():
    table = long_table()
    ax = plot_time_series(table, "nir")
    assert len(ax.get_lines()) == 3 and all(len(line.get_xdata()) == 6 for line in ax.get_lines())
    ax = plot_time_series(table, "nir", by="field")
    lines = ax.get_lines()
    assert len(lines) == 2
    expected = table[table.field == "a"].groupby("time")["nir"].mean().to_numpy()
    assert np.allclose(lines[0].get_ydata(), expected)
    ax = plot_time_series(table, "nir", max_lines=2)
    assert len(ax.get_lines()) == 2 and "first 2 of 3" in ax.get_title()
    with pytest.raises(KeyError, match="unknown band"):
        plot_time_series(table, "red")

def test_plot_histograms_per_class(fields):
    table = sample_regions(IMAGE, fields)
    axes = plot_histograms(table, by="class")
    assert len(axes) == 4 and [a.get_title() for a in axes] == ["blue", "green", "red", "nir"]
    assert len(axes[0].patches) == 4 * 40  # 4 classes x 40 bins
    heights = sum(p.get_height() for p in axes[3].patches)
    assert heights == len(table)


def test_plot_patches_grid():
    from sampling import cut_patches
    from sampling.plot import plot_patches

    points = gpd.read_file(EXAMPLE_DATA / "example_points.gpkg")
    patches = cut_patches(IMAGE, points, size=16)
    axes = plot_patches(patches, titles=points["class"], columns=6)
    shown = [ax for ax in axes if ax.get_images()]
    assert len(axes) == 24 and len(shown) == len(points) == 20
    first = shown[0].get_images()[0].get_array()
    assert first.shape == (16, 16, 4) and shown[0].get_title() == points["class"][0]
    # one stretch for all patches: the same value gives the same colour everywhere
    red = patches.values[:, patches.band_names.index("red")]
    stack = np.stack([ax.get_images()[0].get_array()[..., 0] for ax in shown])
    order = np.argsort(red.reshape(-1), kind="stable")
    assert np.all(np.diff(stack.reshape(-1)[order]) >= 0)  # monotone in the band's value
    with pytest.raises(KeyError, match="unknown bands"):
        plot_patches(patches, bands=["swir"])
