"""Ray's console chatter is captured into the launcher's log file and put back afterwards; at
DEBUG level on asyncllm.launchers nothing is captured. (No Ray is started: the log plumbing only;
the README scale-out test checks a real run's stderr.)"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

pytest.importorskip("ray", reason="ray not installed (pip install 'asyncllm[ray]')")

from asyncllm.launchers import _ray_quiet

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # ray.serve's pydantic imports


@pytest.fixture(autouse=True)
def released() -> Iterator[None]:
    _ray_quiet.release()  # a launcher test before may have left Ray (joined) and its capture on
    yield
    _ray_quiet.release()


def test_ray_warnings_and_raylet_lines_go_to_the_log_then_back(capsys: pytest.CaptureFixture[str]) -> None:
    serve_logger = logging.getLogger("ray.serve")
    import ray._private.worker as worker
    import ray.serve  # noqa: F401  (its console handler is installed on import)

    before = (list(serve_logger.handlers), worker.print_to_stdstream)
    _ray_quiet.capture()
    logging.getLogger("ray").handlers.clear()  # what ray.init(configure_logging=False) does
    logging.getLogger("ray._private.worker").warning("SIGTERM handler is not set (test)")
    _ray_quiet.capture()  # after the init
    logging.getLogger("ray.util.x").warning("Token authentication is enabled (test)")
    serve_logger.info("Nothing to shut down (test)")
    worker.print_to_stdstream({"lines": ["Task ServeController.graceful_shutdown failed (test)"], "pid": "raylet",
                               "is_err": False}, ignore_prefix=False)
    _ray_quiet.release()
    out = capsys.readouterr()
    assert "(test)" not in out.out + out.err
    text = _ray_quiet.log_path().read_text()
    for line in ("SIGTERM handler is not set (test)", "Token authentication is enabled (test)",
                 "Nothing to shut down (test)", "(raylet) Task ServeController.graceful_shutdown failed (test)"):
        assert line in text
    assert (list(serve_logger.handlers), worker.print_to_stdstream) == before


def test_debug_level_shows_it_all(caplog: pytest.LogCaptureFixture) -> None:
    serve_logger = logging.getLogger("ray.serve")
    before = list(serve_logger.handlers)
    with caplog.at_level(logging.DEBUG, logger="asyncllm.launchers"):
        _ray_quiet.capture()
    assert list(serve_logger.handlers) == before


def test_a_failed_start_carries_the_log_tail() -> None:
    _ray_quiet.capture()
    logging.getLogger("ray._private.services").error("GCS failed to start (test)")
    exc = RuntimeError("ray.init failed")
    _ray_quiet.note_failure(exc)
    assert any("GCS failed to start (test)" in n for n in exc.__notes__)
