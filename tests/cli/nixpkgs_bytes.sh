# Byte parity with nixpkgs' writer (issue 13): strata's headers, layers and
# docker-archive against tests/nix_stream_oracle.py (the standard library's
# tarfile and json, as nixpkgs uses them). Every comparison is cmp.
. "$STRATA_TOP/tests/lib.sh"
TOOL="$STRATA_BUILD/tools/tar_header"
ORACLE="python3 $TOP/tests/nix_stream_oracle.py"

# 1. Single headers: every rule of the encoding, against TarInfo.tobuf.
n99=$(printf 'a%.0s' $(seq 1 99)); n100="${n99}b"; n101="${n100}c"; n155=$(printf 'd%.0s' $(seq 1 155))
n156="${n155}e"; n300=$(printf 'f%.0s' $(seq 1 300)); u40=$(printf 'u%.0s' $(seq 1 40))
n250=$(printf 'g%.0s' $(seq 1 250))
header_case() { # NAME LINK TYPE MODE UID GID SIZE MTIME UNAME GNAME
  "$TOOL" "$@" > "$WORK/ours"
  python3 - "$@" > "$WORK/theirs" <<'P'
import os, sys, tarfile
a = [os.fsdecode(os.fsencode(x)) for x in sys.argv[1:]]
ti = tarfile.TarInfo(a[0])
ti.linkname, ti.type = a[1], a[2].encode()
ti.mode, ti.uid, ti.gid, ti.size, ti.mtime = (int(x) for x in a[3:8])
ti.uname, ti.gname = a[8], a[9]
sys.stdout.buffer.write(ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
P
  cmp -s "$WORK/ours" "$WORK/theirs" || fail "header differs from CPython's for: $* ($(cmp "$WORK/ours" "$WORK/theirs"))"
}
for name in "/$n99" "/$n100" "$n100" "$n101" "/nix/store/$n155" "/x/$n156" "/$n300/" "/h\xc3\xa9llo" \
            "/$(printf '\xff\xfe')bad" "/mix$(printf '\xe6\x97\xa5')$(printf '\xff')z$n100"; do
  header_case "$(printf "$name")" "" 0 292 0 0 5 1 root root
done
header_case /l "/$n100" 2 511 0 0 0 1 root root
header_case /l "/$n99" 2 511 0 0 0 1 root root
header_case /l "$(printf '/t\xc3\xa9')" 2 511 0 0 0 1 root root
header_case "/$n101" "/$n101" 2 511 0 0 0 1 root root
header_case /d/ "" 5 1517 0 0 0 1 root root                  # 02755
header_case /s "" 0 2541 3000000 3000000 1 1 root root       # 04755, ids >= 2^21
header_case /big "" 0 292 0 0 9663676416 1 root root         # 9 GiB
header_case /old "" 0 292 0 0 0 8589934592 root root         # mtime >= 8^11
header_case /o "" 0 292 0 0 0 1 "$u40" "$(printf 'gr\xc3\xbcn')" # long and non-ASCII owners
header_case /z "" 0 292 2097151 2097152 8589934591 8589934591 a b

# 2. Whole store layers of tricky trees, --conf with a non-default store_dir:
#    strata's uncompressed layers must be the oracle's, byte for byte.
SD="$WORK/st/nix/store"
A="$SD/0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a-tricky"; B="$SD/1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b-link"
C="$SD/2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c-sparse"
mkdir -p "$A/sub/empty" "$A/$n155" "$C"
mkdir -p "$A/$n250/$n155"; echo deep > "$A/$n250/$n155/$n250"   # a path over 600 bytes
for n in "$n99" "$n100" "$n101" "$n250" "$(printf 'h\xc3\xa9llo')" "$(printf '\xe6\x97\xa5\xe6\x9c\xac')" \
         "$(printf 'bad\xff\xfe')" "$(printf 'x\xed\xa0\x80y')" "$(printf 'q\xf0\x9f\x98\x80')" "$(printf 'q\xff')" "a-b" "a.b" "A"; do
  echo "$n" > "$A/sub/$n"
done
mkdir -p "$A/a/b"; echo x > "$A/a/b/c"; echo y > "$A/a-b"
ln -s "/$n300" "$A/longlink"; ln -s "$(printf '/t\xc3\xa9st')" "$A/utflink"; ln -s ../sub "$A/rel"
echo same > "$A/hard1"; ln "$A/hard1" "$A/hard2"
echo s > "$A/suid"; chmod 4755 "$A/suid"; chmod 1777 "$A/sub/empty"
ln -s "$A" "$B"
truncate -s 100M "$C/hole"; printf data | dd of="$C/hole" bs=1 seek=50000000 conv=notrunc 2>/dev/null
mkdir -p "$WORK/cust/t/etc" && echo hi > "$WORK/cust/t/etc/motd"
tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@1 -C "$WORK/cust/t" -cf "$WORK/cust/layer.tar" .
sha256sum "$WORK/cust/layer.tar" | cut -c1-64 > "$WORK/cust/checksum"
python3 - "$WORK/conf.json" "$SD" "$A" "$B" "$C" "$WORK/cust" "$u40" <<'P'
import json, sys
out, sd, a, b, c, cust, u40 = sys.argv[1:]
json.dump({"architecture": "amd64", "config": {"Env": ["PATH=/bin", "Z=\u00e9"], "Cmd": ["/bin/sh"], "Labels": {}},
           "created": "2024-05-06T07:08:09+00:00", "mtime": "1970-01-01T00:00:01+00:00",
           "uid": "3000000", "gid": "100", "uname": u40, "gname": "users", "store_dir": sd, "from_image": None,
           "store_layers": [[a], [b], [c], [a, c]], "customisation_layer": cust, "repo_tag": "tricky:v1"},
          open(out, "w"))
P
"$STRATA" build-layered -q --conf "$WORK/conf.json" --compress none -o "$WORK/img"
layer_blobs "$WORK/img" > "$WORK/blobs"
for i in 0 1 2 3; do
  $ORACLE layer "$WORK/conf.json" "$i" "$WORK/o$i.tar"
  blob=$(sed -n "$((i + 1))p" "$WORK/blobs" | cut -d' ' -f1)
  cmp "$WORK/img/blobs/sha256/$blob" "$WORK/o$i.tar" || fail "store layer $i differs from nixpkgs' bytes"
done
"$STRATA" verify -q "$WORK/img"

# 3. The docker-archive: every member header, the layers, the config JSON
#    and manifest.json are the oracle's, from stream-layered (the script's
#    interface) and build-layered, to a file and to a pipe, whatever the
#    thread count.
$ORACLE archive "$WORK/conf.json" > "$WORK/oracle.tar"
"$STRATA" stream-layered -q "$WORK/conf.json" > "$WORK/s.tar"
cmp "$WORK/s.tar" "$WORK/oracle.tar" || fail "stream-layered differs from nixpkgs' archive"
$ORACLE archive "$WORK/conf.json" other/name:v2 > "$WORK/oracle-t.tar"
"$STRATA" stream-layered -q -t other/name:v2 "$WORK/conf.json" > "$WORK/s-t.tar"
cmp "$WORK/s-t.tar" "$WORK/oracle-t.tar" || fail "stream-layered -t differs from nixpkgs' archive"
"$STRATA" stream-layered -q --repo_tag=other/name:v2 --threads 1 "$WORK/conf.json" | cmp - "$WORK/oracle-t.tar" \
  || fail "stream-layered --repo_tag= --threads 1 differs"
"$STRATA" build-layered -q --conf "$WORK/conf.json" --format docker-archive -o "$WORK/b.tar" --threads 1
cmp "$WORK/b.tar" "$WORK/oracle.tar" || fail "build-layered --format docker-archive (file) differs"
"$STRATA" build-layered -q --conf "$WORK/conf.json" --format docker-archive -o - --threads 8 | cmp - "$WORK/oracle.tar" \
  || fail "build-layered --format docker-archive -o - differs"
no_leftovers "$WORK"

# 4. from_image: a 2-layer base (uncompressed, gzip'd, and repacked by GNU
#    tar with long member names) goes first, its members copied as the
#    script copies them, its Env merged with the image's.
BSD="$WORK/bst/nix/store"; BP="$BSD/3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d-base"
mkdir -p "$BP/bin" "$WORK/bcust/t/etc"; echo base > "$BP/bin/tool"; echo b > "$WORK/bcust/t/etc/base"
tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@1 -C "$WORK/bcust/t" -cf "$WORK/bcust/layer.tar" .
sha256sum "$WORK/bcust/layer.tar" | cut -c1-64 > "$WORK/bcust/checksum"
python3 - "$WORK" "$BSD" "$BP" <<'P2'
import json, sys
w, sd, bp = sys.argv[1:]
base = {"architecture": "amd64", "config": {"Env": ["PATH=/base/bin", "B=1", "Z=old"], "WorkingDir": "/b"},
        "created": "2020-01-01T00:00:00Z", "mtime": "2020-01-01T00:00:00Z", "uid": "0", "gid": "0", "uname": "root",
        "gname": "root", "store_dir": sd, "from_image": None, "store_layers": [[bp]],
        "customisation_layer": w + "/bcust", "repo_tag": "base:1"}
json.dump(base, open(w + "/base-conf.json", "w"))
for name, fi in (("conf-base", "base.tar"), ("conf-basegz", "base.tar.gz"), ("conf-basegnu", "base-gnu.tar")):
    c = json.load(open(w + "/conf.json"))
    c["from_image"] = w + "/" + fi
    json.dump(c, open(w + "/" + name + ".json", "w"))
P2
$ORACLE archive "$WORK/base-conf.json" > "$WORK/base.tar"
gzip -9n < "$WORK/base.tar" > "$WORK/base.tar.gz"
mkdir "$WORK/unpacked" && tar -xf "$WORK/base.tar" -C "$WORK/unpacked"
long=$(printf 'L%.0s' $(seq 1 120))
python3 - "$WORK/unpacked" "$long" <<'P2'
import json, os, sys
d, long = sys.argv[1:]
m = json.load(open(d + "/manifest.json"))
for i, l in enumerate(m[0]["Layers"]):
    new = "%s%d/layer.tar" % (long, i)
    os.makedirs(d + "/" + os.path.dirname(new))
    os.rename(d + "/" + l, d + "/" + new)
    m[0]["Layers"][i] = new
json.dump(m, open(d + "/manifest.json", "w"))
P2
tar --format=gnu --sort=name -C "$WORK/unpacked" -cf "$WORK/base-gnu.tar" .
# tarfile names members "./x": the script looks up "x", so the GNU base needs plain names
(cd "$WORK/unpacked" && tar --format=gnu --sort=name -cf "$WORK/base-gnu.tar" -- *)
for c in conf-base conf-basegz conf-basegnu; do
  $ORACLE archive "$WORK/$c.json" > "$WORK/o-$c.tar"
  "$STRATA" stream-layered -q "$WORK/$c.json" > "$WORK/s-$c.tar" || fail "stream-layered failed on $c"
  cmp "$WORK/s-$c.tar" "$WORK/o-$c.tar" || fail "stream-layered with from_image ($c) differs from nixpkgs' archive"
done
cmp "$WORK/s-conf-base.tar" "$WORK/s-conf-basegz.tar" || fail "a gzip'd base gives another archive"
python3 - "$WORK/s-conf-base.tar" <<'P2' || fail "the merged config is wrong"
import json, sys, tarfile
t = tarfile.open(sys.argv[1])
m = json.load(t.extractfile("manifest.json"))[0]
c = json.load(t.extractfile(m["Config"]))
assert c["config"]["Env"] == ["PATH=/bin", "B=1", "Z=\u00e9"], c["config"]["Env"]
assert len(c["rootfs"]["diff_ids"]) == 2 + 5 and len(m["Layers"]) == 7
assert c["history"][0]["comment"] == "store paths: ['%s']" % m["Layers"][0]
P2

# The OCI output takes the same base: its layers first (recompressed),
# with the base's diff_ids.
"$STRATA" build-layered -q --conf "$WORK/conf-basegz.json" -o "$WORK/oci-base"
"$STRATA" verify -q "$WORK/oci-base"
python3 - "$WORK/base.tar" <<'P2' > "$WORK/base-ids"
import json, sys, tarfile
t = tarfile.open(sys.argv[1]); m = json.load(t.extractfile("manifest.json"))[0]
print("\n".join(d.split(":")[1] for d in json.load(t.extractfile(m["Config"]))["rootfs"]["diff_ids"]))
P2
layer_blobs "$WORK/oci-base" > "$WORK/oci-base-layers"
head -2 "$WORK/oci-base-layers" | cut -d' ' -f2 | diff - "$WORK/base-ids" > /dev/null \
  || fail "the OCI image does not start with the base's layers"

# 5. Real clients read it: skopeo from a file and through /dev/stdin (it
#    cannot read docker-archive from a pipe, the script's output neither:
#    containers/skopeo#590), then strata verify and umoci on the OCI result;
#    a stream reader checks every member's digest straight off the pipe.
if command -v skopeo > /dev/null && command -v umoci > /dev/null; then
  skopeo --insecure-policy copy -q docker-archive:"$WORK/s-conf-base.tar" oci:"$WORK/sk":x
  "$STRATA" verify -q "$WORK/sk"
  "$STRATA" stream-layered -q "$WORK/conf.json" > "$WORK/stdout.tar"
  skopeo --insecure-policy copy -q docker-archive:/dev/stdin oci:"$WORK/sk2":y < "$WORK/stdout.tar"
  "$STRATA" verify -q "$WORK/sk2"
  umoci unpack --rootless --image "$WORK/sk":x "$WORK/bundle" > /dev/null 2>&1 || umoci unpack --image "$WORK/sk":x "$WORK/bundle" > /dev/null
  [ "$(cat "$WORK/bundle/rootfs/etc/base")" = b ] || fail "the base layer's file is not in the unpacked image"
  [ "$(cat "$WORK/bundle/rootfs/etc/motd")" = hi ] || fail "the customisation layer's file is not in the unpacked image"
fi
"$STRATA" stream-layered -q "$WORK/conf-base.json" | python3 -c '
import hashlib, json, sys, tarfile
names = {}
t = tarfile.open(fileobj=sys.stdin.buffer, mode="r|")
for m in t:
    data = t.extractfile(m).read() if m.isreg() else b""
    names[m.name] = hashlib.sha256(data).hexdigest()
    if m.name == "manifest.json":
        man = json.loads(data)[0]
for l in man["Layers"]:
    assert l in names, l
assert names[man["Config"]] + ".json" == man["Config"]
for l in man["Layers"][2:]:
    assert l == names[l] + "/layer.tar", l
' || fail "the streamed archive does not check out"

# 6. A 9 GiB (sparse) file: its size goes into a pax record. The archives'
#    ends (config with every diff_id, manifest.json) must be the oracle's;
#    the streams never touch the disk.
G="$SD/4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f4f-huge"; mkdir -p "$G"; truncate -s 9G "$G/nine"
printf tail | dd of="$G/nine" bs=1 seek=9663676000 conv=notrunc 2>/dev/null
python3 - "$WORK/conf.json" "$WORK/conf-huge.json" "$G" <<'P2'
import json, sys
c = json.load(open(sys.argv[1])); c["store_layers"] = [[sys.argv[3]]]
json.dump(c, open(sys.argv[2], "w"))
P2
"$STRATA" stream-layered -q "$WORK/conf-huge.json" | tail -c 30720 > "$WORK/huge-s"
$ORACLE archive "$WORK/conf-huge.json" | tail -c 30720 > "$WORK/huge-o"
cmp "$WORK/huge-s" "$WORK/huge-o" || fail "the archive of a 9 GiB file differs from nixpkgs'"
echo ok
