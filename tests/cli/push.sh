# strata push (issue 17) against Debian's docker-registry on 127.0.0.1 (free
# port, stopped by PID): digests unchanged through skopeo; a re-push uploads
# nothing; shared layers are not uploaded twice; --mount-from; chunked
# uploads; oci-archive and DIR:TAG sources; basic auth (htpasswd); faults
# through a proxy: 500s retried, a wrong digest echoed, a corrupted blob
# refused before upload, the registry killed mid-push then restarted.
. "$STRATA_TOP/tests/lib.sh"
. "$STRATA_TOP/tests/registry_lib.sh"

gen_store "$WORK/s" --paths 8
SD="$WORK/s/nix/store"
big=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["path"])' "$WORK/s/closure.json")
chmod u+w "$big"; head -c 40000000 /dev/urandom > "$big/noise"   # one layer > 32 MiB: a chunked upload
"$STRATA" build-layered -q --closure "$WORK/s/closure.json" --store-dir "$SD" --tag v1 -o "$WORK/img"
"$STRATA" build-layered -q --closure "$WORK/s/closure.json" --store-dir "$SD" --tag v1 --contents "$big" -o "$WORK/img2"
nblobs=$(( $(layer_blobs "$WORK/img" | wc -l) + 1 ))
port=$(free_port); registry r1 "$port"
R="127.0.0.1:$port"

# 1. Push; skopeo reads back the same manifest, config and layers.
"$STRATA" push --json "$WORK/img" "docker://$R/strata/img:v1" > "$WORK/p1.json"
assert_eq "$(summary "$WORK/p1.json" uploaded)" "$nblobs" "blobs uploaded by the first push"
assert_eq "$(summary "$WORK/p1.json" manifest)" "$(manifest_of "$WORK/img")" "the manifest pushed"
grep -q "PATCH /v2/strata/img/blobs/uploads" "$WORK/r1.log" || fail "the large blob was not uploaded in chunks"
skopeo --insecure-policy copy -q --src-tls-verify=false "docker://$R/strata/img:v1" "oci:$WORK/back:v1"
"$STRATA" verify -q "$WORK/back"
assert_eq "$(manifest_of "$WORK/back")" "$(manifest_of "$WORK/img")" "the manifest skopeo pulled"
layer_blobs "$WORK/img" > "$WORK/a"; layer_blobs "$WORK/back" > "$WORK/b"
cmp "$WORK/a" "$WORK/b" || fail "layer digests changed through the registry"

# 2. Re-push: nothing uploaded. A second image sharing the store layers:
# only its own layer and config. Another repository with --mount-from:
# mounted, not uploaded. An oci-archive and DIR:TAG as sources.
heads=$(grep -c "HEAD /v2/strata/img/blobs" "$WORK/r1.log" || true)
"$STRATA" push --json "$WORK/img" "docker://$R/strata/img:v1" > "$WORK/p2.json"
assert_eq "$(summary "$WORK/p2.json" uploaded)" 0 "blobs uploaded by a re-push"
assert_eq "$(summary "$WORK/p2.json" exists)" "$nblobs" "blobs found by a re-push"
# The repository holds the manifest, so it holds its blobs: not one blob
# is asked for; a new tag of it is one PUT.
assert_eq "$(grep -c "HEAD /v2/strata/img/blobs" "$WORK/r1.log" || true)" "$heads" "blob HEADs of a re-push"
"$STRATA" push --json "$WORK/img" "docker://$R/strata/img:v9" > "$WORK/p2b.json"
assert_eq "$(summary "$WORK/p2b.json" uploaded)" 0 "blobs uploaded for a new tag"
skopeo --insecure-policy inspect --raw --tls-verify=false "docker://$R/strata/img:v9" > "$WORK/raw9"
assert_eq "sha256:$(sha256sum < "$WORK/raw9" | cut -d' ' -f1)" "$(manifest_of "$WORK/img")" "the new tag's manifest"
"$STRATA" push --json "$WORK/img2:v1" "docker://$R/strata/img:v2" > "$WORK/p3.json"
assert_eq "$(summary "$WORK/p3.json" uploaded)" 2 "blobs uploaded for an image sharing the store layers"
"$STRATA" push --json --mount-from strata/img "$WORK/img" "docker://$R/strata/other:v1" > "$WORK/p4.json"
assert_eq "$(summary "$WORK/p4.json" mounted)" "$nblobs" "blobs mounted from strata/img"
"$STRATA" build-layered -q --closure "$WORK/s/closure.json" --store-dir "$SD" --tag v1 --format tarball -o "$WORK/img.tar"
"$STRATA" push --json "$WORK/img.tar" "docker://$R/strata/archive:v1" > "$WORK/p5.json"
assert_eq "$(summary "$WORK/p5.json" manifest)" "$(manifest_of "$WORK/img")" "an oci-archive's manifest"
skopeo --insecure-policy inspect --tls-verify=false "docker://$R/strata/archive:v1" > /dev/null

