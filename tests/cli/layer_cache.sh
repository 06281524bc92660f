# The layer cache (issue 16): warm builds are the cold build's bytes and
# read no store file; exactly the changed layer misses; options that change
# bytes miss, the others hit; concurrent builders; damaged entries are
# rebuilt, never used; eviction; SIGKILL leaves no valid-looking entry.
. "$STRATA_TOP/tests/lib.sh"
gen_store "$WORK/s" --paths 12
SD="$WORK/s/nix/store"; C="$WORK/s/closure.json"; K="$WORK/cache"
bl() { "$STRATA" build-layered -q --closure "$C" --store-dir "$SD" --cache "$K" "$@"; }
states() { python3 -c 'import json,sys; print(" ".join(l["cache"] for l in json.load(open(sys.argv[1]))["layers"]))' "$1"; }
count() { tr ' ' '\n' < "$1" | grep -c "^$2$" || true; }
entries_valid() { # every entry in the cache is complete and its blob is its digest's
  python3 - "$K" <<'P'
import glob, hashlib, json, os, sys
n = 0
for d in glob.glob(sys.argv[1] + "/v1/*/*"):
    j = json.load(open(d + "/layer.json"))
    b = open(d + "/" + j["digest"][7:], "rb").read()
    assert len(b) == j["size"] and hashlib.sha256(b).hexdigest() == j["digest"][7:], d
    n += 1
print(n)
P
}

# 1. Cold, then warm: the same bytes; the warm build opens no store file.
bl --json -o "$WORK/cold" > "$WORK/cold.json"
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["layers"]))' "$WORK/cold.json")
states "$WORK/cold.json" > "$WORK/st"; assert_eq "$(count "$WORK/st" miss)" "$n" "cold build: every layer a miss"
[ "$(stat -c %a "$K")" = 700 ] || fail "the cache directory is not private"
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -qq -e trace=open,openat -o "$WORK/trace" "$STRATA" build-layered -q --closure "$C" --store-dir "$SD" \
  --cache "$K" --json -o "$WORK/warm" > "$WORK/warm.json"
states "$WORK/warm.json" > "$WORK/st"; assert_eq "$(count "$WORK/st" hit)" "$n" "warm build: every layer a hit"
diff -r "$WORK/cold" "$WORK/warm" > /dev/null || fail "the warm build differs from the cold one"
{ grep -F "\"$SD/" "$WORK/trace" || true; } | { grep -v ENOENT || true; } > "$WORK/store-opens"
[ ! -s "$WORK/store-opens" ] || fail "the warm build opened store files: $(cat "$WORK/store-opens")"
"$STRATA" verify -q "$WORK/warm"
assert_eq "$(entries_valid)" "$n" "valid cache entries"

# 2. One path with a new narHash: exactly one layer misses.
python3 - "$C" "$WORK/c2.json" <<'P'
import json, sys
c = json.load(open(sys.argv[1])); c[3]["narHash"] = "sha256:" + "1" * 52
json.dump(c, open(sys.argv[2], "w"))
P
"$STRATA" build-layered -q --closure "$WORK/c2.json" --store-dir "$SD" --cache "$K" --json -o "$WORK/one" > "$WORK/one.json"
states "$WORK/one.json" > "$WORK/st"
assert_eq "$(count "$WORK/st" miss)" 1 "layers missing after one path changed"
# Without a narHash the tree is fingerprinted: a rewritten file misses.
grep -o '"path": *"[^"]*"' "$C" | cut -d'"' -f4 > "$WORK/paths.txt"
"$STRATA" build-layered -q --closure "$WORK/paths.txt" --store-dir "$SD" --cache "$K" --json -o "$WORK/t1" > "$WORK/t1.json"
"$STRATA" build-layered -q --closure "$WORK/paths.txt" --store-dir "$SD" --cache "$K" --json -o "$WORK/t2" > "$WORK/t2.json"
states "$WORK/t2.json" > "$WORK/st"; assert_eq "$(count "$WORK/st" miss)" 0 "fingerprinted paths hit"
find "$SD" -type f | sort > "$WORK/files"; victim=$(sed -n 1p "$WORK/files"); chmod u+w "$victim" "$(dirname "$victim")"
cp "$victim" "$WORK/v.bak"; printf 'changed' | dd of="$victim" bs=1 seek=0 conv=notrunc 2> /dev/null; touch -r "$WORK/v.bak" "$victim"
"$STRATA" build-layered -q --closure "$WORK/paths.txt" --store-dir "$SD" --cache "$K" --json -o "$WORK/t3" > "$WORK/t3.json"
states "$WORK/t3.json" > "$WORK/st"; assert_eq "$(count "$WORK/st" miss)" 1 "a rewritten file (mtime restored) misses"
cp "$WORK/v.bak" "$victim"

# 3. Options that change bytes miss; the others hit.
i=0
for opts in "--level 5" "--compress zstd" "--mtime 5" "--uid 7" "--gname wheel"; do
  i=$((i + 1)); bl $opts --json -o "$WORK/o$i" > "$WORK/o$i.json"
  states "$WORK/o$i.json" > "$WORK/st"; assert_eq "$(count "$WORK/st" hit)" 0 "$opts: hits"
