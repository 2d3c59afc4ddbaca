"""Remote rasters over HTTP and S3, read from real servers on 127.0.0.1.

The HTTP server honours range requests and logs every request with the bytes it
sent, so the tests can assert what GDAL fetched; the S3 server is moto's, with
authentication on.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from click.testing import CliRunner
from geopandas.testing import assert_geodataframe_equal
from rasterio.session import AWSSession

from sampling import Image, RasterReadError, VectorReadError, sample_regions
from sampling.cli import main
from sampling.io import read_regions
from sampling.remote import (
    DEFAULT_GDAL_OPTIONS,
    GdalOptions,
    active_options,
    display_path,
    gdal_env,
    gdal_path,
    is_remote,
    open_error_message,
    redact,
)

from .loopback import HTTPServer, S3Server, serve_http, serve_s3, write_cog

BIG = 4000  # pixels a side of the large COG
BLOCK = 256
TRANSFORM = Affine(10, 0, 500000, 0, -10, 4000000)
CRS = "EPSG:32618"


# -- paths and messages -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, expected",
    [
        ("https://host/a/b.tif", "/vsicurl/https://host/a/b.tif"),
        ("http://127.0.0.1:8000/b.tif?x=1", "/vsicurl/http://127.0.0.1:8000/b.tif?x=1"),
        ("s3://bucket/key/b.tif", "/vsis3/bucket/key/b.tif"),
        ("S3://bucket/b.tif", "/vsis3/bucket/b.tif"),
        ("gs://bucket/b.tif", "/vsigs/bucket/b.tif"),
        ("az://container/b.tif", "/vsiaz/container/b.tif"),
        ("file:///data/b.tif", "/data/b.tif"),
        ("/vsis3/bucket/b.tif", "/vsis3/bucket/b.tif"),
        ("/vsizip//vsicurl/https://host/a.zip/b.tif", "/vsizip//vsicurl/https://host/a.zip/b.tif"),
        ("zip+https://host/a.zip!b.tif", "zip+https://host/a.zip!b.tif"),
        ("data/b.tif", "data/b.tif"),
        ("C:/data/b.tif", "C:/data/b.tif"),
    ],
)
def test_gdal_path(path: str, expected: str) -> None:
    assert gdal_path(path) == expected


def test_is_remote() -> None:
    assert is_remote("https://host/a.tif") and is_remote("s3://b/k") and is_remote("/vsicurl/http://h/a")
    assert not is_remote("data/a.tif") and not is_remote("/tmp/a.tif")


def test_redact_strips_user_info_query_strings_and_secret_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-K7MDENG")
    monkeypatch.setenv("AWS_HTTPS", "NO")  # not a secret: never masked
    text = (
        "GET https://ann:hunter22@host:8443/a.tif?X-Amz-Signature=f00d&X-Amz-Credential=AKIA1 failed; "
        "key wJalrXUtnFEMI-K7MDENG rejected; AWS_HTTPS=NO"
    )
    shown = redact(text)
    for secret in ("hunter22", "ann:", "f00d", "AKIA1", "wJalrXUtnFEMI-K7MDENG"):
        assert secret not in shown
    assert "https://***@host:8443/a.tif?***" in shown
    assert "AWS_HTTPS=NO" in shown
    with rasterio.Env(GDAL_HTTP_USERPWD="bob:s3cr3tpw"):
        assert "s3cr3tpw" not in redact("curl said bob:s3cr3tpw is wrong")
    assert "tok3n-value" not in redact("bad tok3n-value", options={"AWS_SESSION_TOKEN": "tok3n-value"})


def test_display_path_keeps_the_location() -> None:
    assert display_path("s3://bucket/scenes/B4.tif") == "s3://bucket/scenes/B4.tif"
    assert display_path("https://u:p@h/x.tif?sig=1") == "https://***@h/x.tif?***"


def test_open_error_messages_name_the_url_and_the_fix() -> None:
    msg = open_error_message("s3://bucket/k.tif", "The request signature we calculated does not match")
    assert msg.startswith("cannot open raster s3://bucket/k.tif: access denied")
    assert "AWS_SECRET_ACCESS_KEY" in msg
    msg = open_error_message("https://h/x.tif?token=abc", "HTTP response code: 403")
    assert "abc" not in msg and "403" in msg and "https://h/x.tif" in msg
    msg = open_error_message("/vsis3/b/k.tif", "'/vsis3/b/k.tif' does not exist in the file system")
    assert "no such object" in msg


def test_gdal_options_repr_masks_secrets() -> None:
    options = GdalOptions(AWS_SECRET_ACCESS_KEY="abcd1234efgh", AWS_SESSION_TOKEN="tttttttt", AWS_S3_ENDPOINT="h:9")
    shown = repr(options) + str(options)
    assert "abcd1234efgh" not in shown and "tttttttt" not in shown and "h:9" in shown
    assert pickle.loads(pickle.dumps(options)) == options


# -- GDAL settings: ours under the user's ---------------------------------------------------


def test_gdal_env_sets_the_defaults() -> None:
    with gdal_env():
        options = active_options()
    for key, value in DEFAULT_GDAL_OPTIONS.items():
        assert options[key] == value


def test_environment_variables_and_the_users_env_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GDAL_HTTP_MAX_RETRY", "9")
    with rasterio.Env(VSI_CACHE="FALSE"):
        with gdal_env():
            options = active_options()
            assert options["VSI_CACHE"] == "FALSE"
            assert "GDAL_HTTP_MAX_RETRY" not in options  # GDAL reads the environment variable
            assert options["GDAL_DISABLE_READDIR_ON_OPEN"] == "EMPTY_DIR"
        with gdal_env(VSI_CACHE="TRUE"):
            assert active_options()["VSI_CACHE"] == "TRUE"  # explicit overrides win over everything


# -- HTTP ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def www(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding a 4000 x 4000 uint16 COG (256-pixel DEFLATE tiles) of noise, about 27 MB."""
    root = tmp_path_factory.mktemp("www")
    rng = np.random.default_rng(6)
    write_cog(root / "big.tif", rng.integers(0, 4096, (BIG, BIG), dtype="uint16"), transform=TRANSFORM, crs=CRS)
    return root


