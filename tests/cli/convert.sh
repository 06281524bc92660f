# strata convert (issue 7): Docker archives become OCI images in one pass.
. "$STRATA_TOP/tests/lib.sh"
MK="$TOP/tests/make_docker_archive.py"
diffs_config() { python3 - "$1" "${2:-}" <<'P'
import json, sys
d, ref = sys.argv[1], sys.argv[2]
b = d + "/blobs/sha256/"
ms = json.load(open(d + "/index.json"))["manifests"]
m = [x for x in ms if not ref or x["annotations"]["org.opencontainers.image.ref.name"] == ref][0]
man = json.load(open(b + m["digest"][7:]))
c = json.load(open(b + man["config"]["digest"][7:]))
print(json.dumps([c["rootfs"]["diff_ids"], c["config"], c["architecture"], c["os"]]))
P
}

# 1. round trip: strata image -> skopeo docker-archive -> convert
gen_store "$WORK/s" --paths 6
"$STRATA" build-layered -q --closure "$WORK/s/closure.json" --store-dir "$WORK/s/nix/store" --tag v1 -o "$WORK/orig"
skopeo --insecure-policy copy -q oci:"$WORK/orig":v1 docker-archive:"$WORK/docker.tar":strata/x:v1
"$STRATA" convert -q "$WORK/docker.tar" -o "$WORK/conv"
"$STRATA" verify -q "$WORK/conv"
ref=$(ref_of "$WORK/conv")
[ "$(diffs_config "$WORK/orig")" = "$(diffs_config "$WORK/conv")" ] || fail "round trip changed diff_ids or config"
umoci unpack --image "$WORK/orig":v1 "$WORK/u1" > /dev/null
umoci unpack --image "$WORK/conv":"$ref" "$WORK/u2" > /dev/null
diff -r --no-dereference "$WORK/u1/rootfs" "$WORK/u2/rootfs" > /dev/null || fail "unpacked rootfs differ after the round trip"
skopeo --insecure-policy inspect oci:"$WORK/conv":"$ref" > /dev/null

# 2. nixpkgs' stream layout (manifest last, absolute names in layers): from a
# file and from stdin, same bytes; and with --threads 1 and 8
python3 "$MK" "$WORK/nix.tar"
"$STRATA" convert -q --threads 1 "$WORK/nix.tar" -o "$WORK/n1"
"$STRATA" convert -q --threads 8 - -o "$WORK/n8" < "$WORK/nix.tar"
diff -r "$WORK/n1" "$WORK/n8" > /dev/null || fail "file/stdin or thread counts give different bytes"
"$STRATA" verify -q "$WORK/n1"
oci-image-tool validate --type image "$WORK/n1" > "$WORK/oit.log" 2>&1 || fail "oci-image-tool: $(cat "$WORK/oit.log")"
grep -q "Validation succeeded" "$WORK/oit.log" || fail "oci-image-tool did not succeed"
# One rule for names (README): ref.name the tag, io.containerd.image.name
# the fully qualified name.
assert_eq "$(ref_of "$WORK/n1")" "latest" "ref.name from RepoTags"
assert_eq "$(cname_of "$WORK/n1")" "docker.io/strata/img0:latest" "io.containerd.image.name from RepoTags"

# 3. the whole archive gzip- or zstd-compressed; gzip-compressed layers inside
gzip -c "$WORK/nix.tar" > "$WORK/nix.tar.gz"; zstd -q -c "$WORK/nix.tar" > "$WORK/nix.tar.zst"
python3 "$MK" "$WORK/gzl.tar" --gzip-layers
python3 "$MK" "$WORK/d25.tar" --docker25    # Docker 25+: an OCI layout + manifest.json
for f in nix.tar.gz nix.tar.zst gzl.tar d25.tar; do
  "$STRATA" convert -q "$WORK/$f" -o "$WORK/c-$f"
  diff -r "$WORK/n1" "$WORK/c-$f" > /dev/null || fail "$f converts to different bytes"
done