# 3. Basic auth: none and wrong are one-line 401s without the password;
# right credentials work, also from the environment.
htpasswd -Bbn ci s3cret > "$WORK/htpasswd" 2> /dev/null
aport=$(free_port); registry r2 "$aport" "auth: {htpasswd: {realm: strata, path: $WORK/htpasswd}}"
expect_push_fail "401 unauthorized" "$WORK/img" "docker://127.0.0.1:$aport/strata/img:v1"
expect_push_fail "401 unauthorized" --creds ci:wrong "$WORK/img" "docker://127.0.0.1:$aport/strata/img:v1"
"$STRATA" push -q --creds ci:s3cret "$WORK/img" "docker://127.0.0.1:$aport/strata/img:v1"
STRATA_REGISTRY_CREDS=ci:s3cret "$STRATA" push --json "$WORK/img" "docker://127.0.0.1:$aport/strata/img:v1" > "$WORK/p6.json"
assert_eq "$(summary "$WORK/p6.json" uploaded)" 0 "an authenticated re-push"

# 4. Faults, through a proxy in front of r1.
cat > "$WORK/proxy.py" <<'P'
import http.client, http.server, sys
mode, listen, up = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
state = {"n": 0}
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def handle_one(self):
        state["n"] += 1
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        if mode == "fail500" and state["n"] <= 2:
            self.send_response(500); self.send_header("Content-Length", "0"); self.end_headers(); return
        c = http.client.HTTPConnection("127.0.0.1", up)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        c.request(self.command, self.path, body=body, headers=hdrs)
        r = c.getresponse(); data = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() in ("transfer-encoding", "connection", "content-length"): continue
            if k.lower() == "location": v = v.replace(str(up), str(listen))
            if mode == "baddigest" and k.lower() == "docker-content-digest" and self.command == "PUT":
                v = "sha256:" + "0" * 64
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data))); self.end_headers()
        if self.command != "HEAD": self.wfile.write(data)
    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = handle_one
http.server.ThreadingHTTPServer(("127.0.0.1", listen), H).serve_forever()
P
proxy() { # mode -> $pport
  pport=$(free_port); python3 "$WORK/proxy.py" "$1" "$pport" "$port" & pids+=($!)
  for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$pport/v2/" && return 0; sleep 0.1; done
}
proxy fail500
"$STRATA" push -q "$WORK/img2" "docker://127.0.0.1:$pport/strata/retry:v1" || fail "push through 500s was not retried"
proxy baddigest
expect_push_fail "the registry says" "$WORK/img2" "docker://127.0.0.1:$pport/strata/bad:v1"
cp -r "$WORK/img" "$WORK/broken"; d=$(layer_blobs "$WORK/broken" | tail -1 | cut -d' ' -f1)
printf 'X' | dd of="$WORK/broken/blobs/sha256/$d" bs=1 seek=20 conv=notrunc 2> /dev/null
expect_push_fail "refused before upload" "$WORK/broken" "docker://$R/strata/broken:v1"
rc=0; "$STRATA" push "$WORK/img" "oci:$WORK/x" 2> "$WORK/err" || rc=$?
assert_eq "$rc" 2 "exit code of a destination that is not docker://"
grep -q "must be docker://" "$WORK/err" || fail "no usage error: $(cat "$WORK/err")"
expect_push_fail "no image of that tag" "$WORK/img:nope" "docker://$R/strata/img:v1"

# 5. --push on build-layered, build and convert: the pushed image is the
# local one; without -o a temporary layout, removed; a failed push keeps a
# written -o (a valid image, pushable later) and leaves no temporary.
export TMPDIR="$WORK/tmp"; mkdir -p "$TMPDIR"
"$STRATA" build-layered --json --closure "$WORK/s/closure.json" --store-dir "$SD" --tag v1 -o "$WORK/bp" \
  --push "docker://$R/strata/built:v1" > "$WORK/b1.json"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["push"]["manifest"])' "$WORK/b1.json" > "$WORK/m1"
assert_eq "$(cat "$WORK/m1")" "$(manifest_of "$WORK/bp")" "the manifest pushed by build-layered --push"
assert_eq "$(manifest_of "$WORK/bp")" "$(manifest_of "$WORK/img")" "build-layered --push wrote the same image"
# Every layer was made by the writer here: each went up as soon as it was made.
assert_eq "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["push"]["pushed_while_building"])' "$WORK/b1.json")" \
  "$((nblobs - 1))" "layers pushed while the image was built"
