FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY scheduler scheduler
COPY notifications notifications
COPY rooms rooms
COPY signaling signaling
COPY web web
RUN pip install --no-cache-dir . && useradd --system --home /app sprechstunde
USER sprechstunde
# Also the default; said here so that nobody mistakes the image for a demo.
ENV SPRECHSTUNDE_ENV=production
EXPOSE 8000
CMD ["sprechstunde", "serve", "--host", "0.0.0.0", "--port", "8000"]
