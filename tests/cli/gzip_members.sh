# Multi-member gzip (the default) and --gzip-single-member (issue 18):
# every layer strata writes by default is valid gzip made of 1 MiB members
# (RFC 1952 2.2), which Python's zlib.decompress(wbits=31) reads only the
# first of, silently; with --gzip-single-member each layer is one member
# that such readers read whole, with the same bytes for any thread count.
. "$STRATA_TOP/tests/lib.sh"
gen_store "$WORK/s" --paths 3
SD="$WORK/s/nix/store"
big=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["path"])' "$WORK/s/closure.json")
chmod u+w "$big"
python3 -c 'import random; r=random.Random(7); open("'"$big"'/mixed","wb").write(b"".join(bytes(r.choice(b"abcdefgh") for _ in range(4096)) + r.randbytes(4096) for _ in range(600)))'
mk() { "$STRATA" build-layered -q --closure "$WORK/s/closure.json" --store-dir "$SD" "$@"; }
mk -o "$WORK/multi"
mk --gzip-single-member --threads 1 -o "$WORK/one1"
mk --gzip-single-member --threads 4 -o "$WORK/one4"
diff -r "$WORK/one1" "$WORK/one4" > /dev/null || fail "--gzip-single-member bytes depend on the thread count"
"$STRATA" verify -q "$WORK/one1"
# readers LAYOUT: per layer "members whole-by-zlib whole-by-tarfile", where
# whole means the bytes read hash to the layer's diff_id.
readers() { python3 - "$1" <<'P'
import hashlib, json, sys, tarfile, zlib
d = sys.argv[1]; b = d + "/blobs/sha256/"
m = json.load(open(b + json.load(open(d + "/index.json"))["manifests"][0]["digest"][7:]))
c = json.load(open(b + m["config"]["digest"][7:]))
for l, di in zip(m["layers"], c["rootfs"]["diff_ids"]):
    raw = open(b + l["digest"][7:], "rb").read()
    members, rest = 0, raw
    while rest:
        o = zlib.decompressobj(31); o.decompress(rest); rest = o.unused_data; members += 1
    first = zlib.decompress(raw, wbits=31)
    try:
        with tarfile.open(b + l["digest"][7:], "r|gz") as t:
            n = sum(1 for _ in t)
        tar_ok = "yes"
    except Exception:
        tar_ok = "no"
    print(members, "yes" if "sha256:" + hashlib.sha256(first).hexdigest() == di else "no", tar_ok)
P
}
readers "$WORK/multi" > "$WORK/r-multi"; readers "$WORK/one1" > "$WORK/r-one"
# The big layer: several members by default, of which zlib reads one.
sort -n "$WORK/r-multi" | tail -1 > "$WORK/big-multi"
read -r members whole tarok < "$WORK/big-multi"
[ "$members" -gt 1 ] || fail "the default big layer has $members member(s)"
assert_eq "$whole" no "zlib.decompress(wbits=31) reading the whole multi-member layer"
# Single member: every layer one member, read whole by zlib and tarfile r|gz.
while read -r members whole tarok; do
  assert_eq "$members $whole $tarok" "1 yes yes" "a --gzip-single-member layer (members, zlib, tarfile)"
done < "$WORK/r-one"
# Real clients read it: skopeo copies it, umoci unpacks it to the same files.
skopeo --insecure-policy copy -q "oci:$WORK/one1" "oci:$WORK/copy:x"
"$STRATA" verify -q "$WORK/copy"
umoci unpack --image "$WORK/multi" "$WORK/u1" > /dev/null 2>&1 || umoci unpack --image "$WORK/multi:$(ref_of "$WORK/multi")" "$WORK/u1" > /dev/null
umoci unpack --image "$WORK/one1:$(ref_of "$WORK/one1")" "$WORK/u2" > /dev/null
diff -r --no-dereference "$WORK/u1/rootfs" "$WORK/u2/rootfs" > /dev/null || fail "the two encodings unpack differently"
# The cache keeps the encodings apart; convert takes the flag too.
mk --cache "$WORK/c" -o "$WORK/c1"
mk --cache "$WORK/c" --gzip-single-member -o "$WORK/c2"
diff -r "$WORK/one1" "$WORK/c2" > /dev/null || fail "a cache hit of the other encoding"
mk --format docker-archive -o "$WORK/d.tar"
"$STRATA" convert -q --gzip-single-member "$WORK/d.tar" -o "$WORK/conv"
readers "$WORK/conv" | sort -u > "$WORK/r-conv"
assert_eq "$(cat "$WORK/r-conv")" "1 yes yes" "convert --gzip-single-member layers"
# Usage errors.
for bad in "--compress zstd" "--level 12" "--format docker-archive"; do
  rc=0; mk --gzip-single-member $bad -o "$WORK/bad" 2> "$WORK/err" || rc=$?
  assert_eq "$rc" 2 "exit code of --gzip-single-member $bad"
  [ ! -e "$WORK/bad" ] || fail "output left by --gzip-single-member $bad"
done
echo "gzip_members: ok"
