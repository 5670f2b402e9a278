#!/bin/sh
# Writes a private SimpleSAMLphp 1.19 IdP into DIR for keyfob's SAML tests: its own config,
# metadata and an openssl-generated signing key, so nothing under /etc is read or written.
#
#   scripts/saml-idp/setup.sh DIR PORT     then     scripts/saml-idp/start.sh DIR
#
# Needs the Debian packages simplesamlphp php-cli php-xml php-mbstring php-curl, and openssl.
# Users (exampleauth:UserPass):
#   alice / alicepw  one role:  arn:aws:iam::111122223333:role/Developer
#   bob   / bobpw    two roles: Developer and arn:aws:iam::111122223333:role/Admin
# both with the provider arn:aws:iam::111122223333:saml-provider/corp, SessionDuration 3600.
# The SP is urn:amazon:webservices with its ACS at https://signin.aws.amazon.com/saml.
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 DIR PORT" >&2
    exit 2
fi
DIR=$1
PORT=$2
SSP=${SIMPLESAMLPHP_HOME:-/usr/share/simplesamlphp}

case $PORT in
    '' | *[!0-9]*) echo "PORT must be a number, not '$PORT'" >&2; exit 2 ;;
esac
if [ ! -f "$SSP/www/_include.php" ]; then
    echo "SimpleSAMLphp is not installed at $SSP (apt-get install simplesamlphp php-cli php-xml php-mbstring php-curl)" >&2
    exit 1
fi
for bin in php openssl; do
    command -v "$bin" >/dev/null || { echo "$bin is not installed" >&2; exit 1; }
done

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
mkdir -p "$DIR/config" "$DIR/metadata" "$DIR/cert" "$DIR/data" "$DIR/tmp" "$DIR/log" \
    "$DIR/sessions" "$DIR/docroot"
ln -sfn "$SSP/www" "$DIR/docroot/simplesaml"
echo "$PORT" > "$DIR/port"

if [ ! -f "$DIR/cert/server.pem" ]; then
    openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 3650 \
        -subj "/CN=keyfob-test-idp" \
        -keyout "$DIR/cert/server.pem" -out "$DIR/cert/server.crt" 2>/dev/null
    chmod 600 "$DIR/cert/server.pem"
fi

# Random per install: these protect only this throwaway IdP's sessions and admin page.
SALT=$(openssl rand -hex 24)
ADMIN=$(openssl rand -hex 12)

cat > "$DIR/config/config.php" <<PHP
<?php
\$config = [
    'baseurlpath' => 'simplesaml/',
    'certdir' => '$DIR/cert/',
    'loggingdir' => '$DIR/log/',
    'datadir' => '$DIR/data/',
    'tempdir' => '$DIR/tmp',
    'metadatadir' => '$DIR/metadata/',
    'attributenamemapdir' => '$SSP/config/attributemap/',
    'technicalcontact_name' => 'keyfob tests',
    'technicalcontact_email' => 'nobody@example.invalid',
    'timezone' => 'UTC',
    'secretsalt' => '$SALT',
    'auth.adminpassword' => '$ADMIN',
    'admin.protectindexpage' => false,
    'admin.protectmetadata' => false,
    'admin.checkforupdates' => false,
    'trusted.url.domains' => [],
    'enable.http_post' => false,
    'assertion.allowed_clock_skew' => 180,
    'debug' => ['saml' => false, 'backtraces' => true, 'validatexml' => false],
    'showerrors' => true,
    'errorreporting' => false,
    'logging.level' => SimpleSAML\Logger::NOTICE,
    'logging.handler' => 'file',
    'logging.logfile' => 'simplesamlphp.log',
    'statistics.out' => [],
    'enable.saml20-idp' => true,
    'enable.shib13-idp' => false,
    'enable.adfs-idp' => false,
    'module.enable' => ['exampleauth' => true, 'core' => true, 'saml' => true, 'admin' => true],
    'session.duration' => 8 * 60 * 60,
    'session.datastore.timeout' => 4 * 60 * 60,
    'session.state.timeout' => 60 * 60,
    'session.cookie.name' => 'SimpleSAMLSessionID',
    'session.cookie.lifetime' => 0,
    'session.cookie.path' => '/',
    'session.cookie.domain' => null,
    // plain http on loopback: a secure cookie would never come back
    'session.cookie.secure' => false,
    'session.cookie.samesite' => null,
    'session.phpsession.cookiename' => 'SimpleSAML',
    'session.phpsession.savepath' => '$DIR/sessions',
    'session.phpsession.httponly' => true,
    'session.authtoken.cookiename' => 'SimpleSAMLAuthToken',
    'session.rememberme.enable' => false,
    'language.default' => 'en',
    'language.cookie.secure' => false,
    'language.cookie.samesite' => null,
    'theme.use' => 'default',
    'template.auto_reload' => false,
    'production' => true,
    // no consent page or other filters: login form, then the POST to AWS
    'authproc.idp' => [],
    'authproc.sp' => [],
    'metadata.sources' => [['type' => 'flatfile']],
    'metadata.sign.enable' => false,
    'store.type' => 'phpsession',
];
PHP

ROLE=https://aws.amazon.com/SAML/Attributes/Role
PROVIDER=arn:aws:iam::111122223333:saml-provider/corp
cat > "$DIR/config/authsources.php" <<PHP
<?php
\$config = [
    'admin' => ['core:AdminPassword'],
    'example-userpass' => [
        'exampleauth:UserPass',
        'alice:alicepw' => [
            'uid' => ['alice'],
            '$ROLE' => ['arn:aws:iam::111122223333:role/Developer,$PROVIDER'],
            'https://aws.amazon.com/SAML/Attributes/RoleSessionName' => ['alice'],
            'https://aws.amazon.com/SAML/Attributes/SessionDuration' => ['3600'],
        ],
        'bob:bobpw' => [
            'uid' => ['bob'],
            '$ROLE' => [
                'arn:aws:iam::111122223333:role/Developer,$PROVIDER',
                'arn:aws:iam::111122223333:role/Admin,$PROVIDER',
            ],
            'https://aws.amazon.com/SAML/Attributes/RoleSessionName' => ['bob'],
            'https://aws.amazon.com/SAML/Attributes/SessionDuration' => ['3600'],
        ],
    ],
];
PHP

cat > "$DIR/metadata/saml20-idp-hosted.php" <<'PHP'
<?php
$metadata['__DYNAMIC:1__'] = [
    'host' => '__DEFAULT__',
    'privatekey' => 'server.pem',
    'certificate' => 'server.crt',
    'auth' => 'example-userpass',
    'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    'attributes.NameFormat' => 'urn:oasis:names:tc:SAML:2.0:attrname-format:uri',
];
PHP

cat > "$DIR/metadata/saml20-sp-remote.php" <<'PHP'
<?php
// AWS's SAML service provider (https://signin.aws.amazon.com/static/saml-metadata.xml).
$metadata['urn:amazon:webservices'] = [
    'entityid' => 'urn:amazon:webservices',
    'AssertionConsumerService' => 'https://signin.aws.amazon.com/saml',
    'NameIDFormat' => 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient',
    'attributes.NameFormat' => 'urn:oasis:names:tc:SAML:2.0:attrname-format:uri',
    'saml20.sign.assertion' => true,
];
PHP

echo "SimpleSAMLphp IdP written to $DIR (port $PORT); start it with: $(dirname "$0")/start.sh $DIR"
