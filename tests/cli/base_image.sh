# Base images (--from-image), issue 14: an OCI layout made by strata (gzip
# and zstd), an oci-archive, a docker-archive made by strata and one made
# by skopeo, a 2-image archive picked by name and tag; base blobs reused byte
# for byte, diff_ids checked, config inherited both ways, base history
# kept, the layer limit; runc runs a program of the top layer that reads a
# file of the base. Bad bases: one line each, nothing left.
. "$STRATA_TOP/tests/lib.sh"
SD="$WORK/nix/store"
BB="$SD/0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a-busybox"
APP="$SD/2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c-app"
command -v busybox > /dev/null || fail "busybox is not installed (scripts/setup installs busybox-static)"
mkdir -p "$BB/bin" "$APP/bin" "$WORK/base-root/etc" "$WORK/top-root"
cp "$(command -v busybox)" "$BB/bin/busybox"; ln -s busybox "$BB/bin/sh"
printf '#!%s/bin/sh\nread line < /etc/greeting\necho "app: $line"\n' "$BB" > "$APP/bin/app"
chmod 0555 "$APP/bin/app"; chmod -R a-w "$SD"/*
ln -s "$APP/bin" "$WORK/top-root/bin"
echo "from the base" > "$WORK/base-root/etc/greeting"
cat > "$WORK/base-cfg.json" <<'J'
{"Cmd": ["/bin/sh"], "Env": ["A=1", "PATH=/base"], "WorkingDir": "/w", "User": "7",
 "Labels": {"x": "base", "y": "base"}, "ExposedPorts": {"80/tcp": {}}, "StopSignal": "SIGTERM"}
J
echo '{"Env": ["PATH=/bin"], "Labels": {"y": "top"}}' > "$WORK/top-cfg.json"

layers_of() { # layout [tag] -> "digest mediaType" per layer
  python3 - "$@" <<'P'
import json, sys
d = sys.argv[1]
idx = json.load(open(d + "/index.json"))
m = idx["manifests"][0]
if len(sys.argv) > 2:
    m = [x for x in idx["manifests"] if x["annotations"]["org.opencontainers.image.ref.name"] == sys.argv[2]][0]
man = json.load(open(d + "/blobs/sha256/" + m["digest"][7:]))
for l in man["layers"]:
    print(l["digest"], l["mediaType"])
P
}
config_of() { skopeo --insecure-policy inspect --config "oci:$1" > "$WORK/c.json"; cat "$WORK/c.json"; }

# The bases: strata build, OCI gzip and zstd, oci-archive, docker-archive.
for fmt in "gz directory gzip" "zst directory zstd" "tar tarball gzip" "da docker-archive none"; do
  set -- $fmt
  "$STRATA" build -q --store-dir "$SD" --copy-to-root "$WORK/base-root" --copy-to-root "$BB" \
    --config "$WORK/base-cfg.json" --name base --tag b1 --format "$2" --compress "$3" -o "$WORK/base-$1"
done

# 1. An OCI base: its blob is reused as it is (same digest, same media type,
# same bytes in the output), the new layer follows; the config is inherited.
for b in gz zst; do
  "$STRATA" build -q --store-dir "$SD" --copy-to-root "$WORK/top-root" --from-image "$WORK/base-$b:b1" \
    --config "$WORK/top-cfg.json" --tag t1 -o "$WORK/top-$b"
  "$STRATA" verify "$WORK/top-$b"
  layers_of "$WORK/base-$b" > "$WORK/bl"; layers_of "$WORK/top-$b" > "$WORK/tl"
  assert_eq "$(wc -l < "$WORK/tl")" 2 "top-$b layers"
  assert_eq "$(head -1 "$WORK/tl")" "$(cat "$WORK/bl")" "top-$b: the base layer's descriptor"
  d=$(head -1 "$WORK/bl" | cut -c8-71)
  cmp "$WORK/base-$b/blobs/sha256/$d" "$WORK/top-$b/blobs/sha256/$d" || fail "top-$b: the base blob was not copied as it is"
done
config_of "$WORK/top-gz:t1" > /dev/null
python3 - "$WORK/c.json" <<'P'
import json, sys
c = json.load(open(sys.argv[1])); r = c["config"]
assert r["Cmd"] == ["/bin/sh"] and r["WorkingDir"] == "/w" and r["User"] == "7" and r["StopSignal"] == "SIGTERM", r
assert r["Env"] == ["A=1", "PATH=/bin"], r["Env"]
assert r["Labels"] == {"x": "base", "y": "top"}, r["Labels"]
assert r["ExposedPorts"] == {"80/tcp": {}}, r
assert len(c["history"]) == 2 and c["history"][0]["created_by"] == "strata build", c["history"]
P
# --base-config env: nixpkgs' behaviour, only Env comes from the base.
"$STRATA" build -q --store-dir "$SD" --copy-to-root "$WORK/top-root" --from-image "$WORK/base-gz:b1" \
  --base-config env --config "$WORK/top-cfg.json" --tag t1 -o "$WORK/top-env"
config_of "$WORK/top-env:t1" > /dev/null
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["config"]; assert r=={"Env":["A=1","PATH=/bin"],"Labels":{"y":"top"}}, r' "$WORK/c.json"
# A new Entrypoint drops the base's Cmd, as in a Dockerfile.
echo '{"Entrypoint": ["/bin/app"]}' > "$WORK/ep.json"
"$STRATA" build -q --store-dir "$SD" --copy-to-root "$WORK/top-root" --from-image "$WORK/base-gz:b1" \
  --config "$WORK/ep.json" --tag t1 -o "$WORK/top-ep"
config_of "$WORK/top-ep:t1" > /dev/null
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["config"]; assert r["Entrypoint"]==["/bin/app"] and "Cmd" not in r, r' "$WORK/c.json"

# runc runs the top layer's program, which reads the base's file.
umoci unpack --image "$WORK/top-gz:t1" "$WORK/bundle" > /dev/null
[ -f "$WORK/bundle/rootfs/etc/greeting" ] && [ -x "$WORK/bundle/rootfs/bin/app" ] || fail "umoci: base or top files missing"
if [ "$(id -u)" = 0 ] && command -v runc > /dev/null; then
  python3 - "$WORK/bundle/config.json" "$APP" <<'P'
import json, sys
c = json.load(open(sys.argv[1])); c["process"]["terminal"] = False; c["process"]["args"] = ["/bin/app"]
c["process"]["user"] = {"uid": 0, "gid": 0}; c["process"]["cwd"] = "/"
json.dump(c, open(sys.argv[1], "w"))
P
  out=$(runc run --bundle "$WORK/bundle" strata-base-$$ < /dev/null 2> "$WORK/runc.err") || { runc delete -f strata-base-$$ 2>/dev/null; fail "runc: $(cat "$WORK/runc.err")"; }
  assert_eq "$out" "app: from the base" "runc output"
fi

# 2. An oci-archive base, and docker-archive bases (strata's, skopeo's):
# their layers' diff_ids are kept.
base_diff=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rootfs"]["diff_ids"][0])' \
  <(skopeo --insecure-policy inspect --config "oci:$WORK/base-gz:b1"))
skopeo --insecure-policy copy -q "oci:$WORK/base-gz:b1" "docker-archive:$WORK/base-sk.tar:strata/base:b1"
for b in "$WORK/base-tar" "$WORK/base-da" "$WORK/base-sk.tar"; do
  rm -rf "$WORK/top-x"
  "$STRATA" build -q --store-dir "$SD" --copy-to-root "$WORK/top-root" --from-image "$b" --tag t1 -o "$WORK/top-x"
  "$STRATA" verify "$WORK/top-x" > /dev/null
  got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rootfs"]["diff_ids"][0])' \
    <(skopeo --insecure-policy inspect --config "oci:$WORK/top-x:t1"))
  assert_eq "$got" "$base_diff" "$b: the base layer's diff_id"
done

# A Docker archive on an OCI base (its compressed blob a member as it is),
# read back by skopeo.
"$STRATA" build -q --store-dir "$SD" --copy-to-root "$WORK/top-root" --from-image "$WORK/base-zst:b1" --tag t1 \
  --format docker-archive -o "$WORK/top-da.tar"
skopeo --insecure-policy copy -q "docker-archive:$WORK/top-da.tar" "oci:$WORK/top-da-oci:t1"
"$STRATA" verify "$WORK/top-da-oci" > /dev/null
umoci unpack --image "$WORK/top-da-oci:t1" "$WORK/da-bundle" > /dev/null 2>&1 ||
  fail "umoci cannot unpack the docker-archive made on a zstd base"
[ -f "$WORK/da-bundle/rootfs/etc/greeting" ] || fail "the docker-archive lost the base's files"

# A one-member gzip layer larger than strata's in-memory decoding (as
# Docker and pigz write them): decoded streaming, still reused as it is;
# cut or flipped inside, refused.
mkdir -p "$WORK/big-root"
head -c 40000000 /dev/urandom > "$WORK/big-root/noise"
"$STRATA" build -q --store-dir "$SD" --copy-to-root "$WORK/big-root" --compress none --tag b1 -o "$WORK/big"
chmod -R u+w "$WORK/big"
d=$(layers_of "$WORK/big" | cut -c8-71)
gzip -1 -n -c "$WORK/big/blobs/sha256/$d" > "$WORK/one-member.gz"
python3 "$TOP/tests/forge_layout.py" "$WORK/big" layer-blob 0 "$WORK/one-member.gz"
python3 "$TOP/tests/forge_layout.py" "$WORK/big" layer-type 0 application/vnd.oci.image.layer.v1.tar+gzip
"$STRATA" build -q --store-dir "$SD" --copy-to-root "$WORK/top-root" --from-image "$WORK/big" --tag t1 -o "$WORK/top-big"
"$STRATA" verify "$WORK/top-big" > /dev/null
assert_eq "$(layers_of "$WORK/top-big" | head -1)" "$(layers_of "$WORK/big")" "a one-member gzip base layer"

# 3. A 2-image archive: pick by name and tag.
python3 "$TOP/tests/make_docker_archive.py" "$WORK/two.tar" --images 2
for pick in "strata/img1 v2 A=1" "strata/img0 latest A=0"; do
  set -- $pick
  rm -rf "$WORK/top-p"
  "$STRATA" build -q --store-dir "$SD" --copy-to-root "$WORK/top-root" --from-image "$WORK/two.tar" \
    --from-image-name "$1" --from-image-tag "$2" --tag t1 -o "$WORK/top-p"
  config_of "$WORK/top-p:t1" > /dev/null
  python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); assert c["config"]["Env"][0]==sys.argv[2] and len(c["rootfs"]["diff_ids"])==4, c' "$WORK/c.json" "$3"
done

# 4. build-layered on a base: base layers first; the limit counts them.
gen_store "$WORK/g" --paths 6
"$STRATA" build-layered -q --closure "$WORK/g/closure.json" --store-dir "$WORK/g/nix/store" \
  --from-image "$WORK/two.tar" --from-image-tag v2 --max-layers 6 --tag l1 -o "$WORK/lay"
"$STRATA" verify "$WORK/lay" > /dev/null
config_of "$WORK/lay:l1" > /dev/null
python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); assert len(c["rootfs"]["diff_ids"])==5 and c["config"]["Cmd"][0].endswith("pkg1-0/bin/tool"), c' "$WORK/c.json"

# --no-store-paths: the base's layers and the customisation layer only.
"$STRATA" build-layered -q --closure "$WORK/g/closure.json" --store-dir "$WORK/g/nix/store" \
  --from-image "$WORK/base-gz:b1" --no-store-paths --contents "$(head -c0 /dev/null; python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["path"])' "$WORK/g/closure.json")" \
  --tag n1 -o "$WORK/lay-ns"
config_of "$WORK/lay-ns:n1" > /dev/null
python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); assert len(c["rootfs"]["diff_ids"])==2, c["rootfs"]' "$WORK/c.json"

# 5. Bad bases and combinations: exit 1, one line, no output.
expect_fail() { # pattern args...
  local pat=$1 rc=0; shift
  rm -rf "$WORK/bad"
  "$STRATA" "$@" -o "$WORK/bad" > /dev/null 2> "$WORK/err" || rc=$?
  [ $rc = 1 ] || fail "$* exited $rc: $(cat "$WORK/err")"
  [ "$(wc -l < "$WORK/err")" = 1 ] || fail "$*: not one line: $(cat "$WORK/err")"
  grep -q -- "$pat" "$WORK/err" || fail "$*: '$pat' not in: $(cat "$WORK/err")"
  [ ! -e "$WORK/bad" ] || fail "$*: output left behind"
}
B="build -q --store-dir $SD --copy-to-root $WORK/top-root"
echo "not an image" > "$WORK/text"
expect_fail "not a tar\|no manifest.json\|base image" $B --from-image "$WORK/text"
head -c 20000 "$WORK/base-da" > "$WORK/cut.tar"
expect_fail "base image" $B --from-image "$WORK/cut.tar"
mkdir -p "$WORK/plain-dir"
expect_fail "not an OCI image layout" $B --from-image "$WORK/plain-dir"
expect_fail "no image of that name and tag" $B --from-image "$WORK/base-gz:nope"
expect_fail "no image named strata/img9" $B --from-image "$WORK/two.tar" --from-image-name strata/img9
expect_fail "is for amd64, not arm64\|is for arm64, not amd64\|not arm64" $B --from-image "$WORK/base-gz:b1" --architecture arm64
cp -r "$WORK/base-gz" "$WORK/forged"; chmod -R u+w "$WORK/forged"
python3 "$TOP/tests/forge_layout.py" "$WORK/forged" config-set rootfs \
  '{"type": "layers", "diff_ids": ["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}'
expect_fail "diff_id" $B --from-image "$WORK/forged"
cp -r "$WORK/base-gz" "$WORK/flipped"; chmod -R u+w "$WORK/flipped"
d=$(layers_of "$WORK/flipped" | cut -c8-71)
printf 'X' | dd of="$WORK/flipped/blobs/sha256/$d" bs=1 seek=30 conv=notrunc 2> /dev/null
expect_fail "base image" $B --from-image "$WORK/flipped"
# A layout's links are never followed out of it.
cp -r "$WORK/base-gz" "$WORK/linked"; chmod -R u+w "$WORK/linked"
d=$(layers_of "$WORK/linked" | cut -c8-71)
ln -sf /etc/passwd "$WORK/linked/blobs/sha256/$d"
expect_fail "is a symlink" $B --from-image "$WORK/linked"
cp -r "$WORK/base-gz" "$WORK/linked2"; chmod -R u+w "$WORK/linked2"
mv "$WORK/linked2/blobs" "$WORK/elsewhere"; ln -s "$WORK/elsewhere" "$WORK/linked2/blobs"
expect_fail "no blobs/sha256 directory" $B --from-image "$WORK/linked2"
for cut in trunc flip; do
  cp -r "$WORK/big" "$WORK/big-$cut"
  d=$(layers_of "$WORK/big-$cut" | cut -c8-71)
  if [ $cut = trunc ]; then head -c 30000000 "$WORK/one-member.gz" > "$WORK/bad.gz"; else
    cp "$WORK/one-member.gz" "$WORK/bad.gz"; printf 'XXXX' | dd of="$WORK/bad.gz" bs=1 seek=35000000 conv=notrunc 2> /dev/null; fi
  python3 "$TOP/tests/forge_layout.py" "$WORK/big-$cut" layer-blob 0 "$WORK/bad.gz" plain
  python3 "$TOP/tests/forge_layout.py" "$WORK/big-$cut" layer-type 0 application/vnd.oci.image.layer.v1.tar+gzip
  expect_fail "base image: layer 1" $B --from-image "$WORK/big-$cut"
done
python3 "$TOP/tests/make_docker_archive.py" "$WORK/bad-diff.tar" --bad diff-id
expect_fail "diff_id" $B --from-image "$WORK/bad-diff.tar"
# The base's config is checked as clients check it, for its history goes
# into the image as it is: Go's zero time is a valid time there (kept, and
# the image verifies), a time that is not RFC 3339 is not.
python3 "$TOP/tests/make_docker_archive.py" "$WORK/zero.tar" --created 0001-01-01T00:00:00Z
rm -rf "$WORK/top-zero"
"$STRATA" build -q --store-dir "$SD" --copy-to-root "$WORK/top-root" --from-image "$WORK/zero.tar" -o "$WORK/top-zero"
"$STRATA" verify -q "$WORK/top-zero"
assert_eq "$(skopeo --insecure-policy inspect --config oci:"$WORK/top-zero" | python3 -c \
  'import json,sys; print(json.load(sys.stdin)["history"][0]["created"])')" "0001-01-01T00:00:00Z" "the base's history"
python3 "$TOP/tests/make_docker_archive.py" "$WORK/bad-time.tar" --created 1970-0001-0:T100:01+00:00
expect_fail "bad-time.tar: config: .*'created'" $B --from-image "$WORK/bad-time.tar"
cp -r "$WORK/base-gz" "$WORK/bad-cfg"; chmod -R u+w "$WORK/bad-cfg"
python3 "$TOP/tests/forge_layout.py" "$WORK/bad-cfg" config-set config '{"Cmd": "not a list"}'
expect_fail "bad-cfg: config: 'config': 'Cmd' must be an array" $B --from-image "$WORK/bad-cfg"
expect_fail "the base image has 3 layers: a limit of 4" build-layered -q --closure "$WORK/g/closure.json" \
  --store-dir "$WORK/g/nix/store" --from-image "$WORK/two.tar" --max-layers 4
echo "base_image: ok"
