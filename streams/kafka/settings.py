"""Kafka and worker settings: environment variables, overridden by command-line options.

One place knows every knob, so `worker`, `send`, `tail`, `simulate` and `demo` agree on the
broker, its security and the topic names. docs/worker.md lists them.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import os
import re
import ssl
from dataclasses import dataclass, field, fields

from friction_detector.streams.kafka.brokers import broker_problem

DEFAULT_BROKER = "kafka://127.0.0.1:9092"
DEFAULT_APP_ID = "friction-detector"
DEFAULT_INPUT_TOPIC = "friction-events"
DEFAULT_FINDINGS_TOPIC = "friction-findings"
DEFAULT_DEAD_LETTER_TOPIC = "friction-dead-letters"
DEFAULT_ALERTS_TOPIC = "friction-alerts"
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
# A worker's batch goes out once its first event is this old, however many more wait
# (streams/worker/batching.py); a batch's hold (`batch_hold_ms`) is at most that.
BATCH_MAX_AGE_MS = 100
# Faust's own default: how often the offsets of handled messages are committed.
DEFAULT_COMMIT_INTERVAL_S = 2.8
_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")


class SettingsError(ValueError):
    """A setting that cannot work; the message names the variable or option."""


def is_topic_name(name: str) -> bool:
    """Kafka's rule for topic names, checked here so a bad one is a message, not a traceback."""
    return bool(_TOPIC_NAME.fullmatch(name)) and name not in (".", "..")


def not_a_topic(name: str) -> str:
    return f"{name!r} is not a Kafka topic name (1 to 249 of the characters A-Z a-z 0-9 . _ -)"


def topic_name(text: str) -> str:
    """An argparse type for topic options: a bad name is a usage error naming the option."""
    if not is_topic_name(text):
        raise argparse.ArgumentTypeError(not_a_topic(text))
    return text


@dataclass
class KafkaSettings:
    """Where the broker is and how to authenticate: shared by every command that talks to it."""

    broker: str = DEFAULT_BROKER
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    input_topics: list[str] = field(default_factory=lambda: [DEFAULT_INPUT_TOPIC])
    findings_topic: str = DEFAULT_FINDINGS_TOPIC
    dead_letter_topic: str = DEFAULT_DEAD_LETTER_TOPIC
    alerts_topic: str = DEFAULT_ALERTS_TOPIC
    partitions: int = 4
    log_level: str = "WARN"

    @property
    def debug(self) -> bool:
        """At DEBUG a failure also prints its traceback; otherwise one line says what failed."""
        return self.log_level.upper() == "DEBUG"

    @property
    def bootstrap(self) -> list[str]:
        """host:port pairs without the `kafka://` scheme, for kafka-python."""
        hosts = []
        for part in self.broker.split(";"):
            for host in part.split(","):
                host = host.strip()
                if host:
                    hosts.append(host.split("://", 1)[-1])
        return hosts

    @property
    def uses_tls(self) -> bool:
        return any((self.ssl_cafile, self.ssl_certfile, self.ssl_keyfile))

    def validate(self) -> None:
        if self.sasl_mechanism is not None:
            if self.sasl_mechanism not in SASL_MECHANISMS:
                raise SettingsError(
                    f"FRICTION_KAFKA_SASL_MECHANISM must be one of {', '.join(SASL_MECHANISMS)}, "
                    f"got {self.sasl_mechanism!r}"
                )
            if not self.sasl_username or self.sasl_password is None:
                raise SettingsError(
                    "SASL needs FRICTION_KAFKA_SASL_USERNAME and FRICTION_KAFKA_SASL_PASSWORD"
                )
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise SettingsError("a client certificate needs both --ssl-certfile and --ssl-keyfile")
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path = getattr(self, name)
            if path and not os.path.isfile(path):
                raise SettingsError(f"{name.replace('_', '-')}: no such file {path}")
        if self.partitions < 1:
            raise SettingsError(f"partitions must be at least 1, got {self.partitions}")
        for what, topic in self._topics():
            if not is_topic_name(topic):
                raise SettingsError(f"{what}: {not_a_topic(topic)}")

    def _topics(self) -> list[tuple[str, str]]:
        return [("input topic", topic) for topic in self.input_topics] + [
            ("findings topic", self.findings_topic),
            ("dead-letter topic", self.dead_letter_topic),
            ("alerts topic", self.alerts_topic),
        ]

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.uses_tls:
            return None
        context = ssl.create_default_context(cafile=self.ssl_cafile)
        if self.ssl_certfile:
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        return context

    def faust_credentials(self):
        """`broker_credentials` for Faust: TLS, SASL (PLAIN or SCRAM) over plaintext or TLS."""
        import faust

        context = self.ssl_context()
        if self.sasl_mechanism:
            return faust.SASLCredentials(
                username=self.sasl_username,
                password=self.sasl_password,
                mechanism=self.sasl_mechanism,
                ssl_context=context,
            )
        if context is not None:
            return faust.SSLCredentials(context)
        return None

    def aiokafka_config(self) -> dict:
        """Keyword arguments for aiokafka clients with the same security as the worker."""
        config = self._client_security()
        if self.uses_tls:
            config["ssl_context"] = self.ssl_context()
        return config

    def client_config(self) -> dict:
        """Keyword arguments for kafka-python clients with the same security as the worker."""
        config = self._client_security()
        if self.uses_tls:
            config.update(
                ssl_cafile=self.ssl_cafile,
                ssl_certfile=self.ssl_certfile,
                ssl_keyfile=self.ssl_keyfile,
            )
        return config

    def _client_security(self) -> dict:
        """The brokers, protocol and SASL login, as kafka-python and aiokafka both name them."""
        config: dict = {"bootstrap_servers": self.bootstrap}
        tls = self.uses_tls
        if self.sasl_mechanism:
            config.update(
                security_protocol="SASL_SSL" if tls else "SASL_PLAINTEXT",
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password,
            )
        elif tls:
            config["security_protocol"] = "SSL"
        return config


