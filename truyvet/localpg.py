"""A throwaway PostgreSQL cluster from Debian's packages, for tests and benchmarks on one machine.

Production runs PostgreSQL as a service (docker-compose.yml); this only makes the same database
available where no server runs, the way :mod:`truyvet.broker` does for Kafka.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path


class PostgresError(RuntimeError):
    """PostgreSQL is missing or a cluster command failed; the message carries its output."""


class LocalPostgres:
    """A cluster in a temporary directory on 127.0.0.1:``port``, run as ``postgres`` when we are root."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.bindir = _bindir()
        self.home = Path(tempfile.mkdtemp(prefix="truyvet-pg-"))
        self.data = self.home / "data"
        self.user = "postgres" if os.geteuid() == 0 else None  # initdb refuses to run as root
        self.pid: int | None = None

    @property
    def version(self) -> str:
        return self._run("postgres", "--version").stdout.split(")", 1)[-1].split()[0]

    def start(self) -> str:
        """Create and start the cluster; return its SQLAlchemy URL (database ``postgres``)."""
        if self.user:
            shutil.chown(self.home, self.user)
        self._run("initdb", "-D", str(self.data), "-U", "truyvet", "-A", "trust", "-E", "UTF8",
                  "--no-instructions")
        # Stock settings (fsync, synchronous_commit on), loopback only, a private socket dir.
        options = f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.home / "postgres.log"), "-o", options,
                  "-w", "start")
        self.pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        return f"postgresql+psycopg://truyvet@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        """Stop the cluster and delete it."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.home, ignore_errors=True)

    def _run(self, program: str, *args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([str(self.bindir / program), *args], capture_output=True, text=True,
                              user=self.user, cwd=self.home, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            log = self.home / "postgres.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise PostgresError(f"{program} failed:\n{done.stdout}{done.stderr}{tail}")
        return done


def _bindir(versions: Path = Path("/usr/lib/postgresql"), search_path: str | None = None) -> Path:
    """The newest Debian PostgreSQL's programs, else those beside ``initdb`` on ``search_path`` (PATH)."""
    found = sorted(versions.glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb", path=search_path)
    if initdb:
        return Path(initdb).parent
    # Raised, never skipped: a test that needs PostgreSQL must not pass quietly where it is missing.
    raise PostgresError(f"PostgreSQL is not installed (no initdb in {versions}/*/bin nor on PATH): "
                        "run `apt-get install postgresql` (make test does this)")
