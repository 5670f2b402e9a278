#!/bin/sh
# A $BROWSER that first plays hostile local processes against keyfob's sign-in callback, then
# the browser. It asks the fake's /authorize for its redirect (the real code and state), sends
# keyfob's loopback callback a forged state and no state (each with a code of its own), and
# the real query under a foreign Host (a DNS-rebinding page), appending each status to
# $KEYFOB_TEST_HOSTILE_LOG; then it delivers the real redirect, as browser.sh does.
location=$(curl -s -o /dev/null -w '%{redirect_url}' "$1")
callback=${location%%\?*}
query=${location#*\?}
port=$(printf '%s' "$callback" | sed 's|^http://127.0.0.1:\([0-9]*\)/.*|\1|')
{
    curl -s -o /dev/null -w '%{http_code}\n' "$callback?code=forged-code-0123456789&state=forged-state"
    curl -s -o /dev/null -w '%{http_code}\n' "$callback?code=forged-code-0123456789"
    curl -s -o /dev/null -w '%{http_code}\n' -H "Host: rebound.example:$port" "$callback?$query"
} >>"$KEYFOB_TEST_HOSTILE_LOG"
exec curl -s -o /dev/null "$location"
