"""A throwaway PostgreSQL cluster for the tests (not a test module).

``KBP_TEST_DATABASE_URL`` names a database to use (CI's `.ci/run` starts a cluster and sets it).
Without it, :func:`start` runs ``initdb`` + ``pg_ctl`` from Debian's ``postgresql`` package into a
temp folder, listening only on a Unix socket in that folder (no port to clash with), as the
``postgres`` system user when we are root (``initdb`` refuses to run as root).
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def available() -> bool:
    return bool(os.environ.get("KBP_TEST_DATABASE_URL") or (_bin("initdb") and _bin("pg_ctl")))


class Cluster:
    def __init__(self) -> None:
        self.url = os.environ.get("KBP_TEST_DATABASE_URL", "")
        self.folder: Path | None = None
        self._as: list[str] = []

    def start(self) -> "Cluster":
        if self.url:
            return self
        initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
        if not (initdb and pg_ctl):
            raise RuntimeError("PostgreSQL is not installed (Debian package: postgresql)")
        self.folder = Path(tempfile.mkdtemp(prefix="kbp-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        data = self.folder / "data"
        subprocess.run(
            [*self._as, initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
        )
        self._opts = f"-k {self.folder} -c listen_addresses='' -c fsync=off -c full_page_writes=off -c max_connections=300"
        self.resume()
        self.url = f"postgresql://postgres@/postgres?host={self.folder}"
        return self

    def resume(self) -> None:
        """(Re)start the server of a cluster this object made."""
        subprocess.run(
            [*self._as, _bin("pg_ctl"), "-D", str(self.folder / "data"), "-o", self._opts,
             "-l", str(self.folder / "log"), "-w", "start"],
            check=True,
            capture_output=True,
        )

    def pause(self) -> None:
        """Stop the server (connections break), keeping the data for :meth:`resume`."""
        subprocess.run(
            [*self._as, _bin("pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop"],
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        if self.folder is None:
            return
        subprocess.run(
            [*self._as, _bin("pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None


def given_or_throwaway(url: str | None) -> tuple[str, "Cluster | None"]:
    """``url`` when given, else a throwaway cluster's URL (stop the returned cluster when done)."""
    if url:
        return url, None
    cluster = Cluster()
    cluster.url = ""
    cluster.start()
    return cluster.url, cluster
