# Builds the API server and the demo worker (examples/send_campaign).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY examples ./examples
COPY openapi.yaml ./
RUN cargo build --release --bin job-progress --example send_campaign

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 app
COPY --from=build /src/target/release/job-progress /usr/local/bin/job-progress
COPY --from=build /src/target/release/examples/send_campaign /usr/local/bin/send_campaign
USER app
ENV LISTEN_ADDR=0.0.0.0:8080 LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=2s CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["job-progress"]
CMD ["serve"]
