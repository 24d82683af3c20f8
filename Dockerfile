# The friction-detector image: the `friction` command (worker, simulate, replay...).
#   docker build -t friction-detector .
#   docker run --rm -e FRICTION_KAFKA_BROKER=kafka://broker:9092 -p 9108:9108 friction-detector
# The base is pinned by digest, so a rebuild gets the same Python and Debian until the digest is
# changed on purpose (docs/deploy.md, The image, says how to refresh it).
# Stage one builds the package's wheel with its compiled detection core (detectors/core, Rust):
# Debian's own Rust toolchain for bookworm, versions pinned as the base is (docs/deploy.md).
FROM python:3.11.10-slim-bookworm@sha256:5148c0e4bbb64271bca1d3322360ebf4bfb7564507ae32dd639322e4952a6b16 AS build

RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        cargo-web=1.85.0+dfsg3-1~deb12u3 \
        rustc-web=1.85.0+dfsg3-1~deb12u3 \
        libstd-rust-web-dev=1.85.0+dfsg3-1~deb12u3 \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /build
# The locked build backend (and the rest of the lock, each checked against its hash): nothing is
# resolved or downloaded for the package itself.
COPY requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock
# Only what the package is built from (README.md* : the readme is optional). cargo fetches the
# core's crates, as Cargo.lock pins them. The core is optional to pip, not to the image: the
# stage fails unless the wheel's package imports it.
COPY pyproject.toml README.md* ./
COPY detectors ./detectors
COPY streams ./streams
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
    && pip install --no-deps /wheels/friction_detector-*.whl \
    && python -c "import friction_detector.detectors._core"

# Stage two is the image: Python, the locked dependencies and that wheel; no toolchain.
FROM python:3.11.10-slim-bookworm@sha256:5148c0e4bbb64271bca1d3322360ebf4bfb7564507ae32dd639322e4952a6b16

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /build
# Dependencies first, exactly as locked (scripts/lock), each checked against its hash: the layer
# is rebuilt only when the lock changes. The rocksdb extra is in the lock, so
# FRICTION_STORE=rocksdb:// works in the image.
COPY requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock
COPY --from=build /wheels /wheels
RUN pip install --no-deps /wheels/friction_detector-*.whl \
    && rm -rf /build /wheels

# Faust keeps its local state (tables, RocksDB) under the working directory. A numeric USER lets
# Kubernetes check runAsNonRoot without resolving a name.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/friction friction
USER 10001:10001
WORKDIR /var/lib/friction

ENV FRICTION_METRICS_PORT=9108
EXPOSE 9108
# Healthy while the worker's event loop turns (/healthz; /ready says whether it processes).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('FRICTION_METRICS_PORT', '9108') + '/healthz', timeout=4)"]
CMD ["friction", "worker"]