done
echo '[{"regex": ".*", "mode": "0755"}]' > "$WORK/perms.json"
bl --perms "$WORK/perms.json" --json -o "$WORK/p1" > "$WORK/p1.json"
states "$WORK/p1.json" > "$WORK/st"; assert_eq "$(count "$WORK/st" hit)" 0 "--perms: hits"
bl --threads 1 --format tarball --json -o "$WORK/h1.tar" > "$WORK/h1.json"
states "$WORK/h1.json" > "$WORK/st"; assert_eq "$(count "$WORK/st" hit)" "$n" "--threads 1 --format tarball: misses"
STRATA_CACHE_DIR="$K" "$STRATA" build-layered -q --closure "$C" --store-dir "$SD" --json -o "$WORK/env" > "$WORK/env.json"
states "$WORK/env.json" > "$WORK/st"; assert_eq "$(count "$WORK/st" hit)" "$n" "STRATA_CACHE_DIR"

# 4. Two builders at once, one cache: both succeed and verify; the cache too.
K2="$WORK/cache2"
"$STRATA" build-layered -q --closure "$C" --store-dir "$SD" --cache "$K2" --threads 1 -o "$WORK/a" & pa=$!
"$STRATA" build-layered -q --closure "$C" --store-dir "$SD" --cache "$K2" --threads 1 -o "$WORK/b" & pb=$!
wait $pa || fail "concurrent builder a failed"; wait $pb || fail "concurrent builder b failed"
"$STRATA" verify -q "$WORK/a"; "$STRATA" verify -q "$WORK/b"
diff -r "$WORK/a" "$WORK/b" > /dev/null || fail "concurrent builders made different images"
assert_eq "$(K=$K2 entries_valid)" "$n" "entries after concurrent builds"

# 5. A cut entry and a flipped byte: detected, rebuilt, never in an image.
# (the cache's files are replaced, not edited: they share inodes with the
# images they were linked into)
digests=$(layer_blobs "$WORK/cold" | cut -d' ' -f1)
for b1 in $(find "$K/v1" -name "$(echo "$digests" | sed -n 1p)"); do head -c 100 "$b1" > "$WORK/cut"; mv -f "$WORK/cut" "$b1"; done
for b2 in $(find "$K/v1" -name "$(echo "$digests" | sed -n 2p)"); do
  cp "$b2" "$WORK/flip"; printf 'X' | dd of="$WORK/flip" bs=1 seek=50 conv=notrunc 2> /dev/null; mv -f "$WORK/flip" "$b2"
done
bl --json -o "$WORK/fix" > "$WORK/fix.json"
states "$WORK/fix.json" > "$WORK/st"
assert_eq "$(( $(count "$WORK/st" miss) + $(count "$WORK/st" rebuilt) ))" 2 "damaged entries not rebuilt"
diff -r "$WORK/cold" "$WORK/fix" > /dev/null || fail "an image built over damaged entries differs"
bl --json -o "$WORK/fixed" > "$WORK/fixed.json"
states "$WORK/fixed.json" > "$WORK/st"; assert_eq "$(count "$WORK/st" hit)" "$n" "hits after the repair"

# 6. Eviction: at most the size given, and stats/gc for operators.
total=$("$STRATA" cache stats "$K" | python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes"])')
bl --cache-max-size $((total / 2)) -o "$WORK/ev"
left=$("$STRATA" cache stats "$K" | python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes"])')
[ "$left" -le $((total / 2)) ] || fail "the cache holds $left bytes past --cache-max-size $((total / 2))"
"$STRATA" cache gc "$K" --max-size 0 > "$WORK/gc.json"
assert_eq "$("$STRATA" cache stats "$K" | python3 -c 'import json,sys; print(json.load(sys.stdin)["entries"])')" 0 "entries after gc to 0"
rc=0; "$STRATA" build-layered -q --closure "$C" --store-dir "$SD" --cache-max-size 12Q -o "$WORK/bad" 2> /dev/null || rc=$?
assert_eq "$rc" 2 "a bad --cache-max-size"

# A cache on another file system (/dev/shm): blobs are copied both ways
# instead of linked; the same bytes, all hits the second time.
if [ -d /dev/shm ] && [ "$(stat -c %d /dev/shm)" != "$(stat -c %d "$WORK")" ]; then
  XK=$(mktemp -d /dev/shm/strata-cache-test.XXXXXX); chmod 0700 "$XK"
  "$STRATA" build-layered -q --closure "$C" --store-dir "$SD" --cache "$XK" -o "$WORK/x1"
  "$STRATA" build-layered -q --closure "$C" --store-dir "$SD" --cache "$XK" --json -o "$WORK/x2" > "$WORK/x2.json"
  states "$WORK/x2.json" > "$WORK/st"; hits=$(count "$WORK/st" hit); rm -rf "$XK"
  assert_eq "$hits" "$n" "hits from a cache on another file system"
  diff -r "$WORK/x1" "$WORK/x2" > /dev/null || fail "a cache on another file system changed the image"
  assert_eq "$(stat -c %h "$(find "$WORK/x2/blobs" -type f | sort | head -1)")" 1 "a blob copied across file systems"
fi

# strata layer takes the cache too: a hit is the same layer directory.
"$STRATA" layer -q --closure "$C" --store-dir "$SD" --cache "$WORK/lc" --json -o "$WORK/l1" > "$WORK/l1.json"
"$STRATA" layer -q --closure "$C" --store-dir "$SD" --cache "$WORK/lc" --json -o "$WORK/l2" > "$WORK/l2.json"
assert_eq "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cache"])' "$WORK/l1.json")" miss "first strata layer"
assert_eq "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cache"])' "$WORK/l2.json")" hit "second strata layer"
diff -r "$WORK/l1" "$WORK/l2" > /dev/null || fail "a cached strata layer differs"