def input_group(app_id: str) -> str:
    """The consumer group whose commits say how far the app `app_id` has read its input: not
    the app's own group, which speaks Faust's assignment protocol (worker/input_reader.py)."""
    return f"{app_id}-input"


# The worker's event loop (streams/worker/event_loop.py): auto is uvloop where it is installed.
EVENT_LOOPS = ("auto", "uvloop", "asyncio")
# Where stage 1 runs: a process of its own (streams/worker/input_process.py) or the worker's.
INPUT_STAGES = ("process", "inline")


@dataclass
class WorkerSettings(KafkaSettings):
    """Everything `friction worker` needs besides the detector configuration file."""

    app_id: str = DEFAULT_APP_ID
    store: str = "memory://"
    metrics_port: int = 9108
    metrics_addr: str = "0.0.0.0"
    idle_advance_s: float = 5.0
    tick_interval_s: float = 1.0
    batch_hold_ms: int = 20
    commit_interval_s: float = DEFAULT_COMMIT_INTERVAL_S
    rocksdb_block_cache_mb: int = 64
    data_dir: str = ".friction/worker"
    alertmanager_url: str = ""
    alert_resend_s: float = 60.0
    log_format: str = "text"
    metric_label_values: int = 100
    event_loop: str = "auto"
    input_stage: str = "process"

    def validate(self) -> None:
        super().validate()
        if self.log_format not in ("text", "json"):
            raise SettingsError(f"log format must be text or json, got {self.log_format!r}")
        if not self.store.startswith(("memory://", "rocksdb://")):
            raise SettingsError(f"store must be memory:// or rocksdb://, got {self.store!r}")
        if self.store.startswith("rocksdb://") and importlib.util.find_spec("rocksdict") is None:
            raise SettingsError(
                "store rocksdb:// needs the rocksdict package: "
                "pip install 'friction-detector[rocksdb]'"
            )
        if self.idle_advance_s <= 0 or self.tick_interval_s <= 0 or self.commit_interval_s <= 0:
            raise SettingsError(
                "idle-advance-s, tick-interval-s and commit-interval-s must be positive"
            )
        if not 0 <= self.batch_hold_ms <= BATCH_MAX_AGE_MS:
            raise SettingsError(
                f"batch-hold-ms must be 0..{BATCH_MAX_AGE_MS} (a batch's age limit), "
                f"got {self.batch_hold_ms}"
            )
        if self.alert_resend_s <= 0:
            raise SettingsError("alert-resend-s must be positive")
        if self.alertmanager_url and not self.alertmanager_url.startswith(("http://", "https://")):
            raise SettingsError(
                "alertmanager URL must start with http:// or https://, "
                f"got {self.alertmanager_url!r}"
            )
        if self.metric_label_values < 1:
            raise SettingsError(
                f"metric-label-values must be at least 1, got {self.metric_label_values}"
            )
        if not 0 <= self.metrics_port < 65536:
            raise SettingsError(f"metrics port out of range: {self.metrics_port}")
        if self.event_loop not in EVENT_LOOPS:
            raise SettingsError(
                f"event loop must be {', '.join(EVENT_LOOPS)}, got {self.event_loop!r}"
            )
        if self.event_loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
            raise SettingsError("event loop uvloop needs the uvloop package: pip install uvloop")
        if self.input_stage not in INPUT_STAGES:
            raise SettingsError(
                f"input stage must be {' or '.join(INPUT_STAGES)}, got {self.input_stage!r}"
            )
        if self.input_stage == "process" and "fork" not in multiprocessing.get_all_start_methods():
            raise SettingsError(
                "input stage process forks the worker, which this system cannot: "
                "use --input-stage inline"
            )

    @property
    def input_group(self) -> str:
        """The consumer group that reads the input topics (`input_group`)."""
        return input_group(self.app_id)

    @property
    def routed_topic(self) -> str:
        """The internal topic that partitions events by the detector key (one per app id)."""
        return f"{self.app_id}-routed"

    @property
    def customers_topic(self) -> str:
        """The internal topic that partitions findings by customer, for the detectors over
        findings (`friction_accumulated`)."""
        return f"{self.app_id}-customers"

    @property
    def rollups_topic(self) -> str:
        """The internal one-partition topic where partitions send counts to the alert engine."""
        return f"{self.app_id}-rollups"


