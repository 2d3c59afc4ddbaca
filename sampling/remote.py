"""Remote rasters: GDAL paths for URLs, GDAL settings for range reads, and secrets kept out of messages.

``sampling`` reads remote rasters with GDAL's own network file systems: ``https://``
and ``http://`` URLs through ``/vsicurl/``, ``s3://`` through ``/vsis3/``, ``gs://``
through ``/vsigs/``, ``az://`` through ``/vsiaz/``; any ``/vsi...`` path is passed as
is. GDAL then fetches only the byte ranges of the blocks a read needs (a
cloud-optimised GeoTIFF's header, then one range request per block).

Every open and every read happens inside :func:`gdal_env`, which sets defaults suited
to this access pattern (no directory listing on open, consecutive ranges merged,
retries on throttling, a per-file cache) **under** the user's settings: an option
already set in the environment or in an enclosing ``rasterio.Env`` is left alone.
Credentials and endpoints come from where GDAL looks for them: environment variables
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
``AWS_PROFILE``, ``AWS_S3_ENDPOINT``, ``AWS_HTTPS``, ``AWS_VIRTUAL_HOSTING``,
``AWS_NO_SIGN_REQUEST``, ``GDAL_HTTP_USERPWD``...), ``~/.aws`` files, or a
``rasterio.Env`` around the call.

Paths shown to users (errors, reprs) go through :func:`display_path` and every
message from GDAL through :func:`redact`: user names, passwords and query strings
(signed URLs carry their signature there) are removed from URLs, and the values of
secret settings are masked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import rasterio
import rasterio.env

__all__ = [
    "gdal_env",
    "gdal_path",
    "is_remote",
    "display_path",
    "redact",
    "open_error_message",
    "active_options",
    "GdalOptions",
    "DEFAULT_GDAL_OPTIONS",
]

#: Defaults applied by :func:`gdal_env` unless the environment or an enclosing ``rasterio.Env`` sets them.
DEFAULT_GDAL_OPTIONS: dict[str, Any] = {
    # opening a remote file must not list its "directory" looking for side-car files
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    # neighbouring blocks requested together become one range request
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    # object stores throttle (429/503) under load: retry with a back-off instead of failing
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "0.5",
    # a per-file cache of the bytes read, so a block or header is never fetched twice by one handle
    "VSI_CACHE": "TRUE",
    "VSI_CACHE_SIZE": str(64 * 1024 * 1024),
    # decompressed blocks kept between reads, capped so memory stays bounded; in bytes, since
    # rasterio passes an integer to GDALSetCacheMax64
    "GDAL_CACHEMAX": 512 * 1024 * 1024,
}

#: URL schemes and the GDAL virtual file system that reads them.
_SCHEMES = {
    "http": "/vsicurl/http://",
    "https": "/vsicurl/https://",
    "ftp": "/vsicurl/ftp://",
    "s3": "/vsis3/",
    "gs": "/vsigs/",
    "gcs": "/vsigs/",
    "az": "/vsiaz/",
    "azure": "/vsiaz/",
    "oss": "/vsioss/",
}

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")

#: Names of settings whose values are secrets (matched anywhere in the name).
_SECRET_NAME = re.compile(
    r"SECRET|TOKEN|PASSWORD|PASSWD|USERPWD|CREDENTIAL|ACCESS_KEY|ACCOUNT_KEY|_SAS|CONNECTION_STRING|"
    r"BEARER|HEADERS|API_KEY",
    re.IGNORECASE,
)
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<rest>[^\s'\"<>]*[^\s'\"<>.,;:)\]])")
_MASK = "***"


def is_remote(path: str) -> bool:
    """True for URLs and GDAL virtual file system paths, False for local files.

    Examples
    --------
    >>> is_remote("s3://bucket/scene.tif"), is_remote("/vsicurl/https://host/a.tif"), is_remote("data/a.tif")
    (True, True, False)
    """
    return bool(_SCHEME.match(path)) or path.startswith("/vsi")


def gdal_path(path: str) -> str:
    """The path GDAL opens for ``path``: URLs become ``/vsicurl/``, ``/vsis3/``... paths.

    Local paths, ``/vsi...`` paths and schemes GDAL does not map (``zip+https://``...)
    are returned unchanged; ``file://`` URLs become local paths.

    Examples
    --------
    >>> gdal_path("s3://bucket/scenes/B4.tif")
    '/vsis3/bucket/scenes/B4.tif'
    >>> gdal_path("https://example.com/cog.tif?version=2")
    '/vsicurl/https://example.com/cog.tif?version=2'
    >>> gdal_path("/vsis3/bucket/B4.tif")
    '/vsis3/bucket/B4.tif'
    """
    match = _SCHEME.match(path)
    if not match:
        return path
    scheme = match.group(1).lower()
    if scheme == "file":
        return path[len(match.group(0)) :]
    prefix = _SCHEMES.get(scheme)
    if prefix is None:
        return path
    rest = path[len(match.group(0)) :]
    return prefix + rest


def _secret_values(options: Mapping[str, Any] | None = None) -> list[str]:
    """Values of secret settings in the environment, the active ``rasterio.Env`` and ``options``."""
    sources: list[Mapping[str, Any]] = [os.environ, active_options()]
    if options:
        sources.append(options)
    values = set()
    for source in sources:
        for key, value in source.items():
            if value is not None and _SECRET_NAME.search(str(key)):
                text = str(value)
                if len(text) >= 4 and text.upper() not in ("YES", "NO", "TRUE", "FALSE", "ON", "OFF"):
                    values.add(text)
    return sorted(values, key=len, reverse=True)


def _clean_url(match: re.Match) -> str:
    scheme, rest = match.group("scheme"), match.group("rest")
    host_end = rest.find("/")
    authority = rest if host_end < 0 else rest[:host_end]
    if "@" in authority:
        rest = _MASK + "@" + rest[rest.index("@") + 1 :]
    if "?" in rest:
        rest = rest[: rest.index("?")] + "?" + _MASK
    return scheme + rest


def redact(text: str, *, options: Mapping[str, Any] | None = None) -> str:
    """``text`` without credentials: URL user info and query strings, and secret settings' values.

    Secret settings are the environment variables and ``rasterio.Env`` options whose
    names say they hold a secret (``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
    ``GDAL_HTTP_USERPWD``, ``GDAL_HTTP_HEADERS``, ``AZURE_STORAGE_ACCESS_KEY``...), and
    those in ``options``.

    Examples
    --------
    >>> redact("cannot open https://ann:pw@host/a.tif?X-Amz-Signature=abc: HTTP 403")
    'cannot open https://***@host/a.tif?***: HTTP 403'
    """
    cleaned = _URL.sub(_clean_url, str(text))
    for value in _secret_values(options):
        cleaned = cleaned.replace(value, _MASK)
    return cleaned


def display_path(path: str) -> str:
    """``path`` as shown in messages: credentials and query strings removed.

    Examples
    --------
    >>> display_path("/vsicurl/https://host/cog.tif?token=s3cr3t")
    '/vsicurl/https://host/cog.tif?***'
    """
    return redact(path)


_HTTP_CODE = re.compile(r"HTTP (?:response |error )?code\s*:?\s*(\d{3})", re.IGNORECASE)
_NOT_FOUND = re.compile(r"does not exist|not found|NoSuchKey|NoSuchBucket|\b404\b", re.IGNORECASE)
_DENIED = re.compile(
    r"access denied|forbidden|signature|access key|InvalidAccessKeyId|not authorized|credentials|\b40[13]\b",
    re.IGNORECASE,
)


def open_error_message(path: str, message: str) -> str:
    """A clear message for a remote raster GDAL could not open, naming the URL without credentials.

    Examples
    --------
    >>> open_error_message("https://host/a.tif?sig=1", "HTTP response code: 404")
    'cannot open raster https://host/a.tif?***: the server answered 404 Not Found. Check the URL.'
    """
    shown = display_path(path)
    detail = redact(message)
    code_match = _HTTP_CODE.search(detail)
    code = int(code_match.group(1)) if code_match else None
    s3_like = gdal_path(path).startswith(("/vsis3/", "/vsigs/", "/vsiaz/", "/vsioss/"))
    if code == 404 or (code is None and _NOT_FOUND.search(detail)):
        what = "no such object in the bucket" if s3_like else "the server answered 404 Not Found"
        extra = "" if code == 404 else f" ({detail})"
        return f"cannot open raster {shown}: {what}{extra}. Check the URL."
    if code in (401, 403) or (code is None and _DENIED.search(detail)):
        how = (
            "Check the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN or "
            "AWS_PROFILE; AWS_NO_SIGN_REQUEST=YES for a public bucket) and the endpoint (AWS_S3_ENDPOINT)."
            if s3_like
            else "Check the credentials (GDAL_HTTP_USERPWD, GDAL_HTTP_HEADERS or a signed URL) and the URL."
        )
        status = f"the server answered {code}" if code else "access denied"
        return f"cannot open raster {shown}: {status} ({detail}). {how}"
    return f"cannot open raster {shown}: {detail}"


def active_options() -> dict[str, Any]:
    """The options of the ``rasterio.Env`` active in this thread (empty when there is none)."""
    return dict(rasterio.env.getenv()) if rasterio.env.hasenv() else {}


#: Options ``rasterio.Env`` refuses as keywords (it wants an ``AWSSession``); set once the Env is active.
_SESSION_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


@contextmanager
def gdal_env(**overrides: Any) -> Iterator[None]:
    """A ``rasterio.Env`` with the library's defaults under the user's settings.

    Options already set in the process environment or in an enclosing
    ``rasterio.Env`` are left alone; ``overrides`` win over everything (AWS keys
    included, which ``rasterio.Env`` itself only takes through an ``AWSSession``).
    GDAL settings are per thread: a thread that reads must enter its own ``gdal_env``.

    Examples
    --------
    >>> with gdal_env(GDAL_HTTP_MAX_RETRY=5):
    ...     active_options()["GDAL_HTTP_MAX_RETRY"]
    5
    """
    active = active_options()
    options = {
        key: value
        for key, value in DEFAULT_GDAL_OPTIONS.items()
        if key not in os.environ and key not in active
    }
    options.update(overrides)
    keys = {key: options.pop(key) for key in _SESSION_KEYS if key in options}
    with rasterio.Env(**options):
        if keys:
            rasterio.env.setenv(**keys)
        yield


class GdalOptions(dict):
    """GDAL options to carry to another process (a Dask worker), masked when printed.

    A plain ``dict`` whose ``repr`` shows the values of secret settings as ``***``, so
    logs, task graphs and dashboards that print it never show a credential.

    Examples
    --------
    >>> GdalOptions(AWS_SECRET_ACCESS_KEY="abcd1234", AWS_HTTPS="NO")
    GdalOptions({'AWS_SECRET_ACCESS_KEY': '***', 'AWS_HTTPS': 'NO'})
    """

    def __repr__(self) -> str:
        shown = {k: (_MASK if _SECRET_NAME.search(str(k)) else v) for k, v in self.items()}
        return f"GdalOptions({shown!r})"

    __str__ = __repr__

    def __reduce__(self):
        return (GdalOptions, (dict(self),))
