# Docker-archive output on bad input (issue 13): a base image (from_image)
# that is missing, not a Docker archive or lies about its layers, a
# customisation layer whose checksum file lies, a reader that goes away, a
# signal mid-stream, and flag combinations. Each: one line, a non-zero
# exit, nothing at the output, no temporary file, and on a pipe no bytes
# at all when the input is refused before the first layer.
. "$STRATA_TOP/tests/lib.sh"
SD="$WORK/st/nix/store"; P="$SD/0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a-pkg"
mkdir -p "$P/bin" "$WORK/cust/t/etc"; echo hi > "$P/bin/hi"; echo m > "$WORK/cust/t/etc/motd"
tar --sort=name --owner=0 --group=0 --mtime=@1 -C "$WORK/cust/t" -cf "$WORK/cust/layer.tar" .
sha256sum "$WORK/cust/layer.tar" | cut -c1-64 > "$WORK/cust/checksum"
conf() { # NAME FROM_IMAGE(or null) [CUST]
  python3 - "$WORK/$1" "$2" "$SD" "$P" "${3:-$WORK/cust}" <<'P'
import json, sys
out, fi, sd, p, cust = sys.argv[1:]
json.dump({"architecture": "amd64", "config": {}, "created": "1970-01-01T00:00:01Z", "mtime": "1970-01-01T00:00:01Z",
           "uid": "0", "gid": "0", "uname": "root", "gname": "root", "store_dir": sd,
           "from_image": None if fi == "null" else fi, "store_layers": [[p]], "customisation_layer": cust,
           "repo_tag": "e:1"}, open(out, "w"))
P
}
# stream CODE PATTERN CONF: stream-layered refuses, with nothing on stdout
stream() {
  set +e; "$STRATA" stream-layered "$3" > "$WORK/out.tar" 2> "$WORK/err"; local rc=$?; set -e
  [ "$rc" = "$1" ] || fail "exit $rc (want $1) for $3: $(cat "$WORK/err")"
  grep -q -- "$2" "$WORK/err" || fail "'$2' not in: $(cat "$WORK/err")"
  [ "$(wc -l < "$WORK/err")" = 1 ] || fail "not one line: $(cat "$WORK/err")"
  [ ! -s "$WORK/out.tar" ] || fail "bytes on stdout though the input was refused ($2)"
}
# a base image: base.py OUT KIND makes a Docker archive with a fault
cat > "$WORK/base.py" <<'P'
import hashlib, io, json, sys, tarfile
out, kind = sys.argv[1:]
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w") as t:
    ti = tarfile.TarInfo("etc/base"); ti.size = 2; t.addfile(ti, io.BytesIO(b"b\n"))
data = layer.getvalue()
if kind == "notatar":
    data = b"this is not a tar" * 100
diff = hashlib.sha256(data).hexdigest()
ids = ["sha256:" + diff]
if kind == "mismatch":
    ids = ["sha256:" + "0" * 64]
if kind == "fewids":
    ids = []
cfg = json.dumps({"config": {"Env": ["A=1"]}, "rootfs": {"type": "layers", "diff_ids": ids}}).encode()
layers = ["l/layer.tar"] if kind != "nolayer" else ["missing/layer.tar"]
man = json.dumps([{"Config": "c.json", "RepoTags": ["b:1"], "Layers": layers}]).encode()
with tarfile.open(out, "w") as t:
    def add(name, b):
        ti = tarfile.TarInfo(name); ti.size = len(b); t.addfile(ti, io.BytesIO(b))
    if kind == "link":
        add("real.tar", data)
        ti = tarfile.TarInfo("l/layer.tar"); ti.type = tarfile.SYMTYPE; ti.linkname = "../real.tar"; t.addfile(ti)
    else:
        add("l/layer.tar", data)
    add("c.json", cfg)
    if kind != "nomanifest":
        add("manifest.json", man)
P
conf ok.json null; "$STRATA" stream-layered -q "$WORK/ok.json" > /dev/null || fail "the good conf fails"
conf missing.json "$WORK/nope.tar";  stream 1 "from_image: cannot open base image" "$WORK/missing.json"
echo "just text" > "$WORK/text";   conf text.json "$WORK/text"; stream 1 "not a tar archive" "$WORK/text.json"
printf '\x04\x22\x4d\x18junkjunk' > "$WORK/lz4"; conf lz4.json "$WORK/lz4"; stream 1 "compressed with lz4" "$WORK/lz4.json"
mkdir "$WORK/dir"; conf dir.json "$WORK/dir"; stream 1 "base image" "$WORK/dir.json"
for k in nomanifest:"no manifest.json" mismatch:"its config says sha256:0000" fewids:"1 layers but 0 diff_ids" \
         nolayer:"layer 1 is not in the archive" link:"is a link or special file" notatar:"layer 'l/layer.tar'"; do
  python3 "$WORK/base.py" "$WORK/b-${k%%:*}.tar" "${k%%:*}"
  conf "b-${k%%:*}.json" "$WORK/b-${k%%:*}.tar"
  stream 1 "${k#*:}" "$WORK/b-${k%%:*}.json"
