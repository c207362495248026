# libsql-migrate as a container: docs/docker.md.
#
#   docker build -t libsql-migrate .
#   docker run --rm -v "$PWD/migrations:/migrations:ro" -e LIBSQL_URL=http://sqld:8080 \
#     --network mynet libsql-migrate up --wait --insecure
#
# BASE_IMAGE: any Debian-based image with python3 (3.10 or later) and its venv module;
# both stages use it. PIP_INSTALL_OPTIONS: extra pip options, e.g. "--no-index" for an
# offline build from the wheels put in docker/wheels/ (nox -s image does that).
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
ARG PIP_INSTALL_OPTIONS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY migrate_tasks ./migrate_tasks
COPY docker/wheels /wheels
RUN python3 -m venv /opt/libsql-migrate \
 && /opt/libsql-migrate/bin/pip install --find-links /wheels ${PIP_INSTALL_OPTIONS} /src \
 && /opt/libsql-migrate/bin/pip uninstall --yes pip

FROM ${BASE_IMAGE}
COPY --from=build /opt/libsql-migrate /opt/libsql-migrate
RUN useradd --system --uid 10001 --user-group --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin migrate \
 && mkdir /migrations /project \
 && chown migrate:migrate /project
ENV PATH=/opt/libsql-migrate/bin:$PATH \
    MIGRATIONS_DIR=/migrations \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /project
USER 10001:10001
ENTRYPOINT ["libsql-migrate"]
CMD ["--help"]
