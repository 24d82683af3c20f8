# The friction-detector image: the `friction` command (worker, simulate, replay...).
#   docker build -t friction-detector .
#   docker run --rm -e FRICTION_KAFKA_BROKER=kafka://broker:9092 -p 9108:9108 friction-detector
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Only what the package is built from, so that edits elsewhere keep the layer cache.
# (README.md* : the readme is optional for the build.)
WORKDIR /build
COPY pyproject.toml README.md* ./
COPY detectors ./detectors
COPY streams ./streams
# With the rocksdb extra, so FRICTION_STORE=rocksdb:// works in the image.
RUN pip install ".[rocksdb]" && rm -rf /build

# Faust keeps its local state (tables, RocksDB) under the working directory.
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/friction friction
USER friction
WORKDIR /var/lib/friction

ENV FRICTION_METRICS_PORT=9108
EXPOSE 9108
# Healthy while the worker's event loop turns (/healthz; /ready says whether it processes).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('FRICTION_METRICS_PORT', '9108') + '/healthz', timeout=4)"]
CMD ["friction", "worker"]
