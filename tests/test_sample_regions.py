"""sample_regions: Earth Engine's sampleRegions, rule by rule (spec sections 1-3)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely
from affine import Affine
from shapely import LineString, MultiPolygon, Point, Polygon, box

from sampling import (
    BandError,
    CRSError,
    GeometryError,
    GridError,
    Image,
    PixelGrid,
    PropertyError,
    RasterReadError,
    iter_sample_regions,
    sample_regions,
)

from .conftest import coded

UTM = "EPSG:32618"
T = Affine(10, 0, 500000, 0, -10, 4000000)


def image_of(data, transform=T, **kwargs):
    return Image.from_array(data, transform, UTM, **kwargs)


def frame(geoms, crs=UTM, **columns):
    return gpd.GeoDataFrame(columns, geometry=list(geoms), crs=crs)


def cell(row, col, transform=T):
    """The box of pixel (row, col)."""
    x0, y0 = transform @ (col, row)
    x1, y1 = transform @ (col + 1, row + 1)
    return box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def test_one_row_per_region_and_pixel_with_properties_then_bands():
    img = image_of(coded(6, 6, "uint32", bands=2), bands=["red", "nir"])
    regions = frame([cell(0, 0).union(cell(1, 1)).envelope, cell(4, 4)], label=["a", "b"], n=[1, 2])
    out = sample_regions(img, regions)
    assert list(out.columns) == ["label", "n", "red", "nir", "geometry"]
    assert out.index.tolist() == [0, 0, 0, 0, 1]
    assert out["red"].tolist() == [0, 1, 1000, 1001, 4004]
    assert out["nir"].tolist() == [1_000_000, 1_000_001, 1_001_000, 1_001_001, 1_004_004]
    assert out["red"].dtype == np.dtype("uint32")
    assert out["label"].tolist() == ["a", "a", "a", "a", "b"]
    assert out.attrs["band_order"] == ["red", "nir"]
    assert out.geometry.isna().all()
    assert out.crs == img.grid.crs


def test_rows_trace_back_to_their_region_label():
    img = image_of(coded(4, 4))
    regions = frame([cell(0, 0), cell(3, 3)], name=["x", "y"]).set_index(pd.Index([10, 20], name="fid"))
    out = sample_regions(img, regions)
    assert out.index.tolist() == [10, 20]
    assert out.index.name == "fid"
    assert regions.loc[out.index, "name"].tolist() == out["name"].tolist()


def test_feature_ids_are_earth_engines():
    img = image_of(coded(4, 4))
    regions = frame([box(500000, 3999980, 500020, 4000000), cell(3, 3)])
    out = sample_regions(img, regions, feature_ids=True)
    assert out.index.tolist() == ["0_0", "0_1", "0_2", "0_3", "1_0"]
    assert out.index.name == "system:index"


def test_properties_select_columns_and_unknown_ones_are_refused():
    img = image_of(coded(4, 4))
    regions = frame([cell(0, 0)], a=[1], b=[2])
    assert list(sample_regions(img, regions, properties=["b"]).columns) == ["b", "b1", "geometry"]
    assert list(sample_regions(img, regions, properties=[]).columns) == ["b1", "geometry"]
    with pytest.raises(PropertyError, match=r"unknown properties \['zzz'\]"):
        sample_regions(img, regions, properties=["zzz"])


def test_band_names_colliding_with_properties_are_refused():
    img = image_of(coded(4, 4), bands=["name"])
    with pytest.raises(BandError, match="collide"):
        sample_regions(img, frame([cell(0, 0)], name=["x"]))


def test_overlapping_regions_give_duplicate_pixels():
    img = image_of(coded(4, 4))
    regions = frame([cell(1, 1), cell(1, 1).buffer(1)], k=[0, 1])
    out = sample_regions(img, regions)
    assert out["b1"].tolist() == [1001, 1001]
    assert out["k"].tolist() == [0, 1]


def test_a_pixel_masked_in_any_band_is_dropped():
    data = coded(2, 2, "int16", bands=2)
    data[1, 0, 1] = -1  # band 2 masked at (0, 1)
    img = image_of(data, nodata=-1)
    out = sample_regions(img, frame([box(500000, 3999980, 500020, 4000000)]))
    assert out["b1"].tolist() == [0, 1000, 1001]
    kept = sample_regions(img, frame([box(500000, 3999980, 500020, 4000000)]), drop_masked=False)
    assert kept["b2"].isna().tolist() == [False, True, False, False]
    assert str(kept["b2"].dtype) == "Int16"


def test_geometries_are_pixel_centres_in_the_working_crs():
    img = image_of(coded(3, 3))
    out = sample_regions(img, frame([cell(2, 1)]), geometries=True)
    assert out.geometry.iloc[0].equals(Point(500015, 3999975))
    assert out.crs.to_epsg() == 32618


def test_row_major_order_within_a_region_for_a_south_up_image():
    south_up = Affine(10, 0, 500000, 0, 10, 4000000)
    img = image_of(coded(3, 3), transform=south_up)
    out = sample_regions(img, frame([box(500000, 4000000, 500030, 4000030)]))
    assert out["b1"].tolist() == [0, 1, 2, 1000, 1001, 1002, 2000, 2001, 2002]


def test_points_lines_polygons_and_multis_in_one_frame():
    img = image_of(coded(10, 10))
    x0, y0 = 500000, 4000000
    regions = frame(
        [
            Point(x0 + 15, y0 - 15),
            shapely.MultiPoint([(x0 + 5, y0 - 5), (x0 + 6, y0 - 6), (x0 + 95, y0 - 95)]),
            LineString([(x0 + 5, y0 - 55), (x0 + 35, y0 - 55)]),
            MultiPolygon([cell(0, 9), cell(9, 0)]),
            box(x0, y0 - 50, x0 + 50, y0).difference(box(x0 + 10, y0 - 40, x0 + 40, y0 - 10)),
        ]
    )
    out = sample_regions(img, regions)
    by_region = out.groupby(level=0)["b1"].apply(list).to_dict()
    assert by_region[0] == [1001]
    assert by_region[1] == [0, 9009]
    assert by_region[2] == [5000, 5001, 5002, 5003]
    assert by_region[3] == [9, 9000]
    assert len(by_region[4]) == 25 - 9 and 2002 not in by_region[4]


def test_bands_at_different_resolutions_read_by_nearest_neighbour(make_raster):
    ten = make_raster(coded(6, 6, "uint32"), transform=Affine(10, 0, 500000, 0, -10, 4000000), name="img_B10.tif")
    twenty = make_raster(
        coded(3, 3, "uint32") + 500, transform=Affine(20, 0, 500000, 0, -20, 4000000), name="img_B20.tif"
    )
    img = Image.open([ten, twenty])
    assert img.band_names == ["B10", "B20"]
    out = sample_regions(img, frame([box(500000, 3999960, 500040, 4000000)]))
    # working grid = first band (10 m); each 10 m pixel takes the 20 m pixel under its centre
    assert out["B10"].tolist() == [r * 1000 + c for r in range(4) for c in range(4)]
    assert out["B20"].tolist() == [500 + (r // 2) * 1000 + c // 2 for r in range(4) for c in range(4)]


def test_scale_finer_than_native_keeps_the_origin():
    img = image_of(coded(4, 4))
    out = sample_regions(img, frame([cell(0, 0)]), scale=5, geometries=True)
    assert len(out) == 4
    assert out["b1"].tolist() == [0, 0, 0, 0]
    assert sorted((p.x, p.y) for p in out.geometry) == [
        (500002.5, 3999992.5), (500002.5, 3999997.5), (500007.5, 3999992.5), (500007.5, 3999997.5)
    ]


def test_scale_coarser_than_native_samples_the_pixel_under_each_coarse_centre():
    img = image_of(coded(4, 4))
    out = sample_regions(img, frame([box(500000, 3999960, 500040, 4000000)]), scale=20, geometries=True)
    # 20 m centres at (10, 10), (30, 10)... fall on the corners of 10 m pixels: floor rule
    assert out["b1"].tolist() == [1001, 1003, 3001, 3003]


def test_projection_in_another_crs():
    img = image_of(coded(20, 20, "uint32"))
    grid = PixelGrid("EPSG:32619", Affine(7, 0, 0, 0, -7, 0))
    region = frame([box(500040, 3999900, 500120, 3999960)])
    out = sample_regions(img, region, projection=grid, geometries=True)
    assert out.crs.to_epsg() == 32619
    # each value is the source pixel under the working centre, transformed back
    centres = gpd.GeoSeries(out.geometry.values, crs=32619).to_crs(UTM)
    rows, cols = img.grid.index(centres.x.to_numpy(), centres.y.to_numpy())
    assert out["b1"].tolist() == (rows * 1000 + cols).tolist()
    # and every working centre lies in the region
    assert shapely.contains(region.geometry.iloc[0], centres.values).all()


def test_regions_in_lonlat_over_a_utm_image_equal_regions_in_utm():
    img = image_of(coded(50, 50, "uint32"))
    regions = frame([Point(500203, 3999797).buffer(120), box(500010, 3999700, 500090, 3999990)])
    in_utm = sample_regions(img, regions)
    in_lonlat = sample_regions(img, regions.to_crs(4326))
    pd.testing.assert_frame_equal(pd.DataFrame(in_utm), pd.DataFrame(in_lonlat), check_dtype=True)


@pytest.mark.parametrize("tile_scale", [0.5, 2, 16, 300, 2000])
def test_tile_scale_never_changes_the_result(tile_scale):
    img = image_of(coded(40, 40, "uint32"))
    regions = frame([Point(500200, 3999800).buffer(r) for r in (30, 60, 90, 150)])
    base = sample_regions(img, regions)
    assert len(base) > 200
    pd.testing.assert_frame_equal(sample_regions(img, regions, tile_scale=tile_scale), base)


def test_iter_sample_regions_chunks_concatenate_to_the_result():
    img = image_of(coded(40, 40, "uint32"))
    regions = frame([Point(500200, 3999800).buffer(r) for r in (30, 60, 90)])
    chunks = list(iter_sample_regions(img, regions, tile_scale=300))  # about 44 pixels a chunk
    assert len(chunks) > 1
    pd.testing.assert_frame_equal(pd.concat(chunks), sample_regions(img, regions))


def test_regions_outside_the_image_give_an_empty_result_with_a_warning():
    img = image_of(coded(4, 4, "uint16"), bands=["B"])
    with pytest.warns(UserWarning, match="entirely outside the image"):
        out = sample_regions(img, frame([box(0, 0, 10, 10)], k=[1]))
    assert len(out) == 0
    assert list(out.columns) == ["k", "B", "geometry"]
    assert out["B"].dtype == np.dtype("uint16")


def test_a_region_too_small_for_any_centre_warns():
    img = image_of(coded(4, 4))
    with pytest.warns(UserWarning, match="no region contains a pixel centre"):
        out = sample_regions(img, frame([box(500001, 3999991, 500002, 3999992)]))
    assert len(out) == 0


def test_regions_without_crs_are_refused():
    img = image_of(coded(4, 4))
    with pytest.raises(CRSError, match="no CRS"):
        sample_regions(img, gpd.GeoDataFrame(geometry=[cell(0, 0)]))


def test_empty_missing_and_invalid_geometries_name_their_rows():
    img = image_of(coded(4, 4))
    bowtie = Polygon([(500000, 4000000), (500020, 3999980), (500020, 4000000), (500000, 3999980)])
    with pytest.raises(GeometryError, match=r"rows \[1\] have invalid geometries.*Self-intersection"):
        sample_regions(img, frame([cell(0, 0), bowtie]))
    with pytest.raises(GeometryError, match=r"rows \[0\] have empty geometries"):
        sample_regions(img, frame([Polygon(), cell(0, 0)]))
    with pytest.raises(GeometryError, match=r"rows \[1\] have no geometry"):
        sample_regions(img, frame([cell(0, 0), None]))
    with pytest.raises(GeometryError, match="empty: there is nothing"):
        sample_regions(img, frame([]))


def test_an_unreadable_or_missing_raster_is_a_clear_error(tmp_path):
    with pytest.raises(RasterReadError, match="does not exist"):
        sample_regions(tmp_path / "missing.tif", frame([cell(0, 0)]))


def test_a_bad_scale_or_tile_scale_is_refused():
    img = image_of(coded(4, 4))
    with pytest.raises(GridError, match="scale"):
        sample_regions(img, frame([cell(0, 0)]), scale=0)
    with pytest.raises(GridError, match="tile_scale"):
        sample_regions(img, frame([cell(0, 0)]), tile_scale=0)


def test_result_is_valid_geoparquet(tmp_path):
    img = image_of(coded(4, 4, "uint16"))
    regions = frame([cell(0, 0), cell(1, 1)], name=["a", "b"])
    for geometries in (False, True):
        out = sample_regions(img, regions, geometries=geometries)
        path = tmp_path / f"out_{geometries}.parquet"
        out.to_parquet(path)
        back = gpd.read_parquet(path)
        assert back["b1"].tolist() == out["b1"].tolist()
        assert back.crs == out.crs
        table = pq.read_table(path)
        assert b"geo" in table.schema.metadata
        assert table.schema.field("b1").type == "uint16"
