# pingtree: the router alone (and `pingtree sim`, its simulated buyers), nothing to build or test it.
#
#   docker build -t pingtree .
#   docker run -p 8080:8080 -v "$PWD/buyers.yaml:/etc/pingtree/buyers.yaml:ro" \
#     -e PINGTREE_REDIS_URL=redis://redis-host:6379/0 pingtree
#
# No buyers.yaml is baked in: the tree, its keys and its secrets are the operator's, mounted at
# /etc/pingtree/buyers.yaml. docker-compose.yml runs the whole stack (docs/scaling.md: Deployment).

# The build stage installs the package and its wheels into a virtualenv; only that venv is copied
# into the runtime image (no pip cache, no build frontend, no sources beyond the package).
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/pingtree
WORKDIR /src
# pyproject.toml names README.md as its readme: the build needs it, the image does not keep it.
COPY pyproject.toml README.md ./
COPY pingtree ./pingtree
# `fast`: uvloop, about 10-15 % less CPU per lead (docs/benchmarks.md). Every dependency ships
# manylinux wheels for CPython 3.11, so no compiler is needed.
# pip and setuptools leave the venv once they have done their work: the image runs, it installs nothing.
RUN /opt/pingtree/bin/pip install ".[fast]" \
 && /opt/pingtree/bin/pip uninstall --yes --quiet pip setuptools

FROM python:3.11-slim
# A fixed uid/gid, so a mounted buyers.yaml can be made readable to it (and to nobody else).
RUN groupadd --system --gid 10001 pingtree \
 && useradd --system --uid 10001 --gid pingtree --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin pingtree
COPY --from=build /opt/pingtree /opt/pingtree
COPY deploy/entrypoint.sh /usr/local/bin/pingtree-entrypoint
ENV PATH=/opt/pingtree/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PINGTREE_CONFIG=/etc/pingtree/buyers.yaml \
    PINGTREE_REDIS_URL="" \
    PINGTREE_REDIS_PREFIX="" \
    PINGTREE_WORKERS=""
USER pingtree
EXPOSE 8080
# No curl in a slim image: the venv's Python asks /healthz (urlopen raises on anything but 2xx).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
# pingtree serve --host 0.0.0.0 --port 8080 --config $PINGTREE_CONFIG, plus --redis-prefix and
# --workers from the variables above when set; serve reads $PINGTREE_REDIS_URL itself (kept off
# the command line). Arguments given to `docker run IMAGE …` are appended (the last of a repeated
# option wins).
ENTRYPOINT ["pingtree-entrypoint"]
