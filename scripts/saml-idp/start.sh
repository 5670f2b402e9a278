#!/bin/sh
# Starts the SimpleSAMLphp IdP that setup.sh wrote into DIR, in the background, and waits until
# it answers. Prints the IdP-initiated sign-in URL on stdout (use it as KEYFOB_TEST_SAML_IDP_URL).
#
#   scripts/saml-idp/start.sh DIR        stop it with: kill "$(cat DIR/php.pid)"
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR   (after setup.sh DIR PORT)" >&2
    exit 2
fi
DIR=$(cd "$1" && pwd)
if [ ! -f "$DIR/port" ] || [ ! -f "$DIR/config/config.php" ]; then
    echo "$DIR is not set up; run setup.sh $DIR PORT first" >&2
    exit 1
fi
PORT=$(cat "$DIR/port")
BASE="http://127.0.0.1:$PORT/simplesaml"

if [ -f "$DIR/php.pid" ] && kill -0 "$(cat "$DIR/php.pid")" 2>/dev/null; then
    echo "already running as pid $(cat "$DIR/php.pid")" >&2
else
    SIMPLESAMLPHP_CONFIG_DIR="$DIR/config" \
        nohup php -S "127.0.0.1:$PORT" -t "$DIR/docroot" >"$DIR/log/php-server.log" 2>&1 &
    echo $! > "$DIR/php.pid"
fi

# Ready when the IdP serves its metadata (this also proves the config and the key load).
ready() {
    php -r '
        $ctx = stream_context_create(["http" => ["timeout" => 1, "ignore_errors" => true]]);
        $body = @file_get_contents($argv[1], false, $ctx);
        exit($body !== false && strpos($body, "EntityDescriptor") !== false ? 0 : 1);
    ' "$BASE/saml2/idp/metadata.php"
}
i=0
until ready; do
    i=$((i + 1))
    if [ "$i" -ge 50 ] || ! kill -0 "$(cat "$DIR/php.pid")" 2>/dev/null; then
        echo "the IdP did not come up on port $PORT; see $DIR/log/php-server.log and $DIR/log/simplesamlphp.log" >&2
        exit 1
    fi
    sleep 0.2
done
echo "$BASE/saml2/idp/SSOService.php?spentityid=urn:amazon:webservices"
