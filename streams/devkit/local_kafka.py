"""A single-node Apache Kafka broker (KRaft mode) for development and integration tests.

The broker's jars come from Maven Central through ``kafka/pom.xml`` beside this module, so the
only requirements are Java 17 and Maven: no Kafka download, no container runtime.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from importlib.resources import as_file, files
from pathlib import Path
from string import Template

# The pom, the config template and the logging config are package data (pyproject.toml), so an
# installed wheel starts the broker without the source tree.
BROKER_FILES = files("friction_detector.streams.devkit") / "kafka"
POM = BROKER_FILES / "pom.xml"
DEFAULT_HOME = Path(".friction") / "kafka"
JAVA_HINT = "install Java 17 (Debian: apt-get install openjdk-17-jre-headless)"
MAVEN_HINT = "install Maven 3.8 or newer (Debian: apt-get install maven)"
# The heap Kafka's own bin/kafka-server-start.sh gives a broker. At 512 MiB the old generation
# stayed about 85% full under a 300,000-event backlog, and G1 ran a concurrent cycle every
# fraction of a second (142 in two rounds of the worker, against 4 in a whole run at 1 GiB).
HEAP = ("-Xmx1G", "-Xms1G")


class BrokerError(RuntimeError):
    """The broker could not be fetched, started or stopped; the message says why."""


def kafka_version() -> str:
    """The Kafka version pinned in the pom, so the cache folder follows the pin."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    with POM.open("rb") as pom:
        node = ET.parse(pom).getroot().find("m:properties/m:kafka.version", ns)
    if node is None or not node.text:
        raise BrokerError(f"{POM} has no <kafka.version> property")
    return node.text.strip()


def default_libs_dir() -> Path:
    """One jar cache per machine and version, under ``$FRICTION_CACHE`` or ~/.cache."""
    root = os.environ.get("FRICTION_CACHE") or Path.home() / ".cache" / "friction-detector"
    return Path(root) / f"kafka-{kafka_version()}" / "libs"


