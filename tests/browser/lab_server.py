"""A throw-away JupyterLab server for browser tests: loopback only, temporary token and state.

`running_lab` starts ``python -m jupyterlab`` (the interpreter running pytest, so the venv's
``detkit`` kernel spec, installed with ``--sys-prefix``, is found) in its own process group, on a
free 127.0.0.1 port, with every per-user directory (config, data, settings, workspaces, runtime)
inside a temporary folder, and kills the whole process group on exit, also when the test body
raises. Kernels run in sessions of their own: the server stops them when it exits, and
ipykernel's parent poller ends them when the server is killed.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"

# User settings written into the temporary JUPYTERLAB_SETTINGS_DIR: no news/update requests
# (the machine has no internet), the notebook's own kernel started without a "Select Kernel"
# dialog, and every cell kept in the DOM so all outputs can be checked.
LAB_USER_SETTINGS: dict[str, dict[str, object]] = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {
        "windowingMode": "none",
        "autoStartDefaultKernel": True,
    },
}


@dataclass(frozen=True)
class LabServer:
    """Where a running JupyterLab answers: ``base_url`` like ``http://127.0.0.1:PORT``."""

    base_url: str
    token: str
    root_dir: Path
    log_path: Path

    def notebook_url(self, relative_path: str) -> str:
        """URL opening ``relative_path`` (relative to ``root_dir``) in a fresh workspace."""
        return f"{self.base_url}/lab/tree/{relative_path}?reset&token={self.token}"

    def log_tail(self, n_chars: int = 4000) -> str:
        """Last ``n_chars`` of the server's stdout+stderr, for failure messages."""
        return self.log_path.read_text(errors="replace")[-n_chars:]


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def write_user_settings(settings_dir: Path) -> None:
    """Write ``LAB_USER_SETTINGS`` as ``<plugin>.jupyterlab-settings`` files under
    ``settings_dir``."""
    for plugin_id, values in LAB_USER_SETTINGS.items():
        package, plugin = plugin_id.rsplit("/", 1)
        target = settings_dir / package / f"{plugin}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))


def lab_command(root_dir: Path, port: int, token: str) -> list[str]:
    """The ``jupyterlab`` command line serving ``root_dir`` on ``LOOPBACK:port`` only."""
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--ServerApp.ip={LOOPBACK}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root_dir}",
        f"--IdentityProvider.token={token}",
        "--MappingKernelManager.default_kernel_name=detkit",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    return command


def wait_until_ready(server: LabServer, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Poll ``/api/status`` until the server answers; raise RuntimeError with its log if it dies."""
    status_url = f"{server.base_url}/api/status?token={server.token}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(status_url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"JupyterLab not ready after {timeout_s:.0f} s:\n{server.log_tail()}")


def stop_process_group(process: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
    """SIGTERM the process group led by ``process`` (server and kernels), SIGKILL it if it
    lingers."""
    if process.poll() is not None:
        return
    group = os.getpgid(process.pid)
    os.killpg(group, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(group, signal.SIGKILL)
        process.wait(timeout=grace_s)


@contextmanager
def running_lab(root_dir: Path, state_dir: Path, timeout_s: float = 60.0) -> Iterator[LabServer]:
    """Run JupyterLab on ``root_dir`` with all its state under ``state_dir``; always stop it."""
    env = dict(os.environ)
    # Kernels inherit the server's environment; an MPLBACKEND such as Agg (set by the Makefile and
    # tests/conftest.py) would override ipykernel's inline backend and no figure would be shown.
    env.pop("MPLBACKEND", None)
    for variable, name in [
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTERLAB_SETTINGS_DIR", "settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTER_DATA_DIR", "data"),
    ]:
        path = state_dir / name
        path.mkdir(parents=True, exist_ok=True)
        env[variable] = str(path)
    write_user_settings(state_dir / "settings")
    port = free_loopback_port()
    server = LabServer(
        base_url=f"http://{LOOPBACK}:{port}",
        token=secrets.token_hex(16),
        root_dir=root_dir,
        log_path=state_dir / "jupyterlab.log",
    )
    with server.log_path.open("wb") as log:
        process = subprocess.Popen(
            lab_command(root_dir, port, server.token),
            cwd=root_dir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_until_ready(server, process, timeout_s)
            yield server
        finally:
            stop_process_group(process)
