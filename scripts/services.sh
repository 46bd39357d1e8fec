#!/usr/bin/env bash
# Make sure the local PostgreSQL and Redis the tests use are up; start them if they are down.
# Prints one line and exits 1 when one cannot be had.
set -u
PGHOST=127.0.0.1 PGPORT=5432 REDIS_PORT=6379

pg_up() { pg_isready -q -h "$PGHOST" -p "$PGPORT" 2>/dev/null; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]; }
wait_for() { for _ in $(seq 1 60); do "$1" && return 0; sleep 0.5; done; return 1; }

if ! pg_up; then
  version=$(ls /etc/postgresql 2>/dev/null | head -n 1)
  if [ -n "$version" ]; then
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1
  fi
  wait_for pg_up || { echo "services: PostgreSQL is not running on $PGHOST:$PGPORT and could not be started"; exit 1; }
fi
if ! redis_up; then
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no >/dev/null 2>&1
  wait_for redis_up || { echo "services: Redis is not running on 127.0.0.1:$REDIS_PORT and could not be started"; exit 1; }
fi
# Debian's Chromium, which the browser tests drive (a test tool's own browser download does not work here).
if [ ! -x /usr/bin/chromium ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
  export DEBIAN_FRONTEND=noninteractive
  { $sudo apt-get install -y -qq chromium || { $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium; }; } >/dev/null 2>&1
  [ -x /usr/bin/chromium ] || { echo "services: Chromium is missing and could not be installed (apt-get install chromium)"; exit 1; }
fi