# (attribute, environment variable, option, type, help); the option sets the attribute.
_KAFKA_OPTIONS = (
    ("broker", "FRICTION_KAFKA_BROKER", "--broker", str, "Kafka URL(s), kafka://host:port"),
    ("ssl_cafile", "FRICTION_KAFKA_SSL_CAFILE", "--ssl-cafile", str, "CA bundle: enables TLS"),
    ("ssl_certfile", "FRICTION_KAFKA_SSL_CERTFILE", "--ssl-certfile", str, "client certificate"),
    ("ssl_keyfile", "FRICTION_KAFKA_SSL_KEYFILE", "--ssl-keyfile", str, "client private key"),
    (
        "sasl_mechanism",
        "FRICTION_KAFKA_SASL_MECHANISM",
        "--sasl-mechanism",
        str,
        "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
    ),
    ("sasl_username", "FRICTION_KAFKA_SASL_USERNAME", "--sasl-username", str, "SASL user"),
    # The password has no option: command lines are visible to other users of the machine.
    ("sasl_password", "FRICTION_KAFKA_SASL_PASSWORD", None, str, ""),
    (
        "input_topics",
        "FRICTION_INPUT_TOPICS",
        "--input-topic",
        str,
        "input topic(s), comma-separated",
    ),
    ("findings_topic", "FRICTION_FINDINGS_TOPIC", "--findings-topic", str, "findings topic"),
    (
        "dead_letter_topic",
        "FRICTION_DEAD_LETTER_TOPIC",
        "--dead-letter-topic",
        str,
        "dead-letter topic",
    ),
    ("alerts_topic", "FRICTION_ALERTS_TOPIC", "--alerts-topic", str, "alerts topic"),
    (
        "partitions",
        "FRICTION_TOPIC_PARTITIONS",
        "--partitions",
        int,
        "partitions of topics the worker creates",
    ),
    (
        "log_level",
        "FRICTION_LOG_LEVEL",
        "--log-level",
        str,
        "log level (Faust's for the worker); DEBUG also prints the traceback of a failure",
    ),
)
_WORKER_OPTIONS = (
    ("app_id", "FRICTION_APP_ID", "--app-id", str, "Faust app id = consumer group"),
    ("store", "FRICTION_STORE", "--store", str, "table store: memory:// or rocksdb://"),
    (
        "metrics_port",
        "FRICTION_METRICS_PORT",
        "--metrics-port",
        int,
        "Prometheus port, 0 disables",
    ),
    (
        "metrics_addr",
        "FRICTION_METRICS_ADDR",
        "--metrics-addr",
        str,
        "address /metrics listens on (127.0.0.1: this machine only)",
    ),
    (
        "metric_label_values",
        "FRICTION_METRIC_LABEL_VALUES",
        "--metric-label-values",
        int,
        "distinct values a producer-chosen label (segment) keeps per metric; later ones: other",
    ),
    (
        "idle_advance_s",
        "FRICTION_IDLE_ADVANCE_S",
        "--idle-advance-s",
        float,
        "an input partition without input this long, and fully read, follows the clock",
    ),
    (
        "tick_interval_s",
        "FRICTION_TICK_INTERVAL_S",
        "--tick-interval-s",
        float,
        "how often the input partitions' progress is reported to every routed partition",
    ),
    (
        "batch_hold_ms",
        "FRICTION_BATCH_HOLD_MS",
        "--batch-hold-ms",
        int,
        "stage 1 holds a batch this long after its first event before it may go out: larger "
        "batches, fewer routed messages; adds at most this much latency",
    ),
    (
        "commit_interval_s",
        "FRICTION_COMMIT_INTERVAL_S",
        "--commit-interval-s",
        float,
        "how often the offsets of handled messages are committed: a restart reads again what "
        "came after the last commit (findings sent again keep their ids)",
    ),
    (
        "rocksdb_block_cache_mb",
        "FRICTION_ROCKSDB_BLOCK_CACHE_MB",
        "--rocksdb-block-cache-mb",
        int,
        "RocksDB block cache per partition",
    ),
    (
        "data_dir",
        "FRICTION_DATA_DIR",
        "--data-dir",
        str,
        "folder for the worker's local table stores, one sub-folder per app id",
    ),
    (
        "alertmanager_url",
        "FRICTION_ALERTMANAGER_URL",
        "--alertmanager-url",
        str,
        "Alertmanager base URL to push alerts to (API v2); empty: alerts topic only",
    ),
    (
        "alert_resend_s",
        "FRICTION_ALERT_RESEND_S",
        "--alert-resend-s",
        float,
        "how often firing alerts are re-sent to Alertmanager",
    ),
    (
        "log_format",
        "FRICTION_LOG_FORMAT",
        "--log-format",
        str,
        "text (one line for a person) or json (one object per line)",
    ),
    (
        "event_loop",
        "FRICTION_EVENT_LOOP",
        "--event-loop",
        str,
        "auto (uvloop where installed, else asyncio), uvloop or asyncio",
    ),
    (
        "input_stage",
        "FRICTION_INPUT_STAGE",
        "--input-stage",
        str,
        "process (stage 1 reads and routes the input in a process of its own, on a second "
        "core) or inline (in the worker's process)",
    ),
)