# 4. two images, three tags: three index entries, two manifests
python3 "$MK" "$WORK/two.tar" --images 2
"$STRATA" convert -q "$WORK/two.tar" --compress zstd -o "$WORK/two" --json > "$WORK/two.json"
python3 - "$WORK/two" <<'P'
import json, sys
ms = json.load(open(sys.argv[1] + "/index.json"))["manifests"]
refs = sorted(m["annotations"]["org.opencontainers.image.ref.name"] for m in ms)
# "latest" names two images: those keep the whole reference as ref.name.
assert refs == ["strata/img0:latest", "strata/img1:latest", "v2"], refs
names = sorted(m["annotations"]["io.containerd.image.name"] for m in ms)
assert names == ["docker.io/strata/img0:latest", "docker.io/strata/img1:latest", "docker.io/strata/img1:v2"], names
assert len({m["digest"] for m in ms}) == 2
P
"$STRATA" verify -q "$WORK/two"
[ "$(diffs_config "$WORK/two" v2)" = "$(diffs_config "$WORK/two" strata/img1:latest)" ] || fail "tags of one image differ"
# --tag with several images is refused; with one it renames
if "$STRATA" convert -q "$WORK/two.tar" --tag x -o "$WORK/bad" 2> "$WORK/err"; then fail "--tag with 2 images"; fi
"$STRATA" convert -q "$WORK/nix.tar" --name my/app --tag t1 --format tarball -o "$WORK/named.tar"
skopeo --insecure-policy inspect oci-archive:"$WORK/named.tar":t1 > /dev/null

# 4b. an oci-archive (strata's tarball; podman's and buildah's are in
# clients.sh) converts: same diff_ids and config, recompressed.
"$STRATA" build-layered -q --closure "$WORK/s/closure.json" --store-dir "$WORK/s/nix/store" --name strata/x --tag v1 \
  --format tarball -o "$WORK/orig.tar"
"$STRATA" convert -q --compress zstd "$WORK/orig.tar" -o "$WORK/from-oci"
"$STRATA" verify -q "$WORK/from-oci"
[ "$(diffs_config "$WORK/orig")" = "$(diffs_config "$WORK/from-oci")" ] || fail "oci-archive convert changed diff_ids or config"
assert_eq "$(cname_of "$WORK/from-oci")" "docker.io/strata/x:v1" "the name an oci-archive's index carried"

# 4b. times in the config as clients read them (RFC 3339, any four-digit
# year): Go's zero time, which go-containerregistry's images carry, is kept
# and skopeo reads it; a time that is not RFC 3339 or a decimal epoch (which
# --created accepts, but a config may not hold) is refused, naming the field.
python3 "$MK" "$WORK/zero.tar" --created 0001-01-01T00:00:00Z
"$STRATA" convert -q "$WORK/zero.tar" -o "$WORK/zero"
"$STRATA" verify -q "$WORK/zero"
assert_eq "$(skopeo --insecure-policy inspect --config oci:"$WORK/zero" | python3 -c \
  'import json,sys; c=json.load(sys.stdin); print(c["created"], c["history"][2]["created"])')" \
  "0001-01-01T00:00:00Z 0001-01-01T00:00:00Z" "Go's zero time kept"
for t in 1700000000 2024-01-31T12:00:60Z "2024-01-31 12:00:00Z" 2024-01-31T12:00:00.Z 0000-01-01T00:00:00+01:00; do
  python3 "$MK" "$WORK/badtime.tar" --created "$t"
  if "$STRATA" convert -q "$WORK/badtime.tar" -o "$WORK/bad" 2> "$WORK/err"; then fail "created '$t' accepted"; fi
  grep -q "config: 'created': '$t'" "$WORK/err" || fail "created '$t': $(cat "$WORK/err")"
  [ ! -e "$WORK/bad" ] || fail "created '$t' left output"
done

# 5. bad archives: one line, non-zero, nothing left
bad() {
  local kind=$1 pat=$2
  python3 "$MK" "$WORK/bad-$kind.tar" --bad "$kind"
  if "$STRATA" convert -q "$WORK/bad-$kind.tar" -o "$WORK/bad" 2> "$WORK/err"; then fail "accepted --bad $kind"; fi
  grep -q -- "$pat" "$WORK/err" || fail "$kind: '$pat' not in $(cat "$WORK/err")"
  [ "$(wc -l < "$WORK/err")" = 1 ] || fail "$kind: not one line: $(cat "$WORK/err")"
  [ ! -e "$WORK/bad" ] || fail "$kind left output"
  no_leftovers "$WORK"
}
bad dotdot "has '..' in its name"
bad absolute "absolute or empty name"
bad link-out "links outside the archive"
bad duplicate "appears twice"
bad missing-layer "is not in the archive"
bad unlisted-layer "is not listed in manifest.json"
bad diff-id "diff_id mismatch"
bad truncated "Truncated"
bad no-manifest "has neither manifest.json nor index.json"
echo "not a tar" > "$WORK/garbage"
if "$STRATA" convert -q "$WORK/garbage" -o "$WORK/bad" 2> "$WORK/err"; then fail "garbage accepted"; fi
[ ! -e "$WORK/bad" ] || fail "garbage left output"
echo ok
