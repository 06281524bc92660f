# Same inputs, same bytes: with 1, 2 and 8 threads, twice, for every
# compressor; and independent of umask, locale and readdir order.
. "$STRATA_TOP/tests/lib.sh"
gen_store "$WORK/s" --paths 14 --file-kb 700   # layers of several chunks
SD="$WORK/s/nix/store"
for comp in gzip zstd none; do
  for t in 1 2 8; do
    "$STRATA" build-layered --closure "$WORK/s/closure.json" --store-dir "$SD" --compress "$comp" \
      --threads "$t" -q -o "$WORK/$comp-$t"
  done
  (umask 077; LC_ALL=C "$STRATA" build-layered --closure "$WORK/s/closure.json" --store-dir "$SD" \
      --compress "$comp" --threads 2 -q -o "$WORK/$comp-again")
  for other in 2 8 again; do
    diff -r "$WORK/$comp-1" "$WORK/$comp-$other" > /dev/null || fail "$comp: threads 1 and $other differ"
  done
  "$STRATA" verify -q "$WORK/$comp-8"
done
# The Docker archive: the same bytes whatever the thread count (its two
# passes overlap differently), to a file or to a pipe.
for t in 1 2 8; do
  "$STRATA" build-layered --closure "$WORK/s/closure.json" --store-dir "$SD" --format docker-archive \
    --threads "$t" -q -o - > "$WORK/docker-$t.tar"
done
"$STRATA" build-layered --closure "$WORK/s/closure.json" --store-dir "$SD" --format docker-archive -q \
  -o "$WORK/docker-file.tar"
for other in 2 8 file; do
  cmp "$WORK/docker-1.tar" "$WORK/docker-$other.tar" || fail "docker-archive: threads 1 and $other differ"
done
# its layers are the OCI image's uncompressed ones
python3 - "$WORK/docker-1.tar" <<'P2' > "$WORK/d-ids"
import json, sys, tarfile
t = tarfile.open(sys.argv[1]); m = json.load(t.extractfile("manifest.json"))[0]
print("\n".join(d.split(":")[1] for d in json.load(t.extractfile(m["Config"]))["rootfs"]["diff_ids"]))
P2
layer_blobs "$WORK/none-1" | cut -d' ' -f2 | diff - "$WORK/d-ids" > /dev/null || fail "docker-archive and OCI diff_ids differ"
# The three compressors share diff_ids (same tar), differ in blobs.
cut -d' ' -f2 <(layer_blobs "$WORK/gzip-1") > "$WORK/g"; cut -d' ' -f2 <(layer_blobs "$WORK/zstd-1") > "$WORK/z"
diff "$WORK/g" "$WORK/z" > /dev/null || fail "gzip and zstd images have different diff_ids"
layer_blobs "$WORK/none-1" | while read -r d diff m; do
  assert_eq "$d" "$diff" "uncompressed layer digest vs diff_id"
  assert_eq "$m" application/vnd.oci.image.layer.v1.tar "media type"
done
layer_blobs "$WORK/zstd-1" | while read -r d diff m; do
  assert_eq "$m" application/vnd.oci.image.layer.v1.tar+zstd "media type"
  [ "$(zstd -dc "$WORK/zstd-1/blobs/sha256/$d" | sha256sum | cut -d' ' -f1)" = "$diff" ] || fail "zstd -d of $d"
done
echo ok
