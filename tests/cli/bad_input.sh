# Bad input and faults: one clear line on stderr, a non-zero exit (1, 2 for
# usage, 130/143 for signals), nothing at OUT, no temporary files left.
. "$STRATA_TOP/tests/lib.sh"
gen_store "$WORK/s" --paths 4
SD="$WORK/s/nix/store"
OUT="$WORK/out"

# expect_fail CODE PATTERN ARGS...: strata build-layered fails as described.
expect_fail() {
  local code=$1 pat=$2; shift 2
  set +e
  "$STRATA" build-layered -q "$@" 2> "$WORK/err" > /dev/null
  local rc=$?
  set -e
  [ "$rc" = "$code" ] || fail "exit $rc (want $code) for: $* -- $(cat "$WORK/err")"
  grep -q -- "$pat" "$WORK/err" || fail "stderr lacks '$pat' for: $* -- $(cat "$WORK/err")"
  [ "$code" = 2 ] || [ "$(wc -l < "$WORK/err")" = 1 ] || fail "error is not one line: $(cat "$WORK/err")"
  [ ! -e "$OUT" ] || fail "output left behind for: $*"
  no_leftovers "$WORK"
}

expect_fail 1 "cannot open closure file '$WORK/nope.json': No such file" --closure "$WORK/nope.json" --store-dir "$SD" -o "$OUT"
printf '[{"path": "%s/x"' "$SD" > "$WORK/trunc.json"
expect_fail 1 "invalid JSON" --closure "$WORK/trunc.json" --store-dir "$SD" -o "$OUT"
printf '[{"path": "/elsewhere/0123456789abcdfghijklmnpqrsvwxyz-x", "narSize": 1}]' > "$WORK/outside.json"
expect_fail 1 "not inside the store directory" --closure "$WORK/outside.json" --store-dir "$SD" -o "$OUT"
python3 - "$WORK/s/closure.json" "$WORK/missing-ref.json" <<'P'
import json, sys
c = json.load(open(sys.argv[1])); c = [e for e in c if e["references"]][:1]
json.dump(c, open(sys.argv[2], "w"))
P
expect_fail 1 "which is not in the closure" --closure "$WORK/missing-ref.json" --store-dir "$SD" -o "$OUT"
echo '{"Cmd": "not-a-list"}' > "$WORK/badcfg.json"
expect_fail 1 "'Cmd' must be an array of strings" --closure "$WORK/s/closure.json" --store-dir "$SD" --config "$WORK/badcfg.json" -o "$OUT"
echo '{"from_image": "/x.tar", "store_layers": []}' > "$WORK/conf.json"
expect_fail 1 "cannot open base image" --conf "$WORK/conf.json" -o "$OUT"
expect_fail 2 "missing -o" --closure "$WORK/s/closure.json"
expect_fail 2 "must be gzip, zstd or none" --closure "$WORK/s/closure.json" --compress lzma -o "$OUT"
expect_fail 2 "--max-layers must be an integer" --closure "$WORK/s/closure.json" --max-layers 1 -o "$OUT"
expect_fail 1 "not an RFC 3339 time" --closure "$WORK/s/closure.json" --store-dir "$SD" --created yesterday -o "$OUT"
expect_fail 2 "no input: give --closure FILE" -o "$OUT"
expect_fail 1 "output directory" --closure "$WORK/s/closure.json" --store-dir "$SD" -o "$WORK/no/such/dir/out"

# An existing output is kept unless --force, which replaces it atomically.
mkdir "$OUT" && echo keep > "$OUT/file"
set +e; "$STRATA" build-layered -q --closure "$WORK/s/closure.json" --store-dir "$SD" -o "$OUT" 2> "$WORK/err"; rc=$?; set -e
[ "$rc" = 1 ] && grep -q "already exists" "$WORK/err" || fail "existing output: $rc $(cat "$WORK/err")"
[ "$(cat "$OUT/file")" = keep ] || fail "existing output was touched"
# --force replaces only what strata could have written: not a directory of
# other files (it is kept as it was) ...
set +e; "$STRATA" build-layered -q --force --closure "$WORK/s/closure.json" --store-dir "$SD" -o "$OUT" 2> "$WORK/err"; rc=$?; set -e
[ "$rc" = 1 ] && grep -q "refusing to replace '$OUT': a directory that is not an OCI image layout" "$WORK/err" ||
  fail "--force on a foreign directory: $rc $(cat "$WORK/err")"
