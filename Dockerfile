# Omnicat: the omnichannel agent workflow for Rocket.Chat, as chat commands.
#
#   docker build -t omnicat .
#   docker run -v omnicat-data:/data -e OMNICAT_SERVER_URL=https://chat.example.org \
#              -e OMNICAT_USERNAME=omnicat -e OMNICAT_PASSWORD=... omnicat
#
# The image holds config/omnicat.yaml as /config/omnicat.yaml, driven by OMNICAT_* variables
# (see that file); mount your own copy over it to change more. OMNICAT_HTTP_LISTEN below turns
# the ops port on, so the HEALTHCHECK (and a Prometheus scraper) reach /healthz and /metrics
# with the shipped config; a config of your own keeps `listen: ${OMNICAT_HTTP_LISTEN:-}` or
# sets http.listen: 0.0.0.0:9090. `store.url: sqlite:///omnicat.db` is relative to the working
# directory, /data, which is a volume.
FROM python:3.11-slim

# Fonts the PDF transcripts need: Latin/Cyrillic/Greek (DejaVu, Noto), CJK (Noto CJK),
# Arabic and Hebrew (Noto core), emoji (Symbola). The renderer finds them under /usr/share/fonts
# by itself.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        fonts-noto-core fonts-noto-cjk fonts-dejavu-core fonts-symbola \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Metadata first, so a code change does not invalidate the dependency layer's cache key
# (setuptools needs the package sources to build, so they follow right after).
COPY pyproject.toml setup.cfg README.md ./
COPY bot ./bot
COPY commands ./commands
RUN pip install . && rm -rf /src

# A fixed, unprivileged uid: the bot needs no root, and volume permissions stay predictable.
RUN useradd --system --uid 10001 --create-home --home-dir /home/omnicat omnicat \
    && mkdir -p /data /config \
    && chown omnicat:omnicat /data
COPY config/omnicat.yaml /config/omnicat.yaml
ENV OMNICAT_HTTP_LISTEN=0.0.0.0:9090
USER omnicat
WORKDIR /data
VOLUME ["/data"]

EXPOSE 9090

# urlopen raises on 503 (and on a refused connection), which exits non-zero: unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9090/healthz', timeout=4)"]

ENTRYPOINT ["omnicat", "run", "-c", "/config/omnicat.yaml"]
