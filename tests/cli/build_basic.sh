# build-layered on a generated store, checked by strata verify and the real
# clients: skopeo (inspect, copy oci->oci, --dest-decompress vs diff_ids),
# oci-image-tool validate, umoci unpack (rootfs equals the store paths).
. "$STRATA_TOP/tests/lib.sh"
gen_store "$WORK/s" --paths 12
SD="$WORK/s/nix/store"
cat > "$WORK/config.json" <<'J'
{"Env": ["PATH=/bin", "LANG=C"], "Cmd": ["/bin/run"], "WorkingDir": "/", "Labels": {"a": "b"},
 "ExposedPorts": {"80/tcp": {}}}
J
"$STRATA" build-layered --closure "$WORK/s/closure.json" --store-dir "$SD" --config "$WORK/config.json" \
  --tag v1 --json -o "$WORK/img" > "$WORK/summary.json"
"$STRATA" verify "$WORK/img"

# The summary names every store path exactly once.
python3 - "$WORK/summary.json" "$WORK/s/closure.json" <<'P'
import json, sys
s = json.load(open(sys.argv[1])); c = json.load(open(sys.argv[2]))
paths = [p for l in s["layers"] for p in l["store_paths"]]
assert sorted(paths) == sorted(e["path"] for e in c), "summary store paths differ from the closure"
assert s["tag"] == "v1" and s["manifest"].startswith("sha256:")
P

# skopeo reads the config we wrote.
skopeo --insecure-policy inspect --config oci:"$WORK/img":v1 > "$WORK/cfg.json"
python3 - "$WORK/cfg.json" <<'P'
import json, sys
c = json.load(open(sys.argv[1]))
assert c["config"]["Cmd"] == ["/bin/run"], c["config"]
assert c["config"]["Env"] == ["PATH=/bin", "LANG=C"]
assert c["rootfs"]["type"] == "layers" and len(c["rootfs"]["diff_ids"]) == len(c["history"])
assert c["os"] == "linux" and c["created"] == "1970-01-01T00:00:01Z"
P

# oci -> oci keeps every blob; --dest-decompress yields tars whose sha256 are the diff_ids.
skopeo --insecure-policy copy -q oci:"$WORK/img":v1 oci:"$WORK/copy":v1
skopeo --insecure-policy copy -q --dest-decompress oci:"$WORK/img":v1 dir:"$WORK/dec"
layer_blobs "$WORK/img" | while read -r digest diff media; do
  [ -f "$WORK/copy/blobs/sha256/$digest" ] || fail "skopeo copy lost blob $digest"
  [ -f "$WORK/dec/$diff" ] || fail "decompressed layer $diff missing"
  [ "$(sha256sum < "$WORK/dec/$diff" | cut -d' ' -f1)" = "$diff" ] || fail "diff_id mismatch $diff"
  assert_eq "$media" application/vnd.oci.image.layer.v1.tar+gzip "media type"
  # multi-member gzip: gzip -d and Python's gzip agree with the diff_id
  [ "$(gzip -dc "$WORK/img/blobs/sha256/$digest" | sha256sum | cut -d' ' -f1)" = "$diff" ] || fail "gzip -d of $digest"
  python3 -c 'import gzip,hashlib,sys;assert hashlib.sha256(gzip.open(sys.argv[1]).read()).hexdigest()==sys.argv[2]' \
    "$WORK/img/blobs/sha256/$digest" "$diff" || fail "python gzip of $digest"
done

oci-image-tool validate --type image "$WORK/img" > "$WORK/oit.log" 2>&1 || { cat "$WORK/oit.log"; fail "oci-image-tool"; }
grep -q "Validation succeeded" "$WORK/oit.log" || fail "oci-image-tool did not succeed"

# umoci (checks diff_ids itself): the unpacked rootfs equals the store paths.
umoci unpack --image "$WORK/img":v1 "$WORK/bundle" > /dev/null
R="$WORK/bundle/rootfs"
listing() { (cd "$1" && find . -printf '%P|%y|%m|%s|%l\n' | LC_ALL=C sort); }
for p in "$SD"/*; do
  [ "$(listing "$p")" = "$(listing "$R$p")" ] || fail "unpacked $(basename "$p") differs (names, types, modes, sizes, links)"
  diff -r --no-dereference "$p" "$R$p" > /dev/null || fail "unpacked contents of $p differ"
done
# The tar has the store dir's ancestors with mode 0755.
assert_eq "$(stat -c %a "$R$SD")" 755 "mode of the store dir"

# The tarball format is the same layout, as skopeo's oci-archive.
"$STRATA" build-layered --closure "$WORK/s/closure.json" --store-dir "$SD" --config "$WORK/config.json" \
  --tag v1 --format tarball -q -o "$WORK/img.tar"
"$STRATA" verify -q "$WORK/img.tar"
skopeo --insecure-policy inspect oci-archive:"$WORK/img.tar":v1 > /dev/null
mkdir "$WORK/untar" && tar -xf "$WORK/img.tar" -C "$WORK/untar"
diff -r "$WORK/img" "$WORK/untar" || fail "tarball differs from the directory layout"
# Names (README "Image names"): ref.name is the tag, io.containerd.image.name
# the fully qualified name; none without --name.
for n in "strata/hello docker.io/strata/hello:v1" "hello docker.io/library/hello:v1" \
         "localhost:5000/a/b localhost:5000/a/b:v1" "ghcr.io/x/y ghcr.io/x/y:v1"; do
  set -- $n
  "$STRATA" build-layered -q --closure "$WORK/s/closure.json" --store-dir "$SD" --name "$1" --tag v1 -o "$WORK/named"
  assert_eq "$(ref_of "$WORK/named")" v1 "ref.name with --name $1"
  assert_eq "$(cname_of "$WORK/named")" "$2" "io.containerd.image.name with --name $1"
  rm -rf "$WORK/named"
done
assert_eq "$(cname_of "$WORK/img")" none "io.containerd.image.name without --name"
no_leftovers "$WORK"
echo ok