@pytest.fixture(scope="module")
def http(www: Path) -> Iterator[HTTPServer]:
    with serve_http(www) as server:
        yield server


@pytest.fixture
def cog_url(www: Path, http: HTTPServer, request: pytest.FixtureRequest) -> str:
    """The large COG under a name of its own, so GDAL's per-URL cache from other tests cannot help."""
    name = f"{request.node.name.replace('[', '_').replace(']', '')}.tif"
    if not (www / name).exists():
        os.link(www / "big.tif", www / name)
    http.clear()
    return f"{http.url}/{name}"


def _points(rows: np.ndarray, cols: np.ndarray) -> gpd.GeoDataFrame:
    x, y = TRANSFORM @ (cols + 0.5, rows + 0.5)
    return gpd.GeoDataFrame({"plot": np.arange(len(rows))}, geometry=shapely.points(x, y), crs=CRS)


def test_opening_a_remote_cog_reads_only_its_header(cog_url: str, http: HTTPServer, www: Path) -> None:
    image = Image.open(cog_url)
    name = cog_url.rsplit("/", 1)[1]
    assert image.grid.shape == (BIG, BIG) and image.id == name.removesuffix(".tif")
    requests = http.for_file(name)
    assert [r.method for r in requests] == ["HEAD", "GET"]
    assert http.bytes_for(name) <= 64 * 1024
    assert all(r.path.startswith(f"/{name}") for r in http.requests())  # no directory listing


def test_sampling_a_few_points_reads_a_small_fraction(cog_url: str, http: HTTPServer, www: Path) -> None:
    rows = np.array([5, 700, 1900, 2600, 3999])
    cols = np.array([3999, 10, 2222, 1300, 0])
    result = sample_regions(cog_url, _points(rows, cols))
    with rasterio.open(www / "big.tif") as ds:
        expected = ds.read(1)[rows, cols]
    np.testing.assert_array_equal(result["b1"].to_numpy(), expected)
    name = cog_url.rsplit("/", 1)[1]
    requests = http.for_file(name)
    size = (www / "big.tif").stat().st_size
    served = http.bytes_for(name)
    # HEAD + header + one range per distinct block (5 points in 5 blocks), nothing else
    assert len(requests) <= 2 + 5, requests
    assert sum(r.range is not None for r in requests) >= 5
    assert served < 0.03 * size, (served, size)


