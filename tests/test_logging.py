"""Logging set-up: third-party loggers that would write URLs or statements stay quiet."""

from __future__ import annotations

import http.server
import io
import logging
import threading
from collections.abc import Iterator

import httpx
import pytest

from neo_service_layer.config import Settings
from neo_service_layer.logging import configure_logging, resolve_format

SECRET_PATH = "/v3/provider-api-key-0123456789"


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return  # the server's own access log would print the path to stderr too


@pytest.fixture
def local_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _restore(restore_logging: None) -> None:
    """Every test here reconfigures logging; the tests after them get theirs back."""


@pytest.mark.parametrize("level", ["debug", "info"])
def test_http_client_requests_do_not_log_their_urls(
    local_url: str, level: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(level, "json")
    try:
        assert httpx.get(local_url + SECRET_PATH).status_code == 200
        logging.getLogger("httpx").warning("control line")
    finally:
        configure_logging("info", "console")
    err = capsys.readouterr().err
    assert "control line" in err  # the handler does write httpx's warnings
    assert SECRET_PATH not in err


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("fmt", "tty", "resolved"),
    [
        pytest.param("auto", True, "console", id="auto-on-a-terminal"),
        pytest.param("auto", False, "json", id="auto-in-a-pipe"),
        pytest.param("json", True, "json", id="json-when-asked"),
        pytest.param("console", False, "console", id="console-when-asked"),
    ],
)
def test_the_log_format_follows_the_terminal_unless_asked(fmt: str, tty: bool, resolved: str) -> None:
    assert resolve_format(fmt, _Stream(tty)) == resolved


def test_auto_is_the_default() -> None:
    assert Settings().log_format == "auto"
