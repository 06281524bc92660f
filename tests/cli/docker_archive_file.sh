# A Docker archive written to a file (-o FILE) in one pass, each layer's
# data at its place as it is made: the same bytes as the two-pass stream
# (-o -) whatever the thread count and layer order; a layer of 8 GiB or
# more, whose header is longer (a pax size record) than the one its place
# was guessed with, placed again; a sparse file's holes left holes in the
# archive; a failure leaves nothing.
. "$STRATA_TOP/tests/lib.sh"
gen_store "$WORK/s" --paths 9
SD="$WORK/s/nix/store"
B=(build-layered -q --closure "$WORK/s/closure.json" --store-dir "$SD" --format docker-archive)
"$STRATA" "${B[@]}" -o - > "$WORK/stream.tar"
for t in 1 2 4; do
  for m in 2 4 100; do
    rm -f "$WORK/f.tar"
    "$STRATA" "${B[@]}" --threads $t --max-layers $m -o "$WORK/f.tar"
    "$STRATA" "${B[@]}" --threads $t --max-layers $m -o - | cmp - "$WORK/f.tar" \
      || fail "the file differs from the stream (--threads $t --max-layers $m)"
  done
done
cmp "$WORK/f.tar" "$WORK/stream.tar" || fail "the file differs from the stream"
skopeo --insecure-policy copy -q "docker-archive:$WORK/f.tar" "oci:$WORK/oci:x" || fail "skopeo refuses the file"
no_leftovers "$WORK"

# 8 GiB, holes but for a few marks: the member's size needs a pax record, so its
# header is 1536 bytes, not the 512 the first layer was placed after
# before its size was known: the first of two layers, with one thread (its
# size task comes after it is placed, so the second is placed by the size
# it was made with).
python3 - "$WORK/s/closure.json" "$WORK/one.json" <<'P'
import json, sys
leaf = [e for e in json.load(open(sys.argv[1])) if not [r for r in e["references"] if r != e["path"]]][0]
json.dump([leaf], open(sys.argv[2], "w"))
P
P=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["path"])' "$WORK/one.json")
P="$SD/${P##*/}"
# A mark every two 64 KiB blocks and 1000 bytes: wherever the layer's data
# begins, some mark's copy from the first placing (1024 bytes early) falls
# in a block of zeros of the second, which is left a hole: unless the
# first placing's bytes are gone, the data is not what the file holds.
python3 - "$P/huge" <<'P'
import sys
with open(sys.argv[1], "wb") as f:
    f.truncate(8 << 30)
    for k in range(70):
        f.seek(k * 132072)
        f.write(b"U")
P
rm -f "$WORK/h.tar"
"$STRATA" build-layered -q --store-dir "$SD" --format docker-archive --closure "$WORK/one.json" --contents "$P" \
  --threads 1 -o "$WORK/h.tar"
used=$(du -k "$WORK/h.tar" | cut -f1)
[ "$used" -lt 65536 ] || fail "the holes were written: $used KiB on disk"
python3 - "$WORK/h.tar" <<'P' || fail "the 8 GiB layer placed again"
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    layers = [m for m in t.getmembers() if m.name.endswith("/layer.tar")]
    assert len(layers) == 2 and layers[0].size > 8 << 30, [m.size for m in layers]
    with tarfile.open(fileobj=t.extractfile(layers[0])) as inner:
        huge = [m for m in inner.getmembers() if m.name.endswith("/huge")][0]
        assert huge.size == 8 << 30, huge.size
        n = 70 * 132072
        want = bytearray(n)
        for k in range(70):
            want[k * 132072] = ord("U")
        assert inner.extractfile(huge).read(n) == want, "bytes of the first placing left in the second"
P
rm -f "$P/huge" "$WORK/h.tar"

# sparse files that add up past what a file can hold (tmpfs takes files of
# 2^62 bytes): refused when the next layer is placed, not written at an
# offset that wrapped around
big=false
if Z=$(mktemp -d /dev/shm/strata-big.XXXXXX 2> /dev/null); then
  gen_store "$Z/s" --paths 3
  big=true
  for p in "$Z"/s/nix/store/*/; do truncate -s $((1 << 62)) "$p/sparse" 2> /dev/null || big=false; done
fi
if $big; then
  set +e; timeout 60 "$STRATA" build-layered -q --closure "$Z/s/closure.json" --store-dir "$Z/s/nix/store" \
    --format docker-archive -o "$Z/x.tar" 2> "$WORK/err"; rc=$?; set -e
  rm -rf "$Z"
  assert_eq "$rc" 1 "layers past a file's size"
  grep -q "File too large" "$WORK/err" && [ "$(wc -l < "$WORK/err")" = 1 ] || fail "too large: $(cat "$WORK/err")"
else
  echo "note: no 2^62-byte files in /dev/shm here: that case not run"
  [ -z "${Z:-}" ] || rm -rf "$Z"
fi

# a failure while placing (a file that cannot be read): one line, exit 1,
# no output, no temporary
F=$(find "$SD" -type f | sort | sed -n 5p)
if [ "$(id -u)" = 0 ] && id nobody > /dev/null 2>&1; then
  chmod 0600 "$F"; chown root "$F"
  chmod 0777 "$WORK"; chmod -R o+rX "$SD"; chmod 0600 "$F"
  mkdir -m 0777 "$WORK/o"
  set +e; su nobody -s /bin/sh -c "'$STRATA' ${B[*]} -o '$WORK/o/x.tar'" 2> "$WORK/err"; rc=$?; set -e
  assert_eq "$rc" 1 "an unreadable file"
  grep -q "cannot open '$F'" "$WORK/err" && [ "$(wc -l < "$WORK/err")" = 1 ] || fail "unreadable: $(cat "$WORK/err")"
  [ -z "$(ls -A "$WORK/o")" ] || fail "a failed archive left: $(ls -A "$WORK/o")"
  chmod 0644 "$F"
fi
echo ok