def test_a_polygon_reads_only_the_blocks_under_it(cog_url: str, http: HTTPServer, www: Path) -> None:
    # a polygon over the 2 x 2 blocks starting at block (4, 6)
    x0, y0 = TRANSFORM @ (6 * BLOCK + 10, 4 * BLOCK + 10)
    x1, y1 = TRANSFORM @ (8 * BLOCK - 10, 6 * BLOCK - 10)
    region = gpd.GeoDataFrame({"field": ["f"]}, geometry=[shapely.box(x0, y1, x1, y0)], crs=CRS)
    result = sample_regions(cog_url, region)
    with rasterio.open(www / "big.tif") as ds:
        expected = ds.read(1)[4 * BLOCK + 10 : 6 * BLOCK - 10, 6 * BLOCK + 10 : 8 * BLOCK - 10].ravel()
    np.testing.assert_array_equal(result["b1"].to_numpy(), expected)
    name = cog_url.rsplit("/", 1)[1]
    tile_bytes = 2 * BLOCK * BLOCK  # uncompressed; DEFLATE of noise is not much smaller
    # one range request per block; GDAL's read-ahead may extend a request by about one tile
    assert len(http.for_file(name)) <= 2 + 4
    assert http.bytes_for(name) <= 64 * 1024 + 2 * 4 * tile_bytes
    assert http.bytes_for(name) < 0.05 * (www / "big.tif").stat().st_size


def test_the_users_env_overrides_the_librarys(cog_url: str, http: HTTPServer) -> None:
    # GDAL lists the "directory" of a file on open unless told not to; the library tells it
    # not to, and a user who wants the listing gets it.
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="FALSE"):
        Image.open(cog_url)
    assert any(r.path == "/" or r.path.startswith("/?") for r in http.requests())


def test_real_landsat_bands_over_http(shared_data: Path, landsat_paths: list[str]) -> None:
    with serve_http(shared_data) as server:
        urls = [f"{server.url}/landsat8/{Path(p).name}" for p in landsat_paths]
        points = gpd.read_file(shared_data / "landsat8" / "points.gpkg")
        polygons = gpd.read_file(shared_data / "landsat8" / "polygons.gpkg")
        for regions in (points, polygons):
            remote = sample_regions(urls, regions)
            local = sample_regions(landsat_paths, regions)
            assert list(remote.columns) == list(local.columns) == ["name", "B2", "B3", "B4", "geometry"]
            assert_geodataframe_equal(remote, local)
        size = sum(os.path.getsize(p) for p in landsat_paths)
        assert sum(r.bytes for r in server.requests()) < 0.5 * size


def test_regions_and_rasters_both_over_http(shared_data: Path, landsat_paths: list[str], tmp_path: Path) -> None:
    with serve_http(shared_data) as server:
        raster = f"{server.url}/landsat8/{Path(landsat_paths[0]).name}"
        regions_url = f"{server.url}/landsat8/polygons.gpkg"
        out = tmp_path / "samples.parquet"
        result = CliRunner().invoke(main, ["sample-regions", raster, regions_url, "-o", str(out)])
        assert result.exit_code == 0, result.output
        expected = sample_regions(landsat_paths[0], gpd.read_file(shared_data / "landsat8" / "polygons.gpkg"))
        assert_geodataframe_equal(gpd.read_parquet(out), expected, check_index_type=False)
        with pytest.raises(VectorReadError, match=r"cannot read regions from http://127\.0\.0\.1:\d+/none\.gpkg\?\*\*\*"):
            read_regions(f"{server.url}/none.gpkg?token=abc")


def test_missing_url_gives_a_clear_error_without_credentials(http: HTTPServer) -> None:
    url = http.url.replace("http://", "http://ann:hunter22@") + "/nowhere.tif?token=s3cr3t"
    with pytest.raises(RasterReadError) as info:
        Image.open(url)
    message = str(info.value)
    assert "404" in message and "/nowhere.tif" in message and "127.0.0.1" in message
    assert "hunter22" not in message and "s3cr3t" not in message and "ann:" not in message


def test_forbidden_url_gives_a_clear_error_without_the_token(www: Path, http: HTTPServer) -> None:
    os.link(www / "big.tif", www / "private.tif")
    http.require_token("private.tif", "the-right-token")
    with pytest.raises(RasterReadError) as info:
        Image.open(f"{http.url}/private.tif?token=a-wrong-token")
    message = str(info.value)
    assert "403" in message and f"{http.url}/private.tif" in message
    assert "a-wrong-token" not in message
    image = Image.open(f"{http.url}/private.tif?token=the-right-token")
    assert "the-right-token" not in repr(image.sources) + repr(image) + image.sources[0].name


