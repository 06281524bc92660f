# Legal but hostile shapes at run time (tests/ERROR_MATRIX.md): signals
# honoured while strata waits on a pipe or reads a huge blob, a 2,000-level
# store path, a file truncated while the reference scanner reads it.
. "$STRATA_TOP/tests/lib.sh"
gen_store "$WORK/s" --paths 3
SD="$WORK/s/nix/store"
OUT="$WORK/out"

# signal SIG CMD...: run, wait a moment, signal; 128+N, "interrupted",
# nothing left. Fails if strata ignores the signal for 10 s.
signal() {
  local sig=$1; shift
  "$@" < "${SIGNAL_STDIN:-/dev/null}" > /dev/null 2> "$WORK/err" &
  local pid=$! i
  sleep 0.3
  kill -s "$sig" "$pid" 2>/dev/null || fail "SIG$sig: ended before the signal: $* ($(cat "$WORK/err"))"
  for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fail "SIG$sig ignored for 10 s: $*"; fi
  set +e; wait "$pid"; local rc=$?; set -e
  local want=$([ "$sig" = INT ] && echo 130 || echo 143)
  [ "$rc" = "$want" ] || fail "SIG$sig: exit $rc (want $want): $* ($(cat "$WORK/err"))"
  grep -q "interrupted" "$WORK/err" || fail "SIG$sig: $(cat "$WORK/err")"
  [ ! -e "$OUT" ] || fail "SIG$sig left output: $*"
  no_leftovers "$WORK"
}
# convert waiting for a writer on a named fifo, and on a stdin that never ends
mkfifo "$WORK/fifo"
signal TERM "$STRATA" convert -q "$WORK/fifo" -o "$OUT"
mkfifo "$WORK/stdin"; exec 3<> "$WORK/stdin" # a writer that never writes
SIGNAL_STDIN="$WORK/stdin" signal INT "$STRATA" convert -q - -o "$OUT"
exec 3>&-
# verify reading a huge (sparse, 40 GiB) layer whose descriptor says so
"$STRATA" build-layered -q --store-dir "$SD" --closure "$WORK/s/closure.json" --compress none -o "$WORK/v"
truncate -s 40G "$WORK/huge"
python3 "$TOP/tests/forge_layout.py" "$WORK/v" layer-blob 0 /dev/null plain
python3 - "$WORK/v" "$WORK/huge" <<'P'
import json, os, sys, hashlib
d, huge = sys.argv[1:]
b = d + "/blobs/sha256/"
idx = json.load(open(d + "/index.json"))
man = json.load(open(b + idx["manifests"][0]["digest"][7:]))
old = man["layers"][0]["digest"][7:]
os.unlink(b + old); os.rename(huge, b + old)
man["layers"][0]["size"] = os.path.getsize(b + old)
data = json.dumps(man, separators=(",", ":")).encode(); h = hashlib.sha256(data).hexdigest()
open(b + h, "wb").write(data)
idx["manifests"][0]["digest"] = "sha256:" + h; idx["manifests"][0]["size"] = len(data)
json.dump(idx, open(d + "/index.json", "w"))
P
signal TERM "$STRATA" verify "$WORK/v"
rm -rf "$WORK/v"

# a store path 2,000 directories deep, with a tight fd limit: walked without
# recursion or an fd per level; the image verifies and umoci unpacks it.
DEEP="$SD/9j9j9j9j9j9j9j9j9j9j9j9j9j9j9j9j-deep"
python3 - "$DEEP" <<'P'
import os, sys
os.makedirs(sys.argv[1]); fd = os.open(sys.argv[1], os.O_RDONLY)
for i in range(2000):
    os.mkdir("d", dir_fd=fd); nfd = os.open("d", os.O_RDONLY, dir_fd=fd); os.close(fd); fd = nfd
with open(os.open("bottom", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as f: f.write("deep\n")
P
echo "$DEEP" > "$WORK/deep.txt"
( ulimit -n 64; "$STRATA" build-layered -q --store-dir "$SD" --closure "$WORK/deep.txt" --compress none -o "$WORK/deep" )
"$STRATA" verify -q "$WORK/deep"
python3 - "$WORK/deep" "$DEEP" <<'P'
import json, sys, tarfile
d, deep = sys.argv[1:]
b = d + "/blobs/sha256/"
m = json.load(open(b + json.load(open(d + "/index.json"))["manifests"][0]["digest"][7:]))
names = [x.name for l in m["layers"] for x in tarfile.open(b + l["digest"][7:]).getmembers()]
want = deep + "/d" * 2000 + "/bottom"
assert want in names, "the deepest file is missing"
P

# a file truncated while the text closure form scans it for references:
# never a SIGBUS (no mapping); the scan ends or says the file changed.
BIGP=$(ls -d "$SD"/*-glibc-*); chmod u+w "$BIGP"
for round in 1 2 3; do
  head -c 300000000 /dev/zero > "$BIGP/big"
  ls -d "$SD"/*-* | grep -v -- -deep > "$WORK/paths.txt"
  ( sleep 0.2; : > "$BIGP/big" ) &
  set +e; "$STRATA" build-layered -q --store-dir "$SD" --closure "$WORK/paths.txt" --compress none -o "$WORK/tr$round" 2> "$WORK/err"; rc=$?; set -e
  wait
  [ "$rc" -lt 128 ] || fail "killed by signal $((rc - 128)) while a scanned file shrank ($(cat "$WORK/err"))"
  [ "$rc" = 0 ] || grep -qE "shrank|grew|replaced" "$WORK/err" || fail "truncated while scanned: $(cat "$WORK/err")"
  rm -rf "$WORK/tr$round"
done
rm -f "$BIGP/big"
no_leftovers "$WORK"
echo ok
