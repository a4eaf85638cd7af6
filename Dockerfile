# feedsvc serve in a container: mount the article directory at /articles, keep /var/lib/feedsvc
# (it must be writable by uid 10001, the image's user). The public URL: -e FEEDSVC_SITE_URL=...
#   docker build -t feedsvc . && docker run -p 8080:8080 -v "$PWD/articles:/articles:ro" \
#     -e FEEDSVC_SITE_URL=https://feeds.example.com feedsvc
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    FEEDSVC_CONFIG=/etc/feedsvc/feedsvc.yaml

WORKDIR /src
COPY pyproject.toml README.md ./
COPY feedsvc ./feedsvc
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home-dir /var/lib/feedsvc feedsvc \
    && mkdir -p /articles /var/lib/feedsvc \
    && chown feedsvc /var/lib/feedsvc
COPY config/docker.yaml /etc/feedsvc/feedsvc.yaml

USER feedsvc
VOLUME ["/articles", "/var/lib/feedsvc"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('FEEDSVC_PORT', '8080'), timeout=4)"]
STOPSIGNAL SIGTERM
CMD ["feedsvc", "serve"]
