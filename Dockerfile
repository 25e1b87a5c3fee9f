# circleback: the daemon, as a small image.
#   docker build -t circleback .
#   docker run -v circleback-data:/data -v $PWD/cohort.toml:/config/cohort.toml:ro \
#     -e CIRCLEBACK_SMTP_PASSWORD -e CIRCLEBACK_IMAP_PASSWORD circleback
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
COPY templates ./templates
COPY config ./config
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /data --create-home circleback
COPY --from=build /install /usr/local
USER circleback
WORKDIR /data
VOLUME ["/data"]
# A relative [database] url (the default sqlite://circleback.sqlite3) lands in the volume.
ENV PYTHONUNBUFFERED=1 CIRCLEBACK_DATA_DIR=/data
# SIGTERM (docker stop) lets circleback finish its current step and exit cleanly.
STOPSIGNAL SIGTERM
ENTRYPOINT ["circleback"]
CMD ["run", "/config/cohort.toml"]