done
python3 "$WORK/base.py" "$WORK/b-good.tar" good; conf good.json "$WORK/b-good.tar"
"$STRATA" stream-layered -q "$WORK/good.json" > /dev/null || fail "a good base is refused"
gzip -n < "$WORK/b-mismatch.tar" > "$WORK/b-mismatch.tar.gz"; conf gz.json "$WORK/b-mismatch.tar.gz"
stream 1 "its config says" "$WORK/gz.json"
head -c 300 "$WORK/b-good.tar" | gzip > "$WORK/cut.tar.gz"; conf cut.json "$WORK/cut.tar.gz"; stream 1 "base image" "$WORK/cut.json"

# the customisation layer's checksum file names another layer
mkdir "$WORK/cust2" && cp "$WORK/cust/layer.tar" "$WORK/cust2/" && echo "$(printf 'f%.0s' $(seq 64))" > "$WORK/cust2/checksum"
conf lie.json null "$WORK/cust2"; stream 1 "its checksum file says" "$WORK/lie.json"
echo short > "$WORK/cust2/checksum"; conf short.json null "$WORK/cust2"; stream 1 "is not a SHA-256" "$WORK/short.json"

# to a file: nothing left behind on failure, the target untouched
OUT="$WORK/o/img.tar"; mkdir "$WORK/o"
set +e; "$STRATA" build-layered -q --conf "$WORK/b-mismatch.json" --format docker-archive -o "$OUT" 2> "$WORK/err"; rc=$?; set -e
[ $rc = 1 ] && [ ! -e "$OUT" ] || fail "a refused base left $OUT (exit $rc)"
no_leftovers "$WORK/o"
echo keep > "$OUT"
set +e; "$STRATA" build-layered -q --conf "$WORK/ok.json" --format docker-archive -o "$OUT" 2> "$WORK/err"; rc=$?; set -e
[ $rc = 1 ] && [ "$(cat "$OUT")" = keep ] && grep -q "already exists" "$WORK/err" || fail "an existing output was not kept"
rm "$OUT"

# a reader that goes away: exit 1, one line, no partial file anywhere
truncate -s 1G "$P/big"
set +e; "$STRATA" stream-layered "$WORK/ok.json" 2> "$WORK/err" | head -c 1000 > /dev/null; rc=${PIPESTATUS[0]}; set -e
[ "$rc" = 1 ] || fail "a closed pipe gave exit $rc: $(cat "$WORK/err")"
grep -q "cannot write to standard output: Broken pipe" "$WORK/err" && [ "$(wc -l < "$WORK/err")" = 1 ] \
  || fail "closed pipe: $(cat "$WORK/err")"

# SIGINT while blocked on a full pipe, and while hashing into a file
mkfifo "$WORK/fifo"
python3 -c 'import os, sys, time; fd = os.open(sys.argv[1], os.O_RDONLY); time.sleep(30)' "$WORK/fifo" & reader=$!
"$STRATA" stream-layered "$WORK/ok.json" > "$WORK/fifo" 2> "$WORK/err" & pid=$!
sleep 1; kill -INT $pid; set +e; wait $pid; rc=$?; set -e; kill $reader 2>/dev/null || true
[ "$rc" = 130 ] || fail "SIGINT on a blocked pipe gave exit $rc: $(cat "$WORK/err")"
grep -q "interrupted" "$WORK/err" && [ "$(wc -l < "$WORK/err")" = 1 ] || fail "SIGINT: $(cat "$WORK/err")"
truncate -s 40G "$P/big"
"$STRATA" build-layered -q --conf "$WORK/ok.json" --format docker-archive -o "$OUT" 2> "$WORK/err" & pid=$!
sleep 1; kill -INT $pid; set +e; wait $pid; rc=$?; set -e
[ "$rc" = 130 ] && [ ! -e "$OUT" ] || fail "SIGINT while hashing: exit $rc, output $(ls "$WORK/o")"
no_leftovers "$WORK/o"
rm "$P/big"

# flags
usage() { set +e; "$STRATA" "$@" > /dev/null 2> "$WORK/err"; local rc=$?; set -e
  [ "$rc" = 2 ] || fail "exit $rc (want 2): $* -- $(cat "$WORK/err")"; }
usage build-layered --conf "$WORK/ok.json" -o -
usage build-layered --conf "$WORK/ok.json" --format docker-archive --compress gzip -o "$WORK/x.tar"
usage build-layered --conf "$WORK/ok.json" --format docker-archive --json -o -
usage build-layered --conf "$WORK/ok.json" --format bogus -o "$WORK/x.tar"
usage stream-layered
usage stream-layered "$WORK/ok.json" "$WORK/ok.json"
usage stream-layered --bogus "$WORK/ok.json"
"$STRATA" build-layered -q --conf "$WORK/ok.json" --format docker-archive --compress none -o "$WORK/x.tar"
"$STRATA" stream-layered --help | grep -q -- "--repo_tag" || fail "stream-layered --help"
set +e; "$STRATA" stream-layered "$WORK/absent.json" > "$WORK/out.tar" 2> "$WORK/err"; rc=$?; set -e
[ $rc = 1 ] && grep -q "cannot open conf file" "$WORK/err" || fail "a missing conf: exit $rc: $(cat "$WORK/err")"
echo ok