def add_kafka_options(parser: argparse.ArgumentParser, worker: bool = False) -> None:
    """Options for every setting; unset options fall back to the environment, then defaults."""
    group = parser.add_argument_group("Kafka (environment variable in brackets)")
    options = _KAFKA_OPTIONS + (_WORKER_OPTIONS if worker else ())
    for attr, env, option, kind, text in options:
        if option is None:
            continue
        group.add_argument(option, dest=attr, type=kind, default=None, help=f"{text} [{env}]")


def _convert(attr: str, kind: type, raw: str, source: str):
    if attr == "broker":
        problem = broker_problem(raw)
        if problem:
            raise SettingsError(f"{source}: {problem}")
        return raw
    if attr == "input_topics":
        topics = [t.strip() for t in raw.split(",") if t.strip()]
        if not topics:
            raise SettingsError(f"{source}: no topic given")
        return topics
    try:
        return kind(raw)
    except ValueError:
        raise SettingsError(f"{source}: expected {kind.__name__}, got {raw!r}") from None


def resolve(args: argparse.Namespace, worker: bool = False, env=None) -> WorkerSettings:
    """Settings from defaults, then environment variables, then options."""
    env = os.environ if env is None else env
    settings = WorkerSettings()
    known = {f.name for f in fields(settings)}
    for attr, variable, option, kind, _ in _KAFKA_OPTIONS + _WORKER_OPTIONS:
        assert attr in known
        value = getattr(args, attr, None)
        if value is not None:
            setattr(settings, attr, _convert(attr, kind, str(value), option or variable))
        elif env.get(variable):
            setattr(settings, attr, _convert(attr, kind, env[variable], variable))
    settings.validate()
    return settings
