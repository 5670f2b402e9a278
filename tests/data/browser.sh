#!/bin/sh
# A $BROWSER for tests and the demo: "opens" the sign-in URL keyfob hands it by fetching it and
# following redirects. For PKCE that is the fake's /authorize, whose 302 lands on keyfob's
# loopback callback; for the device flow it is the fake's /verify?user_code=…, which approves.
exec curl -s -L -o /dev/null "$1"
