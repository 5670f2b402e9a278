#!/bin/sh
# A $BROWSER that plays a forged (or stale) callback: it asks the fake's /authorize for its
# redirect, swaps the state for another, and delivers that to keyfob's loopback callback.
location=$(curl -s -o /dev/null -w '%{redirect_url}' "$1")
forged=$(printf '%s' "$location" | sed 's/\([?&]state=\)[^&]*/\1forged-state/')
exec curl -s -o /dev/null "$forged"