def test_images_travel_between_processes_as_descriptions(cog_url: str, http: HTTPServer, www: Path) -> None:
    image = Image.open(cog_url)
    image.sources[0].dataset()  # an open handle must not stop the image from pickling
    copy = pickle.loads(pickle.dumps(image))
    assert copy.band_names == image.band_names and copy.grid == image.grid
    rows, cols = np.array([100, 3000]), np.array([2000, 17])
    result = sample_regions(copy, _points(rows, cols))
    with rasterio.open(www / "big.tif") as ds:
        np.testing.assert_array_equal(result["b1"].to_numpy(), ds.read(1)[rows, cols])


# -- S3 --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3(www: Path) -> Iterator[S3Server]:
    """moto's S3 server holding the large COG, with its endpoint and keys in the environment."""
    with pytest.MonkeyPatch.context() as mp:
        with serve_s3() as server:
            for key, value in server.environ().items():
                mp.setenv(key, value)
            server.upload("cogs", {"scenes/big.tif": www / "big.tif"})
            yield server


def test_sampling_from_s3_equals_sampling_the_local_file(s3: S3Server, www: Path) -> None:
    rows = np.array([0, 1234, 3999, 2048])
    cols = np.array([0, 3210, 3999, 255])
    points = _points(rows, cols)
    local = sample_regions(www / "big.tif", points)
    for path in ("s3://cogs/scenes/big.tif", "/vsis3/cogs/scenes/big.tif"):
        remote = sample_regions(path, points)
        assert_geodataframe_equal(remote, local)


def test_s3_real_landsat_bands(s3: S3Server, shared_data: Path, landsat_paths: list[str]) -> None:
    s3.upload("landsat", {f"l8/{Path(p).name}": p for p in landsat_paths})
    urls = [f"s3://landsat/l8/{Path(p).name}" for p in landsat_paths]
    polygons = gpd.read_file(shared_data / "landsat8" / "polygons.gpkg")
    remote = sample_regions(Image.open(urls), polygons, geometries=True)
    local = sample_regions(Image.open(landsat_paths), polygons, geometries=True)
    assert remote.attrs["band_order"] == ["B2", "B3", "B4"]
    assert_geodataframe_equal(remote, local)


def test_keys_given_as_options_win_over_the_environment(s3: S3Server, www: Path) -> None:
    # (a new object each time: GDAL remembers a failed open of a URL for the life of the process)
    s3.upload("cogs", {"scenes/third.tif": www / "big.tif", "scenes/fourth.tif": www / "big.tif"})
    with gdal_env(AWS_SECRET_ACCESS_KEY="AlsoNotTheSecret0123456789"):
        with pytest.raises(RasterReadError, match="access denied"):
            Image.open("s3://cogs/scenes/third.tif")
    with gdal_env(AWS_ACCESS_KEY_ID=s3.access_key, AWS_SECRET_ACCESS_KEY=s3.secret_key):
        assert Image.open("s3://cogs/scenes/fourth.tif").grid.shape == (BIG, BIG)


def test_s3_missing_key_names_the_object(s3: S3Server) -> None:
    with pytest.raises(RasterReadError, match=r"cannot open raster s3://cogs/scenes/absent\.tif: no such object"):
        Image.open("s3://cogs/scenes/absent.tif")


def test_s3_wrong_secret_is_refused_and_never_shown(s3: S3Server, www: Path) -> None:
    s3.upload("cogs", {"scenes/other.tif": www / "big.tif"})
    wrong = "NotTheSecretButStillSecret0123456789"
    session = AWSSession(aws_access_key_id=s3.access_key, aws_secret_access_key=wrong)
    with rasterio.Env(session=session):  # the user's Env wins over the environment
        with pytest.raises(RasterReadError) as info:
            Image.open("s3://cogs/scenes/other.tif")
    message = str(info.value)
    assert message.startswith("cannot open raster s3://cogs/scenes/other.tif: access denied")
    assert "AWS_SECRET_ACCESS_KEY" in message
    assert wrong not in message and s3.secret_key not in message and s3.access_key not in message
