# syntax=docker/dockerfile:1
# Two images from one file:
#   --target web         the site, the scoring worker and beat (no torch)
#   --target gpu-worker  the GPU worker, with the CUDA build of torch
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements/runtime.lock /tmp/runtime.lock
RUN pip install --require-hashes -r /tmp/runtime.lock
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY app app
COPY workers workers
COPY reference_models reference_models
COPY migrations migrations
COPY templates templates
# Editable, so templates/ and migrations/ are found beside the code.
RUN pip install --no-deps -e .

FROM build AS build-gpu
# PyPI's Linux wheel of torch is the CUDA build; SciPy for the pseudo masks' background detector.
RUN pip install "torch==2.13.0" "scipy==1.16.3"

FROM python:3.11-slim AS web
RUN useradd --create-home --uid 10001 wsss4luad && mkdir /data && chown wsss4luad /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 WSSS4LUAD_DATA_DIR=/data
WORKDIR /app
USER wsss4luad
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["wsss4luad", "serve", "--host", "0.0.0.0", "--port", "8000"]

FROM python:3.11-slim AS gpu-worker
RUN useradd --create-home --uid 10001 wsss4luad && mkdir /data && chown wsss4luad /data
COPY --from=build-gpu /opt/venv /opt/venv
COPY --from=build-gpu /app /app
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 WSSS4LUAD_DATA_DIR=/data
WORKDIR /app
USER wsss4luad
CMD ["wsss4luad", "worker", "--queues", "gpu", "--concurrency", "1"]
