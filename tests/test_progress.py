"""Progress bars: shown only when asked, never changing a result, optional tqdm."""

from __future__ import annotations

import sys
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

import sampling.progress as progress_module
from sampling import ImageCollection, cut_patches, get_region, sample_regions
from sampling.progress import Progress, progress_bar

from .conftest import EXAMPLE_DATA

IMAGE = str(EXAMPLE_DATA / "example.tif")
REGIONS = str(EXAMPLE_DATA / "example_regions.gpkg")


def test_no_bar_unless_asked(capsys):
    with progress_bar(10, progress=False, desc="x") as bar:
        bar.update(3)
        bar.advance_to(2)  # never backwards
    assert bar.done == 3 and not bar.shown
    assert capsys.readouterr().err == ""
    with progress_bar(10, progress=True, desc="counting", unit="thing") as bar:
        assert bar.shown
        bar.advance_to(10)
    assert "counting" in capsys.readouterr().err


def test_without_tqdm_a_requested_bar_warns_once_and_work_goes_on(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # "import tqdm.auto" now fails
    monkeypatch.setattr(progress_module, "_warned", False)
    with pytest.warns(UserWarning, match="needs tqdm"):
        bar = progress_bar(5, progress=True, desc="x")
    assert isinstance(bar, Progress) and not bar.shown
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second request stays quiet
        progress_bar(5, progress=True, desc="x")
        progress_bar(5, progress=None, desc="x")  # "auto" never warns
    fields = gpd.read_file(REGIONS)
    pd.testing.assert_frame_equal(sample_regions(IMAGE, fields, progress=True), sample_regions(IMAGE, fields))


def test_operations_give_the_same_result_with_a_bar(capsys):
    fields = gpd.read_file(REGIONS)
    plain = sample_regions(IMAGE, fields, geometries=True)
    with_bar = sample_regions(IMAGE, fields, geometries=True, progress=True)
    pd.testing.assert_frame_equal(plain, with_bar)
    assert "sample_regions" in capsys.readouterr().err

    scenes = ImageCollection.from_files(str(EXAMPLE_DATA / "collection" / "*.tif"))
    pd.testing.assert_frame_equal(get_region(scenes, fields, progress=True), get_region(scenes, fields))
    assert "get_region" in capsys.readouterr().err

    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(np.linspace(500050, 503150, 600),
                                                          np.linspace(4197650, 4199950, 600)), crs=32618)
    quiet = cut_patches(IMAGE, points, size=9)
    loud = cut_patches(IMAGE, points, size=9, progress=True)  # read in groups of 256 while the bar shows
    assert "cut_patches" in capsys.readouterr().err
    np.testing.assert_array_equal(quiet.values, loud.values)
    np.testing.assert_array_equal(quiet.valid, loud.valid)


def test_a_shown_bar_moves_over_several_batches(monkeypatch, capsys):
    module = sys.modules["sampling.sample_regions"]  # the package attribute is the function

    monkeypatch.setattr(module, "BATCH_PIXELS_WITH_BAR", 200)  # the example's 1,523 pixels in ~8 batches
    fields = gpd.read_file(REGIONS)
    seen = []
    original = Progress.advance_to

    def spy(self, done):
        seen.append(done)
        original(self, done)

    monkeypatch.setattr(Progress, "advance_to", spy)
    result = sample_regions(IMAGE, fields, progress=True)
    pd.testing.assert_frame_equal(result, sample_regions(IMAGE, fields))
    assert len(set(seen)) > 4 and seen[-1] == len(fields)
