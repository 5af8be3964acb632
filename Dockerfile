# Arcroom service image: the wheel, installed (not editable), run as a non-root user.
# Build: docker build -t arcroom .   (see docs/operations.md, "Install as a service")

# Stage 1: the wheels of Arcroom (with its shipped data files) and of everything it depends on.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY presets ./presets
COPY device_profiles ./device_profiles
COPY playlists ./playlists
COPY rooms.demo.yaml scenes.yaml ./
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Stage 2: what runs. No source tree, no build tools: the wheels are mounted for the install only.
FROM python:3.11-slim-bookworm
# libVLC and its base plugins: the music player; ffmpeg: `arcroom library scan` measures each
# track's loudness with it (without it every track plays at 0 dB, unmatched). The same
# packages ./dev installs to run the service.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvlc5 vlc-plugin-base ffmpeg \
 && rm -rf /var/lib/apt/lists/*
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels arcroom

# The same layout as the systemd unit: the clinic's files in /etc/arcroom (mount them there,
# read-only), the database and the generated demo music in /var/lib/arcroom (a volume).
RUN useradd --system --user-group --uid 10001 --groups audio --home-dir /var/lib/arcroom \
            --no-create-home --shell /usr/sbin/nologin arcroom \
 && install -d -o arcroom -g arcroom -m 0700 /var/lib/arcroom \
 && install -d -m 0755 /etc/arcroom
VOLUME /var/lib/arcroom
# Listening beyond loopback requires ARCROOM_TOKENS: the service refuses to run open on a network.
ENV ARCROOM_HOST=0.0.0.0 \
    ARCROOM_PORT=8000 \
    ARCROOM_CONFIG_DIR=/etc/arcroom \
    ARCROOM_DATA_DIR=/var/lib/arcroom \
    PYTHONFAULTHANDLER=1 \
    PYTHONUNBUFFERED=1
USER arcroom
WORKDIR /var/lib/arcroom
EXPOSE 8000
# Healthy while the service answers /api/health (a "degraded" answer included: restarting Arcroom
# would not bring a lost broker back; the answer says what is wrong).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["arcroom", "health"]
CMD ["arcroom", "serve"]
