FROM python:3.11.11-slim
WORKDIR /app
# Dependencies first, from the lock file, so that the layer stays cached until it changes.
COPY requirements.lock ./
RUN pip install --no-cache-dir --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY scheduler scheduler
COPY notifications notifications
COPY rooms rooms
COPY signaling signaling
COPY documents documents
COPY web web
RUN pip install --no-cache-dir --no-deps . && useradd --system --home /app sprechstunde
USER sprechstunde
# Also the default; said here so that nobody mistakes the image for a demo.
ENV SPRECHSTUNDE_ENV=production
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=3)"]
CMD ["sprechstunde", "serve", "--host", "0.0.0.0", "--port", "8000"]
