"""A local single-node Apache Kafka broker (KRaft) run from the official jars, or a quorum of them.

Maven resolves ``org.apache.kafka:kafka_2.13`` (see ``kafka/pom.xml``) into a git-ignored
folder; the broker runs from that classpath with ``java``. One folder (``home``) holds the
broker's configuration, data, pid file and logs, so tests can run a second broker beside the
developer's own without touching it. :class:`LocalCluster` runs three such nodes as one cluster,
replicated as production's (docker-compose.yml), to test what the loss of a broker does.
"""
from __future__ import annotations

import base64
import ctypes
import hashlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import BrokerUnavailable
from ingest.producer import check_broker

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
POM = REPO_ROOT / "kafka" / "pom.xml"
DEFAULT_LIBS = REPO_ROOT / ".cache" / "kafka" / "libs"
BROKER_MAIN = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
CONSOLE_CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer"
PR_SET_PDEATHSIG = 1


class BrokerError(RuntimeError):
    """The broker could not be prepared, started or stopped; the message says why."""


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap: str

    def describe(self) -> str:
        if self.running:
            return f"Kafka is running (pid {self.pid}) on {self.bootstrap}"
        return f"Kafka is not running ({self.bootstrap})"


@dataclass(frozen=True)
class LocalBroker:
    """One broker+controller node listening on 127.0.0.1:``port`` (controller on ``port + 1``).

    Alone by default; as node ``node_id`` of a :class:`LocalCluster`, ``quorum`` holds the
    ports of every node of the cluster in node-id order (node 1 first) and ``cluster_id`` the
    id their storage is formatted with.
    """

    home: Path
    port: int = 9092
    libs: Path = DEFAULT_LIBS
    heap: str = "1g"
    node_id: int = 1
    quorum: tuple[int, ...] = ()
    cluster_id: str | None = None

    @classmethod
    def for_bootstrap(cls, home: Path, bootstrap: str) -> "LocalBroker":
        """The broker that serves the first server of a ``host:port,...`` bootstrap list."""
        host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
        if host not in ("127.0.0.1", "localhost") or not port.isdigit():
            raise BrokerError(
                f"a local broker can only serve 127.0.0.1:<port>, not {bootstrap!r}; "
                "point TRUYVET_KAFKA_BOOTSTRAP at 127.0.0.1 or run your own cluster"
            )
        libs = Path(os.environ.get("TRUYVET_KAFKA_LIBS", DEFAULT_LIBS))
        return cls(home=home, port=int(port), libs=libs)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "server.log"

    # -- lifecycle -------------------------------------------------------------------------

    def status(self) -> BrokerStatus:
        pid = self._running_pid()
        return BrokerStatus(running=pid is not None, pid=pid, bootstrap=self.bootstrap)

    def start(self, timeout: float = 90.0, die_with_parent: bool = False) -> BrokerStatus:
        """Start the broker unless it already runs, and wait until it answers requests.

        ``die_with_parent`` asks the kernel to stop the JVM if the calling process dies, so a
        killed ``truyvet run`` leaves no orphan broker behind.
        """
        current = self.status()
        if current.running:
            return current
        process = self._launch(die_with_parent)
        self._wait_until_ready(process, timeout)
        log.info("Kafka started (pid %s) on %s", process.pid, self.bootstrap)
        return self.status()

    def _launch(self, die_with_parent: bool = False) -> subprocess.Popen:
        """Start the JVM without waiting: a cluster node answers only once a quorum runs."""
        if _port_open(self.port):
            raise BrokerError(f"port {self.port} is taken by another process; is another Kafka running?")
        self.ensure_jars()
        self._write_config()
        self._format_storage_once()
        with open(self.home / "broker.out", "ab") as out:
            process = subprocess.Popen(
                self._java(BROKER_MAIN, str(self.home / "server.properties"), heap=self.heap),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if die_with_parent else None,
            )
        self.pid_file.write_text(str(process.pid))
        return process

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the broker cleanly (SIGTERM, then SIGKILL after ``timeout``); True if it ran."""
        pid = self._running_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        if not _wait_for_exit(pid, timeout):
            log.warning("Kafka (pid %s) ignored SIGTERM for %.0fs; killing it", pid, timeout)
            os.kill(pid, signal.SIGKILL)
            _wait_for_exit(pid, 10)
        self.pid_file.unlink(missing_ok=True)
        return True

    def kill(self) -> bool:
        """Stop the broker at once (SIGKILL), as a crash or a lost machine would; True if it ran."""
        pid = self._running_pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGKILL)
        _wait_for_exit(pid, 10)
        self.pid_file.unlink(missing_ok=True)
        return True

    # -- preparation -----------------------------------------------------------------------

    def ensure_jars(self) -> None:
        """Resolve the broker jars with Maven into ``libs`` unless ``kafka/pom.xml`` is unchanged."""
        stamp = self.libs / ".pom.md5"
        wanted = hashlib.md5(POM.read_bytes()).hexdigest()
        if stamp.exists() and stamp.read_text() == wanted:
            return
        log.info("Resolving the Kafka jars from Maven Central into %s", self.libs)
        shutil.rmtree(self.libs, ignore_errors=True)
        command = [
            "mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
            f"-DoutputDirectory={self.libs}", "-DincludeScope=runtime",
        ]
        try:
            subprocess.run(command, check=True, capture_output=True, text=True)
        except FileNotFoundError as exc:
            raise BrokerError("Maven (mvn) is not installed; it resolves the Kafka jars") from exc
        except subprocess.CalledProcessError as exc:
            raise BrokerError(f"Maven could not resolve the Kafka jars:\n{exc.stdout}{exc.stderr}") from exc
        stamp.write_text(wanted)

    def console_consumer(self, topic: str, max_messages: int, timeout_ms: int = 20000) -> list[str]:
        """Read a topic from the beginning with Kafka's own console consumer (same jars)."""
        command = self._java(
            CONSOLE_CONSUMER, "--bootstrap-server", self.bootstrap, "--topic", topic,
            "--from-beginning", "--max-messages", str(max_messages),
            "--timeout-ms", str(timeout_ms), "--property", "print.key=true", heap="256m",
        )
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_ms / 1000 + 30)
        return [line for line in result.stdout.splitlines() if line.strip()]

    def _java(self, main: str, *args: str, heap: str) -> list[str]:
        return [
            "java", f"-Xmx{heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            "-cp", f"{self.libs}/*", main, *args,
        ]

    def _write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        controller = self.port + 1
        ports = self.quorum or (self.port,)
        voters = ",".join(f"{node}@127.0.0.1:{port + 1}" for node, port in enumerate(ports, start=1))
        # One node: nothing can have more than one replica. A quorum: as production
        # (docker-compose.yml), three copies of which two must be in sync.
        replicas, in_sync = min(3, len(ports)), min(2, len(ports))
        (self.home / "server.properties").write_text(
            "\n".join([
                "process.roles=broker,controller",
                f"node.id={self.node_id}",
                f"controller.quorum.voters={voters}",
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                f"log.dirs={self.data_dir}",
                "num.partitions=3",
                f"default.replication.factor={replicas}",
                f"min.insync.replicas={in_sync}",
                "unclean.leader.election.enable=false",
                f"offsets.topic.replication.factor={replicas}",
                f"transaction.state.log.replication.factor={replicas}",
                f"transaction.state.log.min.isr={in_sync}",
                f"share.coordinator.state.topic.replication.factor={replicas}",
                f"share.coordinator.state.topic.min.isr={in_sync}",
                # A single consumer should not wait 3 s for imaginary group members.
                "group.initial.rebalance.delay.ms=0",
                "",
            ])
        )
        (self.home / "log4j2.properties").write_text(
            "\n".join([
                "rootLogger.level=INFO",
                "rootLogger.appenderRef.file.ref=file",
                "appender.file.type=File",
                "appender.file.name=file",
                f"appender.file.fileName={self.log_file}",
                "appender.file.layout.type=PatternLayout",
                "appender.file.layout.pattern=[%d] %p %m (%c)%n",
                "",
            ])
        )

    def _format_storage_once(self) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        cluster_id = self.cluster_id or _cluster_id()
        command = self._java(
            STORAGE_TOOL, "format", "-t", cluster_id, "-c", str(self.home / "server.properties"),
            heap="256m",
        )
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise BrokerError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")

    def _wait_until_ready(self, process: subprocess.Popen, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise BrokerError(f"Kafka exited with code {process.returncode}; see {self.log_file}")
            if _port_open(self.port) and _answers_metadata(self.bootstrap):
                return
            time.sleep(0.3)
        self.stop()
        raise BrokerError(f"Kafka did not accept connections within {timeout:.0f}s; see {self.log_file}")

    def _running_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            return None
        # A recycled pid belongs to someone else: only a JVM running our config is ours.
        ours = BROKER_MAIN.encode() in cmdline and str(self.home / "server.properties").encode() in cmdline
        return pid if ours else None


@dataclass(frozen=True)
class LocalCluster:
    """Broker+controller nodes on 127.0.0.1, one per port of ``ports``, forming one KRaft quorum.

    Node ``n`` listens on ``ports[n - 1]`` (its controller one port above) with its files in
    ``home/node-<n>``. With three nodes, topics and Kafka's internal topics are replicated as in
    production: three copies, two in sync for an ``acks=all`` write.
    """

    home: Path
    ports: tuple[int, ...]
    libs: Path = DEFAULT_LIBS
    heap: str = "512m"

    @property
    def nodes(self) -> list[LocalBroker]:
        cluster_id = self._cluster_id()
        return [
            LocalBroker(home=self.home / f"node-{node}", port=port, libs=self.libs, heap=self.heap,
                        node_id=node, quorum=self.ports, cluster_id=cluster_id)
            for node, port in enumerate(self.ports, start=1)
        ]

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    def start(self, timeout: float = 120.0) -> None:
        """Start every node that is not running, then wait until each answers requests."""
        launched = []
        try:
            for node in self.nodes:
                if not node.status().running:
                    launched.append((node, node._launch()))
            for node, process in launched:
                node._wait_until_ready(process, timeout)
        except BrokerError:
            self.stop()
            raise
        log.info("Kafka cluster started on %s", self.bootstrap)

    def stop(self) -> None:
        """Stop every node at once: one by one, the last would wait for a quorum to leave."""
        with ThreadPoolExecutor(max_workers=len(self.ports)) as pool:
            list(pool.map(LocalBroker.stop, self.nodes))

    def _cluster_id(self) -> str:
        """The id every node's storage is formatted with, chosen once and kept in ``home``."""
        path = self.home / "cluster.id"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            path.write_text(_cluster_id())
        return path.read_text().strip()


def _cluster_id() -> str:
    """A random cluster id as Kafka writes them: 16 bytes, base64url without padding.

    Like Kafka's own Uuid.randomUuid, never one starting with "-", which the storage tool's
    argument parser would take for an option.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def _answers_metadata(bootstrap: str) -> bool:
    try:
        check_broker([bootstrap])
        return True
    except BrokerUnavailable:
        return False


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_for_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            finished, _ = os.waitpid(pid, os.WNOHANG)
            if finished == pid:
                return True
        except ChildProcessError:
            # Not our child (started by another `truyvet kafka start`): poll /proc instead.
            if not Path(f"/proc/{pid}").exists() or _is_zombie(pid):
                return True
        time.sleep(0.2)
    return False


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except (FileNotFoundError, IndexError):
        return True


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
