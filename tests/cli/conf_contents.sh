# nixpkgs drop-in: a conf.json as nixpkgs hands to stream_layered_image.py
# (store_layers, customisation_layer reused as is, config, created, mtime,
# uid/gid as strings, repo_tag). And --contents: the customisation layer
# links the contents' entries into / as symlinkJoin (lndir) does.
. "$STRATA_TOP/tests/lib.sh"
gen_store "$WORK/s" --paths 5
SD="$WORK/s/nix/store"

# A customisation layer as nixpkgs makes it: GNU tar, ./-prefixed names.
mkdir -p "$WORK/cust/tree/etc" "$WORK/custlayer"
echo "hello" > "$WORK/cust/tree/etc/motd"
tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@315532800 -C "$WORK/cust/tree" -cf "$WORK/custlayer/layer.tar" .
sha256sum "$WORK/custlayer/layer.tar" | cut -d' ' -f1 > "$WORK/custlayer/checksum"
python3 - "$WORK/s/closure.json" "$WORK/custlayer" "$SD" "$WORK/conf.json" <<'P'
import json, sys
c = json.load(open(sys.argv[1]))
paths = sorted(e["path"] for e in c)
conf = {"architecture": "arm64", "config": {"Cmd": ["/bin/sh"], "Env": ["A=1"]}, "os": "linux",
        "store_dir": sys.argv[3], "from_image": None,
        "store_layers": [[p] for p in paths[:3]] + [paths[3:]],
        "customisation_layer": sys.argv[2], "repo_tag": "myimage:abc123",
        "created": "2024-05-06T07:08:09+00:00", "mtime": "1970-01-01T00:00:01+00:00",
        "uid": "0", "gid": "0", "uname": "root", "gname": "root"}
json.dump(conf, open(sys.argv[4], "w"))
P
"$STRATA" build-layered --conf "$WORK/conf.json" --json -q -o "$WORK/img" > "$WORK/sum.json"
"$STRATA" verify -q "$WORK/img"
python3 - "$WORK/sum.json" "$WORK/custlayer/checksum" "$WORK/img" <<'P'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["tag"] == "abc123", s["tag"]
assert [len(l["store_paths"]) for l in s["layers"]] == [1, 1, 1, 2, 0]
assert s["layers"][-1]["diff_id"] == "sha256:" + open(sys.argv[2]).read().strip(), "layer.tar not reused as is"
d = sys.argv[3]; b = d + "/blobs/sha256/"
m = json.load(open(b + json.load(open(d + "/index.json"))["manifests"][0]["digest"][7:]))
c = json.load(open(b + m["config"]["digest"][7:]))
assert c["architecture"] == "arm64" and c["created"] == "2024-05-06T07:08:09Z", c
assert c["config"] == {"Cmd": ["/bin/sh"], "Env": ["A=1"]}, c["config"]
assert c["history"][0]["comment"].startswith("store paths: ['"), c["history"][0]
P
umoci unpack --image "$WORK/img":abc123 "$WORK/b1" > /dev/null
assert_eq "$(cat "$WORK/b1/rootfs/etc/motd")" hello "customisation layer content"

# --contents with two paths that both have bin/: merged into one real bin/,
# entries symlinked to the store (the first path wins on conflicts).
p1=$(ls -d "$SD"/*-glibc-*); p2=$(ls -d "$SD"/*-zlib-*)
"$STRATA" build-layered --closure "$WORK/s/closure.json" --store-dir "$SD" --contents "$p1" --contents "$p2" \
  --tag c -q -o "$WORK/img2"
umoci unpack --image "$WORK/img2":c "$WORK/b2" > /dev/null
R="$WORK/b2/rootfs"
[ -d "$R/bin" ] && [ ! -L "$R/bin" ] || fail "bin/ should be a real directory"
assert_eq "$(readlink "$R/bin/run")" "$p1/bin/run" "bin/run link (first path wins)"
assert_eq "$(readlink "$R/lib/libdata.so")" "$p1/lib/libdata.so" "lib link"
[ -d "$R/share/empty" ] || fail "share/empty missing"
# A --contents path that is not in the closure is an error.
if "$STRATA" build-layered --closure "$WORK/s/closure.json" --store-dir "$SD" --contents /etc -q -o "$WORK/x" 2> "$WORK/err"; then
  fail "--contents outside the closure accepted"
fi
grep -q "not in the closure" "$WORK/err" || fail "$(cat "$WORK/err")"
echo ok
