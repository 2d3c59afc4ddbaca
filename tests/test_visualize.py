"""visualizationOptions: exact bytes for hand-computed cases, decoded from PNG with Pillow."""

from __future__ import annotations

import io

import numpy as np
import pytest
from affine import Affine
from PIL import Image as PILImage

from sampling import FormatError, Image, compute_pixels
from sampling.colours import parse_colour
from sampling.visualize import visualize


def png_pixels(values, options, *, mask=None, nodata=None) -> np.ndarray:
    """Render a ``(bands, 1, n)`` array to PNG through compute_pixels; decode with Pillow."""
    data = np.asarray(values)
    image = Image.from_array(data, Affine(10, 0, 0, 0, -10, 10), "EPSG:32618", mask=mask, nodata=nodata)
    params = {"expression": image, "fileFormat": "PNG"}
    if options is not None:
        params["visualizationOptions"] = options
    picture = PILImage.open(io.BytesIO(compute_pixels(params)))
    assert picture.format == "PNG"
    return np.asarray(picture)[0]  # (n, 3 or 4)


def test_a_range_maps_linearly_and_clamps():
    got = png_pixels(np.array([[[500, 1000, 2000, 3000, 4000]]], "uint16"), {"ranges": [{"min": 1000, "max": 3000}]})
    # t = 0 (clamped), 0, 0.5, 1, 1 (clamped); 0.5 * 255 = 127.5 rounds half up to 128
    assert got.tolist() == [[0, 0, 0], [0, 0, 0], [128, 128, 128], [255, 255, 255], [255, 255, 255]]


def test_one_range_serves_three_bands():
    bands = np.array([[[10, 20]], [[30, 40]], [[50, 60]]], "int16")
    got = png_pixels(bands, {"ranges": [{"min": 0, "max": 100}]})
    # 10 -> 25.5 -> 26, 20 -> 51, 30 -> 76.5 -> 77, 40 -> 102, 50 -> 127.5 -> 128, 60 -> 153
    assert got.tolist() == [[26, 77, 128], [51, 102, 153]]


def test_one_range_per_band():
    bands = np.array([[[50]], [[50]], [[50]]], "float32")
    got = png_pixels(bands, {"ranges": [{"min": 0, "max": 100}, {"min": 50, "max": 100}, {"min": 100, "max": 0}]})
    assert got.tolist() == [[128, 0, 128]]  # the third range runs backwards: 50 is half way


def test_a_two_colour_palette_interpolates_linearly():
    got = png_pixels(np.array([[[0, 25, 50, 100]]], "uint8"),
                     {"ranges": [{"min": 0, "max": 100}], "paletteColors": ["0000FF", "#ff0000"]})
    # red = 255 t, blue = 255 (1 - t): t = 0.25 gives 63.75 -> 64 and 191.25 -> 191
    assert got.tolist() == [[0, 0, 255], [64, 0, 191], [128, 0, 128], [255, 0, 0]]


def test_a_three_colour_palette_spaces_colours_evenly():
    got = png_pixels(np.array([[[0.0, 0.25, 0.5, 0.75, 1.0]]], "float64"),
                     {"paletteColors": ["black", "white", "red"]})  # floats default to [0, 1]
    assert got.tolist() == [[0, 0, 0], [128, 128, 128], [255, 255, 255], [255, 128, 128], [255, 0, 0]]


def test_gamma_is_t_to_the_power_one_over_gamma():
    got = png_pixels(np.array([[[25, 50, 81]]], "uint8"), {"ranges": [{"min": 0, "max": 100}], "gamma": 2})
    # sqrt(0.25) = 0.5 -> 128; sqrt(0.5) * 255 = 180.3 -> 180; sqrt(0.81) * 255 = 229.5 -> 230
    assert got[:, 0].tolist() == [128, 180, 230]


def test_masked_pixels_are_transparent_and_opacity_scales_alpha():
    values = np.array([[[0, 1, 2], ]], "uint8")
    got = png_pixels(values, {"opacity": 0.5}, mask=np.array([[[True, False, True]]]))
    # uint8 without ranges is shown as is; 0.5 * 255 = 127.5 -> 128; the masked pixel is clear and black
    assert got.tolist() == [[0, 0, 0, 128], [0, 0, 0, 0], [2, 2, 2, 128]]
    nodata = png_pixels(np.array([[[7, 9]]], "uint16"), {"ranges": [{"min": 0, "max": 10}]}, nodata=9)
    assert nodata.tolist() == [[179, 179, 179, 255], [0, 0, 0, 0]]  # 0.7 * 255 = 178.5 -> 179


def test_a_pixel_masked_in_one_of_three_bands_is_transparent():
    values = np.full((3, 1, 2), 200, "uint8")
    mask = np.ones((3, 1, 2), bool)
    mask[1, 0, 1] = False
    assert png_pixels(values, None, mask=mask).tolist() == [[200, 200, 200, 255], [0, 0, 0, 0]]


def test_default_ranges_are_the_unit_interval_for_floats_and_the_type_range_for_integers():
    floats = png_pixels(np.array([[[-1.0, 0.5, 2.0]]], "float32"), {})
    assert floats[:, 0].tolist() == [0, 128, 255]
    ints = png_pixels(np.array([[[-32768, 0, 32767]]], "int16"), {})
    assert ints[:, 0].tolist() == [0, 128, 255]  # 32768 / 65535 * 255 = 127.502 -> 128


def test_opaque_pngs_are_rgb():
    picture = PILImage.open(io.BytesIO(compute_pixels({
        "expression": Image.from_array(np.zeros((1, 2), "uint8"), Affine(1, 0, 0, 0, -1, 1), 32618),
        "fileFormat": "PNG"})))
    assert picture.mode == "RGB"


@pytest.mark.parametrize(
    ("bands", "options", "match"),
    [
        (3, {"paletteColors": ["red", "blue"]}, "paletteColors colours one band, but 3 bands"),
        (2, {}, "1 band .* or 3 bands"),
        (1, {"paletteColors": ["reddish"]}, "not a CSS colour"),
        (1, {"gamma": 0}, "gamma must be positive"),
        (1, {"opacity": 1.5}, "opacity must lie between 0 and 1"),
        (1, {"ranges": [{"min": 3, "max": 3}]}, "min and max must differ"),
        (1, {"ranges": [{"low": 0, "max": 3}]}, "each range must be"),
        (1, {"palette": ["red"]}, "unknown visualizationOptions"),
    ],
)
def test_bad_options_get_clear_errors(bands, options, match):
    values = [np.zeros((1, 1), "uint8")] * bands
    with pytest.raises(FormatError, match=match):
        visualize(values, np.ones((bands, 1, 1), bool), options)


def test_css_colours():
    assert parse_colour("DarkGreen") == (0, 100, 0)
    assert parse_colour("#0f0") == parse_colour("00FF00") == (0, 255, 0)
