# spanlog's image: one static binary that plays every role (-target=...).
# Build from the repository root: docker build -t spanlog:dev .

FROM golang:1.26.8-alpine AS build
WORKDIR /src
# The modules first: a change to the code does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
# No cgo: a static binary, which the runtime image (no libc) can run.
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" \
      -o /out/spanlog ./cmd/spanlog \
 && mkdir /out/home

# CA certificates and time zones, nothing else; runs as uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/spanlog /usr/bin/spanlog
# -target=all keeps the embedded Kafka's log and the blocks under ./data
# by default: the working directory is the one place the user may write.
COPY --from=build --chown=nonroot:nonroot /out/home /var/lib/spanlog
WORKDIR /var/lib/spanlog
# 3200 query API, /ready, /metrics; 3201 queriers' peer traffic;
# 4317 OTLP/gRPC; 4318 OTLP/HTTP.
EXPOSE 3200 3201 4317 4318
ENTRYPOINT ["/usr/bin/spanlog"]
CMD ["-target=all"]