def _require(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise BrokerError(f"`{tool}` was not found on PATH; {hint}")
    return path


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return ""
    return "\n".join(text[-lines:])


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _cluster_id() -> str:
    """A random UUID in unpadded base64url, as ``StorageTool random-uuid`` makes."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        # A leading dash would read as an option on the command line.
        if not text.startswith("-"):
            return text


class LocalKafka:
    """One broker that is its own controller, kept in ``home``, listening on loopback.

    ``home`` holds the rendered config, the data, the logs and a pid file, so ``down``
    and ``is_running`` work from another process than the one that called ``up``.

    With ``sasl_users`` (user name -> password) and ``sasl_port``, the broker also listens
    on ``sasl_port`` with SASL_PLAINTEXT and the PLAIN mechanism, for trying authentication;
    ``port`` stays PLAINTEXT for the broker itself and for checking it is ready.
    """

    def __init__(
        self,
        home: Path,
        port: int = 9092,
        controller_port: int = 9093,
        sasl_users: dict[str, str] | None = None,
        sasl_port: int | None = None,
    ) -> None:
        if (sasl_users is None) != (sasl_port is None):
            raise ValueError("sasl_users and sasl_port go together")
        self.home = Path(home).resolve()
        self.port = port
        self.controller_port = controller_port
        self.sasl_users = sasl_users
        self.sasl_port = sasl_port
        self.libs = default_libs_dir()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_bootstrap(self) -> str:
        """host:port of the SASL_PLAINTEXT listener (only with ``sasl_users``)."""
        return f"127.0.0.1:{self.sasl_port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "kafka.pid"

    @property
    def console_log(self) -> Path:
        return self.home / "kafka.out"

    @property
    def server_log(self) -> Path:
        return self.home / "logs" / "server.log"

    def fetch_jars(self) -> Path:
        """Resolve the broker classpath once per version; later calls use the cache."""
        version = kafka_version()
        if (self.libs / f"kafka_2.13-{version}.jar").is_file():
            return self.libs
        mvn = _require("mvn", MAVEN_HINT)
        _require("java", JAVA_HINT)
        # Copy into a scratch folder and rename it when complete, so an interrupted
        # fetch never leaves a half-filled cache that later runs would take as whole.
        self.libs.parent.mkdir(parents=True, exist_ok=True)
        scratch = self.libs.with_name(f"libs.partial-{os.getpid()}")
        shutil.rmtree(scratch, ignore_errors=True)
        print(
            f"fetching Kafka {version} jars from Maven Central into {self.libs} ...",
            file=sys.stderr,
        )
        started = time.monotonic()
        with as_file(POM) as pom:
            result = subprocess.run(
                [
                    mvn,
                    "-q",
                    "-B",
                    "-f",
                    str(pom),
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={scratch}",
                    "-DincludeScope=runtime",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
        if result.returncode != 0:
            shutil.rmtree(scratch, ignore_errors=True)
            output = (result.stdout + result.stderr).strip().splitlines()
            raise BrokerError("mvn could not fetch the Kafka jars:\n" + "\n".join(output[-30:]))
        try:
            scratch.rename(self.libs)
        except OSError:  # another process filled the cache first
            shutil.rmtree(scratch, ignore_errors=True)
        print(
            f"fetched Kafka {version} jars in {time.monotonic() - started:.1f}s",
            file=sys.stderr,
        )
        return self.libs

    def _java(self, main: str, *args: str) -> list[str]:
        java = _require("java", JAVA_HINT)
        return [
            java,
            *HEAP,
            "-cp",
            str(self.libs / "*"),
            f"-Dlog4j.configuration={self.log4j_config.as_uri()}",
            f"-Dkafka.logs.dir={self.home / 'logs'}",
            main,
            *args,
        ]

    @property
    def log4j_config(self) -> Path:
        return self.home / "log4j.properties"

    def _render_config(self) -> Path:
        """Write the broker's config files into ``home``, where they outlive this process."""
        self.log4j_config.write_text((BROKER_FILES / "log4j.properties").read_text())
        template = Template((BROKER_FILES / "server.properties").read_text())
        config = self.home / "server.properties"
        text = template.substitute(
            port=self.port,
            controller_port=self.controller_port,
            data_dir=self.home / "data",
        )
        config.write_text(text + self._sasl_properties())
        return config

    def _sasl_properties(self) -> str:
        """Lines that add the SASL listener; in a properties file the last value of a key wins."""
        if self.sasl_users is None:
            return ""
        users = " ".join(f'user_{name}="{password}"' for name, password in self.sasl_users.items())
        plain = f"127.0.0.1:{self.port}"
        sasl = f"127.0.0.1:{self.sasl_port}"
        return (
            "\n# A SASL_PLAINTEXT listener with the PLAIN mechanism (LocalKafka sasl_users).\n"
            f"listeners=PLAINTEXT://{plain},SASL_PLAINTEXT://{sasl},"
            f"CONTROLLER://127.0.0.1:{self.controller_port}\n"
            f"advertised.listeners=PLAINTEXT://{plain},SASL_PLAINTEXT://{sasl}\n"
            "listener.security.protocol.map="
            "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT\n"
            "sasl.enabled.mechanisms=PLAIN\n"
            "listener.name.sasl_plaintext.plain.sasl.jaas.config="
            f"org.apache.kafka.common.security.plain.PlainLoginModule required {users};\n"
        )

    def _format_storage(self, config: Path) -> None:
        """KRaft refuses unformatted storage; format once so later runs keep data.

        Formatted storage is skipped rather than given ``--ignore-formatted``: in 3.9
        that flag still fails on a cluster id other than the stored one, and skipping
        saves a JVM start.
        """
        if (self.home / "data" / "meta.properties").is_file():
            return
        result = subprocess.run(
            self._java(
                "kafka.tools.StorageTool",
                "format",
                "--cluster-id",
                _cluster_id(),
                "--config",
                str(config),
                "--ignore-formatted",
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BrokerError(
                "formatting Kafka storage failed:\n" + (result.stdout + result.stderr).strip()
            )

    def up(self, timeout: float = 60) -> None:
        """Start the broker in the background; return once it answers for metadata."""
        if self.is_running():
            self._wait_ready(timeout)
            return
        for port in (self.port, self.controller_port, self.sasl_port):
            if port is not None and _port_in_use(port):
                raise BrokerError(
                    f"port {port} on 127.0.0.1 is already in use; stop what listens "
                    "there or choose other ports (--port, --controller-port)"
                )
        self.fetch_jars()
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        config = self._render_config()
        self._format_storage(config)
        with self.console_log.open("ab") as out:
            # A session of its own detaches the broker from the calling terminal.
            self._proc = subprocess.Popen(
                self._java("kafka.Kafka", str(config)),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.home,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{self._proc.pid}\n")
        try:
            self._wait_ready(timeout)
        except BrokerError:
            self.down()
            raise

    def _wait_ready(self, timeout: float) -> None:
        # Imported here so that `down` and `status` need no Kafka client library.
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        deadline = time.monotonic() + timeout
        while True:
            if not self.is_running():
                raise BrokerError(f"the Kafka broker exited during start-up:\n{self._log_tail()}")
            try:
                admin = KafkaAdminClient(
                    bootstrap_servers=self.bootstrap,
                    bootstrap_timeout_ms=1000,
                    request_timeout_ms=2000,
                )
                try:
                    cluster = admin.describe_cluster()
                    # The cluster id tells our broker from one that held the port first.
                    ours = cluster["cluster_id"] == self.cluster_id
                    if cluster["brokers"] and ours:
                        return
                finally:
                    admin.close()
            except (KafkaError, OSError):
                pass
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"the Kafka broker did not answer within {timeout:g}s:\n" + self._log_tail()
                )
            time.sleep(0.25)

    def _log_tail(self) -> str:
        parts = [
            f"--- {log} ---\n{text}"
            for log in (self.console_log, self.server_log)
            if (text := _tail(log))
        ]
        return "\n".join(parts) or "(no log output)"

    @property
    def cluster_id(self) -> str | None:
        """The id the storage in ``home`` was formatted with, if it was."""
        try:
            text = (self.home / "data" / "meta.properties").read_text()
        except FileNotFoundError:
            return None
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "cluster.id":
                return value.strip()
        return None

    @property
    def pid(self) -> int | None:
        """The process id recorded by the last ``up``, if any."""
        try:
            return int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def is_running(self) -> bool:
        """True while the broker recorded in the pid file is alive."""
        if self._proc is not None:
            # Our own child: poll() also reaps it, so an exited broker is no zombie.
            return self._proc.poll() is None
        pid = self.pid
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # A stale pid file may name a process that is no longer the broker.
        cmdline = Path(f"/proc/{pid}/cmdline")
        return not cmdline.exists() or b"kafka.Kafka" in cmdline.read_bytes()

    def down(self, timeout: float = 30) -> None:
        """SIGTERM for a clean shutdown, SIGKILL after ``timeout``; safe to repeat."""
        pid = self._proc.pid if self._proc is not None else self.pid
        if pid is not None and self.is_running():
            self._signal(pid, signal.SIGTERM)
            if not self._wait_exit(timeout):
                self._signal(pid, signal.SIGKILL)
                if not self._wait_exit(5):
                    raise BrokerError(f"the Kafka broker (pid {pid}) did not exit after SIGKILL")
        self._proc = None
        self.pid_file.unlink(missing_ok=True)

    @staticmethod
    def _signal(pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)

    def _wait_exit(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.is_running():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True


def _broker(args: argparse.Namespace) -> LocalKafka:
    return LocalKafka(Path(args.home), port=args.port, controller_port=args.controller_port)


def _cmd_up(args: argparse.Namespace) -> int:
    broker = _broker(args)
    try:
        started = time.monotonic()
        broker.up(timeout=args.timeout)
    except BrokerError as err:
        print(f"kafka up: {err}", file=sys.stderr)
        return 1
    took = time.monotonic() - started
    print(f"Kafka is up at {broker.bootstrap} (pid {broker.pid}, {took:.1f}s)")
    print(f"logs: {broker.server_log}")
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    try:
        _broker(args).down()
    except BrokerError as err:
        print(f"kafka down: {err}", file=sys.stderr)
        return 1
    print("Kafka is stopped")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    broker = _broker(args)
    if broker.is_running():
        print(f"Kafka is running at {broker.bootstrap} (pid {broker.pid})")
        return 0
    print("Kafka is not running")
    return 1


def add_kafka_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Register ``kafka up|down|status``, each setting ``func(args) -> exit code``."""
    kafka = subparsers.add_parser("kafka", help="run a local single-node Kafka broker")
    commands = kafka.add_subparsers(dest="kafka_command", required=True, metavar="{up,down,status}")
    for name, func, summary in (
        ("up", _cmd_up, "start the broker (fetching jars once) and wait for it"),
        ("down", _cmd_down, "stop the broker"),
        ("status", _cmd_status, "exit 0 if the broker is running, 1 if not"),
    ):
        cmd = commands.add_parser(name, help=summary, description=summary)
        cmd.add_argument(
            "--home",
            default=str(DEFAULT_HOME),
            help="folder for config, data, logs and pid file (default: %(default)s)",
        )
        cmd.add_argument(
            "--port", type=int, default=9092, help="client port (default: %(default)s)"
        )
        cmd.add_argument(
            "--controller-port",
            type=int,
            default=9093,
            help="KRaft controller port (default: %(default)s)",
        )
        if name == "up":
            cmd.add_argument(
                "--timeout",
                type=float,
                default=60,
                help="seconds to wait for the broker to answer (default: %(default)s)",
            )
        cmd.set_defaults(func=func)