[ "$(cat "$OUT/file")" = keep ] || fail "--force touched a foreign directory"
no_leftovers "$WORK"
# ... but an image layout, even with an extra file in it
rm -rf "$OUT"; "$STRATA" build-layered -q --closure "$WORK/s/closure.json" --store-dir "$SD" -o "$OUT"
echo keep > "$OUT/file"
"$STRATA" build-layered -q --force --closure "$WORK/s/closure.json" --store-dir "$SD" -o "$OUT"
"$STRATA" verify -q "$OUT" && [ ! -e "$OUT/file" ] || fail "--force did not replace the output"
no_leftovers "$WORK"
rm -rf "$OUT"

# strata verify finds a corrupted blob and names it.
"$STRATA" build-layered -q --closure "$WORK/s/closure.json" --store-dir "$SD" -o "$WORK/good"
blob=$(layer_blobs "$WORK/good" | head -1 | cut -d' ' -f1)
printf 'X' | dd of="$WORK/good/blobs/sha256/$blob" bs=1 seek=20 conv=notrunc 2>/dev/null
if "$STRATA" verify "$WORK/good" 2> "$WORK/err"; then fail "verify accepted a corrupted blob"; fi
grep -q "blob sha256:$blob has digest" "$WORK/err" || fail "verify: $(cat "$WORK/err")"

# Root-only faults: ENOSPC on a tiny tmpfs; an unreadable file (as nobody).
if [ "$(id -u)" = 0 ]; then
  mkdir "$WORK/big" "$WORK/small"
  gen_store "$WORK/big" --paths 3 --file-kb 2048
  mount -t tmpfs -o size=1m tmpfs "$WORK/small"
  set +e
  "$STRATA" build-layered -q --closure "$WORK/big/closure.json" --store-dir "$WORK/big/nix/store" \
    --compress none -o "$WORK/small/img" 2> "$WORK/err"; rc=$?
  set -e
  left=$(ls -A "$WORK/small")
  umount "$WORK/small"
  [ "$rc" = 1 ] && grep -q "No space left on device" "$WORK/err" || fail "ENOSPC: $rc $(cat "$WORK/err")"
  [ -z "$left" ] || fail "ENOSPC left files: $left"

  if command -v setpriv > /dev/null; then
    chmod 0755 "$WORK"; mkdir -m 0777 "$WORK/nobody"
    chmod 0000 "$SD"/*-glibc-*/lib/sub/notes.txt
    set +e
    setpriv --reuid=65534 --regid=65534 --clear-groups "$STRATA" build-layered -q \
      --closure "$WORK/s/closure.json" --store-dir "$SD" -o "$WORK/nobody/img" 2> "$WORK/err"; rc=$?
    set -e
    chmod 0444 "$SD"/*-glibc-*/lib/sub/notes.txt
    [ "$rc" = 1 ] && grep -q "cannot open.*notes.txt': Permission denied" "$WORK/err" || fail "unreadable: $rc $(cat "$WORK/err")"
    [ -z "$(ls -A "$WORK/nobody")" ] || fail "unreadable file left output"
  fi
fi

# SIGINT and SIGTERM during a build: exit 130/143, no output, no temp files.
mkdir "$WORK/slow"
gen_store "$WORK/slow" --paths 2 --file-kb 4
head -c 60000000 /dev/urandom > "$WORK/slow/rand"
for p in "$WORK"/slow/nix/store/*; do chmod u+w "$p/lib"; cp "$WORK/slow/rand" "$p/lib/big"; done
for sig in INT TERM; do
  "$STRATA" build-layered -q --level 12 --threads 2 --closure "$WORK/slow/paths.txt" \
    --store-dir "$WORK/slow/nix/store" -o "$WORK/sig-out" 2> "$WORK/err" &
  pid=$!
  # wait until the build has started writing, then interrupt it
  for _ in $(seq 1 100); do compgen -G "$WORK/.sig-out.strata-tmp-*" > /dev/null && break; sleep 0.05; done
  sleep 0.3
  kill -s "$sig" "$pid"
  set +e; wait "$pid"; rc=$?; set -e
  want=$([ $sig = INT ] && echo 130 || echo 143)
  [ "$rc" = "$want" ] || fail "SIG$sig: exit $rc, want $want ($(cat "$WORK/err"))"
  grep -q "interrupted" "$WORK/err" || fail "SIG$sig: $(cat "$WORK/err")"
  [ ! -e "$WORK/sig-out" ] || fail "SIG$sig left output"
  no_leftovers "$WORK"
done
echo ok