# strata build's one layer (a merged root) too: a hit, then a change in a
# copy-to-root file misses.
mkdir -p "$WORK/root/etc"; echo one > "$WORK/root/etc/motd"
root_path=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["path"])' "$C")
bi() { "$STRATA" build -q --store-dir "$SD" --closure "$C" --copy-to-root "$WORK/root" --root "$root_path" --cache "$WORK/bc" --json "$@"; }
bi -o "$WORK/bi1" > "$WORK/bi1.json"; bi -o "$WORK/bi2" > "$WORK/bi2.json"
assert_eq "$(states "$WORK/bi2.json")" hit "strata build, warm"
diff -r "$WORK/bi1" "$WORK/bi2" > /dev/null || fail "a cached strata build differs"
echo two > "$WORK/root/etc/motd"
bi -o "$WORK/bi3" > "$WORK/bi3.json"
assert_eq "$(states "$WORK/bi3.json")" miss "strata build after a copy-to-root file changed"

# Docker archives (build-layered --format docker-archive, stream-layered):
# pass 1 is skipped for layers whose digests are recorded; the same bytes;
# a record that lies is an error in pass 2, never a wrong archive.
da() { "$STRATA" build-layered -q --closure "$C" --store-dir "$SD" --format docker-archive --compress none --cache "$WORK/dk" "$@"; }
da --json -o "$WORK/d1.tar" > "$WORK/d1.json"; da --json -o "$WORK/d2.tar" > "$WORK/d2.json"
states "$WORK/d2.json" > "$WORK/st"; assert_eq "$(count "$WORK/st" hit)" "$n" "docker-archive, warm"
cmp "$WORK/d1.tar" "$WORK/d2.tar" || fail "a docker-archive made with recorded digests differs"
da -o - | cmp - "$WORK/d1.tar" || fail "the docker-archive on a pipe differs"
rec=$(find "$WORK/dk/v1" -name '*.sums' | sort | head -1)
awk '{ printf "%s %s 00000000\n", $1, $2 }' "$rec" > "$WORK/rec"; mv -f "$WORK/rec" "$rec"
rc=0; da -o "$WORK/d3.tar" 2> "$WORK/err" || rc=$?
assert_eq "$rc" 1 "a lying pass-1 record"; [ ! -e "$WORK/d3.tar" ] || fail "an archive was written from a lying record"

# A cache others may write, or owned by someone else, is refused: its
# entries could put any bytes into the image.
mkdir -m 0777 "$WORK/open-cache"; chmod 0777 "$WORK/open-cache"
rc=0; bl_err=$("$STRATA" build-layered -q --closure "$C" --store-dir "$SD" --cache "$WORK/open-cache" -o "$WORK/oc" 2>&1) || rc=$?
assert_eq "$rc" 1 "a world-writable cache"
case "$bl_err" in *"writable by others"*) ;; *) fail "world-writable cache: $bl_err" ;; esac
[ ! -e "$WORK/oc" ] || fail "an output was left"
if [ "$(id -u)" = 0 ] && id nobody > /dev/null 2>&1; then
  mkdir "$WORK/their-cache"; chown nobody "$WORK/their-cache"; chmod 0700 "$WORK/their-cache"
  rc=0; "$STRATA" build-layered -q --closure "$C" --store-dir "$SD" --cache "$WORK/their-cache" -o "$WORK/oc" 2> "$WORK/err" || rc=$?
  assert_eq "$rc" 1 "another user's cache"; grep -q "owned by another user" "$WORK/err" || fail "$(cat "$WORK/err")"
fi

# 7. SIGKILL during builds: whatever is in the cache is complete and valid.
gen_store "$WORK/big" --paths 30 --file-kb 2000
for delay in 0.2 0.5 0.9 1.4; do
  "$STRATA" build-layered -q --closure "$WORK/big/closure.json" --store-dir "$WORK/big/nix/store" --cache "$WORK/kc" \
    --threads 2 -o "$WORK/k-$delay" & pid=$!
  sleep $delay; kill -9 $pid 2> /dev/null || true; wait $pid 2> /dev/null || true
  K="$WORK/kc" entries_valid > /dev/null || fail "SIGKILL after ${delay}s left an invalid entry"
done
echo "layer_cache: ok"
