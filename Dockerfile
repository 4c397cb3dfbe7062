# Omni Studio for production: one image runs the web server (default command),
# the worker (`python manage.py qcluster`) and the sweeper (`python manage.py sweep`).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STUDIO_DATA_DIR=/data \
    STUDIO_BIND=0.0.0.0:8000 \
    STUDIO_WEB_WORKERS=3

# Fonts for the demo provider's clips (WenQuanYi Zen Hei draws Chinese prompts, at a tenth of
# Noto CJK's size); PyAV and psycopg bring their own libraries.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-dejavu-core fonts-wqy-zenhei \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# requirements.txt is a lock file with hashes (compiled from requirements.in):
# every package, to the last dependency, is checked against its hash.
COPY requirements.txt .
RUN pip install --require-hashes --no-deps -r requirements.txt

COPY manage.py gunicorn.conf.py ./
COPY studio ./studio
COPY templates ./templates
COPY locale ./locale
COPY static ./static

# Static files are collected at build time; whitenoise serves them.
RUN DJANGO_SECRET_KEY=build-only STUDIO_DATA_DIR=/tmp/build python manage.py collectstatic --noinput \
    && rm -rf /tmp/build \
    && useradd --system --uid 10001 --home-dir /app studio \
    && mkdir -p /data && chown studio /data

USER studio
VOLUME ["/data"]
EXPOSE 8000

# The web server's /healthz (database, cache, storage, the last sweep's age). The worker
# and sweeper containers run the same image without a web server: compose turns this off
# for them (healthcheck: disable: true).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "studio.ops.probe"]

# Every gunicorn setting is in gunicorn.conf.py (STUDIO_BIND, STUDIO_WEB_WORKERS change it).
CMD ["gunicorn", "--config", "gunicorn.conf.py"]
