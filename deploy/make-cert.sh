#!/bin/sh
# A self-signed TLS certificate for nginx in front of the studio, for trying the
# scaled-out shape (docker-compose.yml, deploy/scaleout.py). In production use a
# real certificate (e.g. Let's Encrypt) at the same two paths.
#
#   sh deploy/make-cert.sh [DIR] [HOST]     # default: deploy/certs, localhost
#
# Writes DIR/studio.crt and DIR/studio.key (valid 30 days, for HOST, localhost
# and 127.0.0.1). Keeps an existing pair unless FORCE=1.
set -eu
dir=${1:-"$(dirname "$0")/certs"}
host=${2:-localhost}
mkdir -p "$dir"
if [ -s "$dir/studio.crt" ] && [ -s "$dir/studio.key" ] && [ "${FORCE:-0}" != 1 ]; then
    echo "$dir/studio.crt exists (FORCE=1 to make a new one)"
    exit 0
fi
san="DNS:localhost,IP:127.0.0.1"
[ "$host" = localhost ] || san="DNS:$host,$san"
umask 077
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 \
    -keyout "$dir/studio.key" -out "$dir/studio.crt" \
    -subj "/CN=$host" \
    -addext "subjectAltName=$san" 2>/dev/null
# nginx's master reads the key as root; the certificate may be public.
chmod 644 "$dir/studio.crt"
echo "wrote $dir/studio.crt and $dir/studio.key for $host"
