#!/bin/sh
# The image's entrypoint: `pingtree serve` on 0.0.0.0:8080 with the config at $PINGTREE_CONFIG,
# and the Redis store when $PINGTREE_REDIS_URL is set (empty: the embedded memory store, one
# process); serve reads that variable itself, so the URL and its password stay off `ps`. Arguments after the image name come last, so `docker run IMAGE --log-level debug`
# adds an option and a repeated one overrides these (argparse keeps the last).
set -eu
if [ -n "${PINGTREE_WORKERS:-}" ]; then
  set -- --workers "$PINGTREE_WORKERS" "$@"
fi
if [ -n "${PINGTREE_REDIS_PREFIX:-}" ]; then
  set -- --redis-prefix "$PINGTREE_REDIS_PREFIX" "$@"
fi
set -- --host 0.0.0.0 --port 8080 --config "${PINGTREE_CONFIG:-/etc/pingtree/buyers.yaml}" "$@"
# exec: pingtree is the container's main process and gets its signals (SIGTERM; SIGHUP reloads).
exec pingtree serve "$@"
