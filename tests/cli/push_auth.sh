# strata push (issue 17): credentials as users keep them (containers'
# auth.json, $REGISTRY_AUTH_FILE, --authfile, Docker's config.json with
# auths, credHelpers and credsStore through a docker-credential-* helper),
# TLS with a certificate made here (--cert-dir, --tls-verify=false, and the
# failure without them), and bearer tokens from a token server run here
# (RS256 tokens signed with openssl, checked by the registry).
. "$STRATA_TOP/tests/lib.sh"
. "$STRATA_TOP/tests/registry_lib.sh"

gen_store "$WORK/s" --paths 3
"$STRATA" build-layered -q --closure "$WORK/s/closure.json" --store-dir "$WORK/s/nix/store" --tag v1 -o "$WORK/img"
nblobs=$(( $(layer_blobs "$WORK/img" | wc -l) + 1 ))
no_secret() { ! grep -q s3cret "$@" || fail "a password in $*"; }

# 1. Basic auth from files.
htpasswd -Bbn ci s3cret > "$WORK/htpasswd" 2> /dev/null
aport=$(free_port); registry basic "$aport" "auth: {htpasswd: {realm: strata, path: $WORK/htpasswd}}"
A=127.0.0.1:$aport
# auth_file FILE KEY USER:PASS [KEY USER:PASS...]: an auth.json with "auths".
auth_file() { python3 -c 'import base64,json,sys
a=sys.argv[2:]; e=lambda s: {"auth": base64.b64encode(s.encode()).decode()}
json.dump({"auths": {a[i]: e(a[i+1]) for i in range(0, len(a), 2)}}, open(sys.argv[1], "w"))' "$@"; }
auth_file "$WORK/auth.json" "$A" ci:s3cret
expect_push_fail "401 unauthorized" "$WORK/img" "docker://$A/strata/img:v1"
REGISTRY_AUTH_FILE="$WORK/auth.json" "$STRATA" push --json "$WORK/img" "docker://$A/strata/img:v1" > "$WORK/p1.json"
assert_eq "$(summary "$WORK/p1.json" uploaded)" "$nblobs" "blobs uploaded with \$REGISTRY_AUTH_FILE"
assert_eq "$(summary "$WORK/p1.json" credentials)" "$WORK/auth.json" "where the credentials came from"
no_secret "$WORK/p1.json"
"$STRATA" push -q --authfile "$WORK/auth.json" "$WORK/img" "docker://$A/strata/img:v1"
# A wrong password in the file is the registry's 401; --no-creds reads no file.
auth_file "$WORK/wrong.json" "$A" ci:wrong
expect_push_fail "401 unauthorized" --authfile "$WORK/wrong.json" "$WORK/img" "docker://$A/strata/img:v1"
REGISTRY_AUTH_FILE="$WORK/auth.json" expect_push_fail "401 unauthorized" --no-creds "$WORK/img" "docker://$A/strata/img:v1"
# The longest key wins: host/repo over host; https:// and a trailing / are ignored.
auth_file "$WORK/scoped.json" "$A" ci:wrong "https://$A/strata/" ci:s3cret
"$STRATA" push -q --authfile "$WORK/scoped.json" "$WORK/img" "docker://$A/strata/img:v1"
expect_push_fail "401 unauthorized" --authfile "$WORK/scoped.json" "$WORK/img" "docker://$A/other/img:v1"
# containers' default file under $XDG_CONFIG_HOME (~/.config).
mkdir -p "$HOME/.config/containers"; cp "$WORK/auth.json" "$HOME/.config/containers/auth.json"
"$STRATA" push --json "$WORK/img" "docker://$A/strata/img:v1" > "$WORK/p2.json"
assert_eq "$(summary "$WORK/p2.json" credentials)" "$HOME/.config/containers/auth.json" "containers' default auth file"
rm "$HOME/.config/containers/auth.json"
# Not JSON: one line naming the file.
echo '{"auths": ' > "$WORK/bad.json"
expect_push_fail "bad.json is not a JSON object" --authfile "$WORK/bad.json" "$WORK/img" "docker://$A/strata/img:v1"

# 2. Docker's config.json: credHelpers, then credsStore, through a helper.
mkdir -p "$WORK/bin" "$HOME/.docker"
cat > "$WORK/bin/docker-credential-stratatest" <<H
#!/bin/sh
[ "\$1" = get ] || exit 2
read -r server
echo "\$server" >> "$WORK/helper.log"
if [ "\$server" = "$A" ]; then printf '{"ServerURL":"%s","Username":"ci","Secret":"s3cret"}\n' "\$server"
else echo "credentials not found in native keychain"; exit 1; fi
H
chmod +x "$WORK/bin/docker-credential-stratatest"
export PATH="$WORK/bin:$PATH"
echo "{\"credHelpers\": {\"$A\": \"stratatest\"}}" > "$HOME/.docker/config.json"
"$STRATA" push --json "$WORK/img" "docker://$A/strata/img:v1" > "$WORK/p3.json"
assert_eq "$(summary "$WORK/p3.json" credentials)" "$HOME/.docker/config.json (docker-credential-stratatest)" "credentials from credHelpers"
assert_eq "$(cat "$WORK/helper.log")" "$A" "the server the helper was asked for"
no_secret "$WORK/p3.json"
echo "{\"auths\": {\"$A\": {}}, \"credsStore\": \"stratatest\"}" > "$HOME/.docker/config.json"
"$STRATA" push -q "$WORK/img" "docker://$A/strata/img:v1"
# A helper that finds nothing is no credentials (the registry's 401); one
# that is not installed is an error naming it.
echo '{"credsStore": "stratatest"}' > "$HOME/.docker/config.json"
expect_push_fail "401 unauthorized" "$WORK/img" "docker://localhost:$aport/strata/img:v1"
echo '{"credsStore": "nosuch"}' > "$HOME/.docker/config.json"
expect_push_fail "docker-credential-nosuch is not on \$PATH" "$WORK/img" "docker://$A/strata/img:v1"
echo '{"credsStore": "../../bin/sh"}' > "$HOME/.docker/config.json"
expect_push_fail "is not a plain name" "$WORK/img" "docker://$A/strata/img:v1"
rm "$HOME/.docker/config.json"

# 3. TLS with a certificate made now: refused without its CA, accepted
# with --cert-dir (Docker's certs.d layout) or --tls-verify=false.
mkdir -p "$WORK/tls" "$WORK/certs"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" 2> /dev/null
cp "$WORK/tls/cert.pem" "$WORK/certs/ca.crt"
tport=$(free_port)
REG_SCHEME=https registry tls "$tport" "http: {addr: 127.0.0.1:$tport, tls: {certificate: $WORK/tls/cert.pem, key: $WORK/tls/key.pem}}"
T=127.0.0.1:$tport
expect_push_fail "certificate is not trusted" "$WORK/img" "docker://$T/strata/img:v1"
"$STRATA" push --json --cert-dir "$WORK/certs" "$WORK/img" "docker://$T/strata/img:v1" > "$WORK/p4.json"
assert_eq "$(summary "$WORK/p4.json" uploaded)" "$nblobs" "blobs uploaded over TLS"
grep -q "TLS handshake error" "$WORK/tls.log" || fail "no TLS handshake was refused by the registry"
"$STRATA" push --json --tls-verify=false "$WORK/img" "docker://$T/strata/img:v1" > "$WORK/p5.json"
assert_eq "$(summary "$WORK/p5.json" exists)" "$nblobs" "blobs found over TLS without verification"
skopeo inspect --cert-dir "$WORK/certs" "docker://$T/strata/img:v1" > /dev/null

# 4. Bearer tokens: a token server (RS256 JWTs signed with openssl, the
# certificate in the token header) in front of a registry that trusts it.
cat > "$WORK/tokens.py" <<'P'
import base64, http.server, json, os, subprocess, sys, time, urllib.parse
port, key, cert, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], capture_output=True, check=True).stdout
b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
good = "Basic " + base64.b64encode(b"ci:s3cret").decode()
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        ok = self.headers.get("Authorization") == good
        with open(log, "a") as f:
            f.write("%s %s\n" % ("ok" if ok else "refused", " ".join(sorted(q.get("scope", [])))))
        if not ok:
            self.send_response(401); self.send_header("Content-Length", "0"); self.end_headers(); return
        access = []
        for scope in q.get("scope", []):
            for item in scope.split(" "):
                kind, name, actions = item.rsplit(":", 2) if item.count(":") > 2 else item.split(":")
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        head = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        claims = {"iss": "strata-test", "sub": "ci", "aud": q["service"][0], "exp": now + 600, "nbf": now - 60,
                  "iat": now, "jti": os.urandom(8).hex(), "access": access}
        signing = b64u(json.dumps(head).encode()) + "." + b64u(json.dumps(claims).encode())
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing.encode(),
                             capture_output=True, check=True).stdout
        body = json.dumps({"token": signing + "." + b64u(sig), "expires_in": 600}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
P
kport=$(free_port)
python3 "$WORK/tokens.py" "$kport" "$WORK/tls/key.pem" "$WORK/tls/cert.pem" "$WORK/tokens.log" & pids+=($!)
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$kport/" && break; sleep 0.1; done
bport=$(free_port)
registry bearer "$bport" "auth: {token: {realm: \"http://127.0.0.1:$kport/token\", service: strata-registry, issuer: strata-test, rootcertbundle: $WORK/tls/cert.pem}}"
B=127.0.0.1:$bport
expect_push_fail "token server: 401 unauthorized" "$WORK/img" "docker://$B/strata/img:v1"
expect_push_fail "token server: 401 unauthorized" --creds ci:wrong "$WORK/img" "docker://$B/strata/img:v1"
: > "$WORK/tokens.log"
"$STRATA" push --json --creds ci:s3cret --jobs 4 "$WORK/img" "docker://$B/strata/img:v1" > "$WORK/p6.json"
assert_eq "$(summary "$WORK/p6.json" uploaded)" "$nblobs" "blobs uploaded with a bearer token"
# One exchange for the whole push, for push and pull on the repository.
assert_eq "$(cat "$WORK/tokens.log")" "ok repository:strata/img:pull,push" "token requests of one push"
# A mount from another repository needs pull on it too: asked for with the rest.
: > "$WORK/tokens.log"
"$STRATA" push --json --creds ci:s3cret --mount-from strata/img "$WORK/img" "docker://$B/strata/copy:v1" > "$WORK/p7.json"
assert_eq "$(summary "$WORK/p7.json" mounted)" "$nblobs" "blobs mounted with a bearer token"
grep -q "repository:strata/img:pull" "$WORK/tokens.log" || fail "no pull scope on the mount source: $(cat "$WORK/tokens.log")"
skopeo inspect --tls-verify=false --creds ci:s3cret "docker://$B/strata/copy:v1" > "$WORK/inspect.json"
assert_eq "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["Layers"]))' "$WORK/inspect.json")" "$((nblobs - 1))" "layers skopeo sees"
echo "push_auth: ok"