skopeo inspect --raw --tls-verify=false "docker://$R/strata/built:v1" > "$WORK/raw"
assert_eq "sha256:$(sha256sum < "$WORK/raw" | cut -d' ' -f1)" "$(manifest_of "$WORK/bp")" "the manifest the registry serves"
"$STRATA" build-layered --json --closure "$WORK/s/closure.json" --store-dir "$SD" --tag v1 \
  --push "docker://$R/strata/built:v2" > "$WORK/b2.json"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["output"] is None; p=s["push"]
assert p["exists"] == len(p["blobs"]) and p["uploaded"] == 0, p' "$WORK/b2.json" || fail "build-layered --push without -o: $(cat "$WORK/b2.json")"
assert_eq "$(ls -A "$TMPDIR")" "" "temporaries left by --push without -o"
mkdir -p "$WORK/root/etc"; echo hello > "$WORK/root/etc/motd"
"$STRATA" build -q --copy-to-root "$WORK/root" --tag v1 -o "$WORK/b3"
"$STRATA" build --json --copy-to-root "$WORK/root" --tag v1 --push "docker://$R/strata/one:v1" > "$WORK/b3.json"
assert_eq "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["push"]["manifest"])' "$WORK/b3.json")" \
  "$(manifest_of "$WORK/b3")" "the manifest pushed by build --push"
"$STRATA" build-layered -q --closure "$WORK/s/closure.json" --store-dir "$SD" --tag v1 --format docker-archive -o "$WORK/d.tar"
"$STRATA" convert -q "$WORK/d.tar" -o "$WORK/conv"
"$STRATA" convert --json "$WORK/d.tar" --push "docker://$R/strata/conv:v1" > "$WORK/c1.json"
assert_eq "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["push"]["manifest"])' "$WORK/c1.json")" \
  "$(manifest_of "$WORK/conv")" "the manifest pushed by convert --push"
dead=$(free_port); rc=0
"$STRATA" build-layered -q --closure "$WORK/s/closure.json" --store-dir "$SD" --tag v1 -o "$WORK/bf" \
  --push "docker://127.0.0.1:$dead/strata/x:v1" 2> "$WORK/err" || rc=$?
assert_eq "$rc" 1 "exit code of a build whose push failed"
[ "$(wc -l < "$WORK/err")" = 1 ] || fail "not one line: $(cat "$WORK/err")"
"$STRATA" verify -q "$WORK/bf"
rc=0; "$STRATA" build-layered -q --closure "$WORK/s/closure.json" --store-dir "$SD" --tag v1 \
  --push "docker://127.0.0.1:$dead/strata/x:v1" 2> /dev/null || rc=$?
assert_eq "$rc" 1 "exit code of a build whose push failed (no -o)"
assert_eq "$(ls -A "$TMPDIR")" "" "temporaries left by a failed --push"
rc=0; "$STRATA" build-layered -q --closure "$WORK/s/closure.json" --store-dir "$SD" --format docker-archive -o "$WORK/x.tar" \
  --push "docker://$R/strata/x:v1" 2> "$WORK/err" || rc=$?
assert_eq "$rc" 2 "exit code of --push with a docker-archive"
rc=0; "$STRATA" build-layered -q --closure "$WORK/s/closure.json" --store-dir "$SD" -o "$WORK/x" --creds a:b 2> "$WORK/err" || rc=$?
assert_eq "$rc" 2 "exit code of registry options without --push"
unset TMPDIR

# The registry killed mid-push, then restarted: the second run completes,
# uploading only what is missing.
kport=$(free_port); registry r3 "$kport"
"$STRATA" push -q --jobs 1 "$WORK/img" "docker://127.0.0.1:$kport/strata/k:v1" 2> /dev/null & ppid=$!
sleep 0.3; kill "$reg"; wait "$reg" 2> /dev/null || true; wait "$ppid" 2> /dev/null || true
registry r3 "$kport"
"$STRATA" push --json "$WORK/img" "docker://127.0.0.1:$kport/strata/k:v1" > "$WORK/p7.json"
assert_eq "$(( $(summary "$WORK/p7.json" uploaded) + $(summary "$WORK/p7.json" exists) ))" "$nblobs" "blobs uploaded or found by the second run"
skopeo --insecure-policy copy -q --src-tls-verify=false "docker://127.0.0.1:$kport/strata/k:v1" "oci:$WORK/k:v1"
"$STRATA" verify -q "$WORK/k"
echo "push: ok"
