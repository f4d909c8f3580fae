# The `tests` service of docker-compose.yml: a plain Debian 12 with what
# scripts/test.sh needs. The packages come from scripts/lib.sh, the same list
# test.sh installs on a fresh machine.
FROM debian:12

COPY scripts/ /src/scripts/
RUN bash -c 'source /src/scripts/lib.sh && lc_install_deps' \
    && rm -rf /var/lib/apt/lists/*

COPY . /src
WORKDIR /src
CMD ["./scripts/test.sh"]
