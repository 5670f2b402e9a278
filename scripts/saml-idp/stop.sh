#!/bin/sh
# Stops the IdP that start.sh started from DIR (only that process, by its recorded pid).
#
#   scripts/saml-idp/stop.sh DIR
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
PIDFILE="$1/php.pid"
if [ ! -f "$PIDFILE" ]; then
    echo "no IdP was started from $1" >&2
    exit 0
fi
PID=$(cat "$PIDFILE")
if kill -0 "$PID" 2>/dev/null; then
    kill "$PID"
    i=0
    while kill -0 "$PID" 2>/dev/null && [ "$i" -lt 50 ]; do
        i=$((i + 1))
        sleep 0.1
    done
fi
rm -f "$PIDFILE"
