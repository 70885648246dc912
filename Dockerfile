# kube-workflows: the operator (`kwf operator`, the default) and the runner (`kwf runner`) in one image.
# Workflow images build FROM this one and add their own code (see README).
#
#   docker build -t kube-workflows:0.1.0 .
#
# tests/integration/test_packaging.py replays the builder stage's install steps in a clean venv and
# lints this file with hadolint; keep the builder stage to WORKDIR/ENV/COPY lines, RUN pip lines and
# the one RUN of hack/fetch-debugger.py.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml README.md ./
# The product package only: the dev tools (devtools/, the local dev cluster) never enter the image.
COPY operator/ operator/
# The debugger UI's files (the npm tarball, checked against ui/debugger.json) into the package, so that
# `kwf serve` needs no CDN.
COPY hack/fetch-debugger.py hack/
RUN python hack/fetch-debugger.py
# The project and its dependencies (wheels from PyPI; psycopg for spec.checkpoint.store postgres) into
# /install, laid out like /usr/local. (DL3013: this checkout, pinned by pyproject.toml, not a PyPI name.
# DL3059: a RUN of its own, so that tests/integration/test_packaging.py replays each step.)
# hadolint ignore=DL3013,DL3059
RUN pip install --prefix=/install ".[postgres,serve]"

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="kube-workflows" \
      org.opencontainers.image.description="Durable llama-index-workflows runs on Kubernetes" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# uid/gid 65532 ("nonroot"), as the chart's and the runner Job's securityContext expect.
RUN groupadd --system --gid 65532 nonroot \
 && useradd --system --uid 65532 --gid 65532 --home-dir /home/nonroot --create-home --shell /usr/sbin/nologin nonroot
COPY --from=builder /install /usr/local
# pip compiled /install; the base image's standard library has no bytecode (python:*-slim deletes it,
# as hack/images/base.sh does), and a pod neither can write it (non-root) nor would keep it
# (PYTHONDONTWRITEBYTECODE): every runner start compiled asyncio, typing, email, ... from source again.
RUN python -m compileall -q -j 0 "$(python -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')"
USER 65532:65532
WORKDIR /home/nonroot
ENTRYPOINT ["kwf"]
CMD ["operator"]
