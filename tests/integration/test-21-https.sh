#!/usr/bin/env bash
# Downloads over https: a template from an https server, a redirect from
# https to https followed, and a redirect from https to plain http refused
# before anything is fetched over http.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Not under /tmp or /var/tmp: the daemon has private ones (PrivateTmp=yes).
SERVED=/srv/bred-https
# Where Debian's libcurl finds the certificates it trusts: the test bed has no
# ca-certificates, so the fixture's certificate is the only one, for this test.
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

setup() {
    local here
    here=$(dirname "${BASH_SOURCE[0]}")
    rm -rf "$SERVED"
    mkdir -p "$SERVED/tree/usr/lib" "$SERVED/tree/etc" "$SERVED/tree/usr/bin"
    printf 'ID=debian\nNAME="Debian GNU/Linux"\nVERSION_ID=13\n' > "$SERVED/tree/usr/lib/os-release"
    tar --numeric-owner -C "$SERVED/tree" -czf "$SERVED/rootfs.tar.gz" .
    SHA256=$(sha256sum "$SERVED/rootfs.tar.gz" | cut -d' ' -f1)
    [[ ! -e $CA_BUNDLE ]] || { echo "$CA_BUNDLE exists: this test replaces it only where there is none"; return 1; }
    mkdir -p "$(dirname "$CA_BUNDLE")"
    cp "$here/fixtures/tls/cert.pem" "$CA_BUNDLE"
    python3 "$here/fixtures/serve.py" --root "$SERVED" --port 0 > /run/bred-plain.out 2> /run/bred-plain.log &
    PLAIN_PID=$!
    python3 "$here/fixtures/serve.py" --root "$SERVED" --port 0 \
        --tls "$here/fixtures/tls/cert.pem" "$here/fixtures/tls/key.pem" > /run/bred-tls.out 2> /run/bred-tls.log &
    TLS_PID=$!
    wait_for 10 grep -q '^PORT=' /run/bred-plain.out
    wait_for 10 grep -q '^PORT=' /run/bred-tls.out
    PLAIN=http://127.0.0.1:$(sed -n 's/^PORT=//p' /run/bred-plain.out)
    TLS=https://127.0.0.1:$(sed -n 's/^PORT=//p' /run/bred-tls.out)
}

teardown() {
    kill "$PLAIN_PID" "$TLS_PID" 2>/dev/null || true
    rm -f "$CA_BUNDLE"
    rm -rf "$SERVED"
    remove_machine_dirs https1 https2 https3
}

test_https_download() {
    assert_ok bredmachine create-template https1 --url "$TLS/rootfs.tar.gz" --sha256 "$SHA256"
    assert_eq "$(machine_prop https1 Class)" 's "template"'
    # A redirect that stays on https is followed.
    assert_ok bredmachine create-template https2 --url "$TLS/_redirect/rootfs.tar.gz" --sha256 "$SHA256"
}

# fetch URL: the body of a plain http URL (the test bed has no curl).
fetch() { python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode(), end="")' "$1"; }

test_https_never_goes_to_http() {
    local target=$PLAIN/rootfs.tar.gz url
    url=$TLS/_redirect-to/$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$target")
    fetch "$PLAIN/_reset" > /dev/null
    assert_fails_with "The server redirected $url to $target; only redirects to https:// are followed." \
        bredmachine create-template https3 --url "$url" --sha256 "$SHA256"
    [[ ! -e $BRED_MACHINES_DIR/https3 ]]
    no_leftovers
    # Nothing was asked of the plain server.
    assert_eq "$(fetch "$PLAIN/_count")" "{}"
    assert_ok bredmachine list
}

run_setup setup teardown
run_test "a template over https, and a redirect from https to https followed" test_https_download
run_test "a redirect from https to http is refused before any http request" test_https_never_goes_to_http
run_teardown teardown
