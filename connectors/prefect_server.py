"""A temporary Prefect API server for one tracked run, that dies with the process that started it.

Prefect's own ephemeral mode starts the same server as a child process but leaves it running
when its parent is killed (it is stopped only by a clean exit). This one is started with the
kernel's parent-death signal, so a killed run leaves no server behind.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from nightshift.errors import ConfigError

STARTUP_SECONDS = 120.0  # a busy two-core machine needs far more than Prefect's 20 s default
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent() -> None:
    """In the child, before exec: the kernel sends SIGKILL when the parent dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def temporary_prefect_server() -> Iterator[str]:
    """Start a Prefect API server on loopback; yields its API URL; stops it on exit."""
    spec = importlib.util.find_spec("prefect")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("Prefect is not installed")
    app_dir = Path(next(iter(spec.submodule_search_locations))).parent
    port = _free_port()
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
           "PREFECT__SERVER_FINAL": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}  # fmt: skip
    command = [
        sys.executable, "-m", "uvicorn", "--app-dir", str(app_dir), "--factory",
        "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "error", "--lifespan", "on",
    ]  # fmt: skip
    server = subprocess.Popen(command, env=env, preexec_fn=_die_with_parent)
    url = f"http://127.0.0.1:{port}/api"
    try:
        _wait_until_healthy(server, url)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_healthy(server: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise ConfigError(f"the temporary Prefect server exited with code {server.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise ConfigError(f"the temporary Prefect server did not answer within {STARTUP_SECONDS:g} s")
