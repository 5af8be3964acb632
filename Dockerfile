# Arcroom service image. Build: docker build -t arcroom .   (see README, "Docker")
FROM python:3.11-slim-bookworm

# libVLC and its base plugins: the music player (the same packages ./dev installs).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvlc5 vlc-plugin-base \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /srv/arcroom
COPY pyproject.toml README.md ./
COPY app ./app
# Editable, like ./dev: the data folders are found next to app/.
RUN pip install --no-cache-dir -e .
COPY presets ./presets
COPY device_profiles ./device_profiles
COPY playlists ./playlists
COPY rooms.demo.yaml scenes.yaml ./

RUN useradd --system --home /data arcroom && mkdir -p /data && chown arcroom /data
USER arcroom
VOLUME /data

# Listening beyond loopback requires ARCROOM_TOKENS: the service refuses to run open on a network.
ENV ARCROOM_HOST=0.0.0.0 \
    ARCROOM_PORT=8000 \
    ARCROOM_DATABASE=/data/arcroom.db \
    ARCROOM_DEMO_MUSIC_DIR=/data/demo-music
EXPOSE 8000
CMD ["arcroom", "serve"]
