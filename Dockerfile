# Builds the API server and the demo worker (examples/send_campaign).
FROM rust:1-bookworm AS build
WORKDIR /src
# The whole tree, less .dockerignore's patterns: every input of the build
# (web/ for the embedded dashboard, migrations/, openapi.yaml, build.rs)
# without a list to keep in step. scripts/check-image-context.sh compiles
# exactly this context in the test command.
COPY . .
RUN cargo build --locked --release --bin job-progress --example send_campaign

FROM debian:bookworm-slim
# ca-certificates: the system roots that `watch`/`ls` (and any other
# outgoing https call) trust.
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
