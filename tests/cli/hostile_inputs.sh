# Hostile inputs to build-layered, convert and verify (tests/ERROR_MATRIX.md):
# no external programs, outputs that would destroy inputs, unbounded inputs,
# false results, invalid names and times, unsafe messages. Every case: one
# line, the expected exit, nothing left behind, the input untouched.
. "$STRATA_TOP/tests/lib.sh"
[ "$(id -u)" = 0 ] || fail "needs root (device nodes, tmpfs)"
gen_store "$WORK/s" --paths 4
SD="$WORK/s/nix/store"
C="$WORK/s/closure.json"
OUT="$WORK/out"
FORGE="python3 $TOP/tests/forge_layout.py"
MDA="python3 $TOP/tests/make_docker_archive.py"

expect() { # CODE PATTERN ARGS...
  local code=$1 pat=$2; shift 2
  set +e; timeout 20 "$STRATA" "$@" > /dev/null 2> "$WORK/err"; local rc=$?; set -e
  [ "$rc" != 124 ] || fail "hung (killed after 20 s): $*"
  [ "$rc" = "$code" ] || fail "exit $rc (want $code): $* -- $(cat "$WORK/err")"
  grep -q -- "$pat" "$WORK/err" || fail "'$pat' not in: $(cat "$WORK/err") ($*)"
  [ "$(wc -l < "$WORK/err")" = 1 ] || fail "not one line: $(cat "$WORK/err")"
  [ ! -e "$OUT" ] || fail "output left behind: $*"
  no_leftovers "$WORK"
}
bl() { local c=$1 p=$2; shift 2; expect "$c" "$p" build-layered -q --store-dir "$SD" "$@"; }
img() { rm -rf "$1"; "$STRATA" build-layered -q --store-dir "$SD" --closure "$C" "${@:2}" -o "$1"; }

# --- no external programs: a decoder strata lacks is an error, never a
# program from $PATH (each fake decoder would leave a marker).
mkdir "$WORK/bin"
for p in lrzip lzop grzip lz4 lzip compress gunzip gzip zstd xz bzip2; do
  printf '#!/bin/sh\ntouch %s/ran-%s\ncat\n' "$WORK" "$p" > "$WORK/bin/$p"; chmod +x "$WORK/bin/$p"
done
magic() { printf "$1" > "$WORK/$2"; head -c 4096 /dev/urandom >> "$WORK/$2"; }
magic 'LRZI\000\006' a.lrz;  magic '\211LZO\000\015\012\032\012' a.lzo;  magic 'GRZipII\000' a.grz
magic '\004"M\030' a.lz4;    magic 'LZIP\001' a.lz;                    magic '\037\235\220' a.Z
for f in a.lrz:lrzip a.lzo:lzop a.grz:grzip a.lz4:lz4 a.lz:lzip a.Z:compress; do
  PATH="$WORK/bin:$PATH" expect 1 "is compressed with ${f#*:}[ (.Z)]*, which strata does not read" convert -q "$WORK/${f%:*}" -o "$OUT"
done
# ... also inside an archive, as a layer member
mkdir -p "$WORK/inner" && cp "$WORK/a.lzo" "$WORK/inner/layer.tar"
tar -C "$WORK/inner" -cf "$WORK/inner.tar" layer.tar
PATH="$WORK/bin:$PATH" expect 1 "member 'layer.tar' is compressed with lzop" convert -q "$WORK/inner.tar" -o "$OUT"
# ... and in verify: a layer blob with lrzip's magic
img "$WORK/v0" --compress none
$FORGE "$WORK/v0" layer-blob 0 "$WORK/a.lrz" plain
PATH="$WORK/bin:$PATH" expect 1 "is compressed with lrzip, which strata does not read" verify "$WORK/v0"
[ -z "$(ls "$WORK" | grep '^ran-')" ] || fail "an external program ran: $(ls "$WORK" | grep '^ran-')"
# xz and bzip2 archives are read in-process
$MDA "$WORK/d.tar"
xz -k "$WORK/d.tar"; bzip2 -k "$WORK/d.tar"
PATH="$WORK/bin:$PATH" "$STRATA" convert -q "$WORK/d.tar.xz" -o "$WORK/cx"
PATH="$WORK/bin:$PATH" "$STRATA" convert -q "$WORK/d.tar.bz2" -o "$WORK/cb"
assert_eq "$(ref_of "$WORK/cx")" "$(ref_of "$WORK/cb")" "xz and bzip2 archives"
[ -z "$(ls "$WORK" | grep '^ran-')" ] || fail "an external program ran for xz/bzip2"

# --- outputs never destroy inputs
cp -a "$SD" "$WORK/store-before"
bl 1 "is the input '$SD'" --closure "$C" --force -o "$SD"
bl 1 "would replace the input '$SD', which lies inside it" --closure "$C" --force -o "$WORK/s/nix"
bl 1 "would replace the input" --closure "$C" --force -o "$WORK/s"
bl 1 "is the input '$C'" --closure "$C" --force --format tarball -o "$C"
printf '{"Cmd":["/x"]}' > "$WORK/config.json"
bl 1 "is the input '$WORK/config.json'" --closure "$C" --config "$WORK/config.json" --force --format tarball -o "$WORK/config.json"
P1=$(ls -d "$SD"/*-glibc-*)
bl 1 "lies inside the input" --closure "$C" --contents "$P1" -o "$P1/image"
mknod "$WORK/null" c 1 3
bl 1 "refusing to replace '$WORK/null': it is a character device" --closure "$C" --force --format tarball -o "$WORK/null"
[ -c "$WORK/null" ] || fail "the device node was replaced"
mkfifo "$WORK/fifo"
bl 1 "refusing to replace '$WORK/fifo': it is a fifo" --closure "$C" --force -o "$WORK/fifo"
mkdir "$WORK/elsewhere" && echo keep > "$WORK/elsewhere/precious" && ln -s "$WORK/elsewhere" "$WORK/link"
bl 1 "refusing to replace '$WORK/link': it is a symlink" --closure "$C" --force -o "$WORK/link"
bl 1 "refusing to replace '$WORK/elsewhere': a directory that is not an OCI image layout" --closure "$C" --force -o "$WORK/elsewhere"
assert_eq "$(cat "$WORK/elsewhere/precious")" keep "a foreign directory"
$MDA "$WORK/in.tar"
expect 1 "is the input '$WORK/in.tar'" convert -q --force --format tarball "$WORK/in.tar" -o "$WORK/in.tar"
diff -r "$SD" "$WORK/store-before" > /dev/null || fail "the store changed"

# --- bounded resources: devices, fifos, huge files are refused at once
bl 1 "closure file '/dev/zero' is a character device, not a regular file" --closure /dev/zero -o "$OUT"
bl 1 "config file '/dev/zero' is a character device" --closure "$C" --config /dev/zero -o "$OUT"
bl 1 "conf file '/dev/zero' is a character device" --conf /dev/zero -o "$OUT"
bl 1 "closure file '$WORK/fifo' is a fifo" --closure "$WORK/fifo" -o "$OUT"
bl 1 "closure file '$WORK/s' is a directory" --closure "$WORK/s" -o "$OUT"
truncate -s 2G "$WORK/huge.json"
bl 1 "is 2147483648 bytes, more than the 1024 MiB strata reads" --closure "$WORK/huge.json" -o "$OUT"
rm "$WORK/huge.json"
mkdir "$WORK/custfifo" && mkfifo "$WORK/custfifo/layer.tar"
printf '{"store_layers":[],"customisation_layer":"%s"}' "$WORK/custfifo" > "$WORK/cf.json"
bl 1 "customisation layer '$WORK/custfifo/layer.tar' is a fifo" --conf "$WORK/cf.json" -o "$OUT"
mkdir "$WORK/custdev" && ln -s /dev/zero "$WORK/custdev/layer.tar"
printf '{"store_layers":[],"customisation_layer":"%s"}' "$WORK/custdev" > "$WORK/cd.json"
bl 1 "is a character device" --conf "$WORK/cd.json" -o "$OUT"
# verify: blobs that are not files, or not the descriptor's size
for kind in fifo chardev symlink sparse; do
  img "$WORK/vb-$kind"
  case $kind in
    fifo) mkfifo "$WORK/x" ;;
    chardev) mknod "$WORK/x" c 1 5 ;;
    symlink) ln -s /etc/passwd "$WORK/x" ;;
    sparse) truncate -s 64G "$WORK/x" ;;
  esac
  $FORGE "$WORK/vb-$kind" blob-swap 0 "$WORK/x"
done
expect 1 "is a fifo, not a regular file" verify "$WORK/vb-fifo"
expect 1 "is a character device, not a regular file" verify "$WORK/vb-chardev"
expect 1 "is a symlink, not a regular file" verify "$WORK/vb-symlink"
expect 1 "is 68719476736 bytes, descriptor says" verify "$WORK/vb-sparse"
img "$WORK/vi"; rm "$WORK/vi/index.json"; ln -s /etc/shadow "$WORK/vi/index.json"
expect 1 "index file 'index.json' is a symlink" verify "$WORK/vi"
img "$WORK/vl"; rm "$WORK/vl/oci-layout"; mknod "$WORK/vl/oci-layout" c 1 5
expect 1 "layout file 'oci-layout' is a character device" verify "$WORK/vl"
# verify checks each manifest once, however many tags name it
img "$WORK/vt"; $FORGE "$WORK/vt" tags t1 t2 t3 t4
"$STRATA" verify "$WORK/vt" | grep -q "OK (1 manifests" || fail "one manifest verified more than once"
# convert: sparse "JSON" members neither fill memory nor pass
python3 - "$WORK/sparse-json.tar" <<'P'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w:gz") as t:
    for i in range(40):
        data = b"{" + b" " * (20 << 20)
        ti = tarfile.TarInfo("c%02d.json" % i); ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    m = b'[{"Config":"c00.json","RepoTags":["x:y"],"Layers":[]}]'
    ti = tarfile.TarInfo("manifest.json"); ti.size = len(m); t.addfile(ti, io.BytesIO(m))
P
set +e; /usr/bin/time -f '%M' -o "$WORK/rss" "$STRATA" convert -q "$WORK/sparse-json.tar" -o "$OUT" 2> "$WORK/err"; rc=$?; set -e
[ "$rc" = 1 ] && grep -q "config 'c00.json' is larger than 16 MiB" "$WORK/err" || fail "sparse JSON: $rc $(cat "$WORK/err")"
[ "$(tail -1 "$WORK/rss")" -lt 200000 ] || fail "sparse JSON members took $(tail -1 "$WORK/rss") KB"
no_leftovers "$WORK"
# --threads 1024: the chunk budget and codecs follow the cores, not the threads
for t in 2 1024; do
  /usr/bin/time -f '%M' -o "$WORK/rss-$t" "$STRATA" build-layered -q --store-dir "$SD" --closure "$C" --threads "$t" -o "$WORK/t$t"
done
# what is left is each thread's own stack and bookkeeping: under 24 KB a thread
# (sanitizers give each thread shadow memory of their own: not measured there)
extra=$(( ($(tail -1 "$WORK/rss-1024") - $(tail -1 "$WORK/rss-2")) / 1022 ))
[ -n "${STRATA_SANITIZER:-}" ] || [ "$extra" -lt 24 ] || fail "--threads 1024 took $(tail -1 "$WORK/rss-1024") KB against $(tail -1 "$WORK/rss-2") KB for 2"
cmp "$WORK/t2/index.json" "$WORK/t1024/index.json" || fail "--threads 1024 changed the bytes"

# --- false results: verify checks what clients check
img "$WORK/vz" --compress zstd;  $FORGE "$WORK/vz" layer-type 0 application/vnd.oci.image.layer.v1.tar+gzip
expect 1 "the blob is zstd-compressed but its media type application/vnd.oci.image.layer.v1.tar+gzip says gzip" verify "$WORK/vz"
img "$WORK/vg";  $FORGE "$WORK/vg" layer-type 0 application/vnd.oci.image.layer.v1.tar
expect 1 "the blob is gzip-compressed but its media type application/vnd.oci.image.layer.v1.tar says none" verify "$WORK/vg"
echo "this is not a tar archive, just text" > "$WORK/text"
img "$WORK/vx" --compress none; $FORGE "$WORK/vx" layer-blob 0 "$WORK/text" plain
expect 1 "layer 0 is not a valid tar archive: no tar header" verify "$WORK/vx"
img "$WORK/vtr" --compress none
first=$(layer_blobs "$WORK/vtr" | head -1 | cut -d' ' -f1); head -c 1700 "$WORK/vtr/blobs/sha256/$first" > "$WORK/trunc"
$FORGE "$WORK/vtr" layer-blob 0 "$WORK/trunc" plain
expect 1 "layer 0 is not a valid tar archive: truncated" verify "$WORK/vtr"
img "$WORK/vc"; $FORGE "$WORK/vc" config-set created '"9999-99-99"'
expect 1 "config: 'created'" verify "$WORK/vc"
img "$WORK/vh"; $FORGE "$WORK/vh" config-set history '[{"created_by": 7}]'
expect 1 "history\[0\]: 'created_by' must be a string" verify "$WORK/vh"
img "$WORK/vr"; $FORGE "$WORK/vr" tags "../x"
expect 1 "'../x' is not a valid image reference" verify "$WORK/vr"
# a customisation layer.tar that is not a tar does not become a layer
mkdir "$WORK/custtext" && cp "$WORK/text" "$WORK/custtext/layer.tar"
printf '{"store_layers":[],"customisation_layer":"%s"}' "$WORK/custtext" > "$WORK/ct.json"
bl 1 "layer.tar is not a valid tar archive: no tar header" --conf "$WORK/ct.json" -o "$OUT"
# a valid layer whose first member is named "[" is a layer, not JSON
python3 - "$WORK/bracket.tar" <<'P'
import hashlib, io, json, sys, tarfile
lb = io.BytesIO()
with tarfile.open(fileobj=lb, mode="w") as t:
    ti = tarfile.TarInfo("[weird]"); ti.size = 3; t.addfile(ti, io.BytesIO(b"hi\n"))
layer = lb.getvalue(); diff = hashlib.sha256(layer).hexdigest()
cfg = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff]}}).encode()
with tarfile.open(sys.argv[1], "w") as t:
    for name, data in [("l/layer.tar", layer), ("c.json", cfg),
                       ("manifest.json", json.dumps([{"Config": "c.json", "RepoTags": ["b:1"], "Layers": ["l/layer.tar"]}]).encode())]:
        ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
P
"$STRATA" convert -q "$WORK/bracket.tar" -o "$WORK/bracket" && "$STRATA" verify -q "$WORK/bracket"

# --- names and times
bl 1 "out of range (1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z)" --closure "$C" --created 9999-12-31T23:59:60Z -o "$OUT"
bl 1 "out of range" --closure "$C" --mtime 9999-12-31T23:30:00-01:00 -o "$OUT"
bl 1 "out of range" --closure "$C" --created 1969-12-31T23:59:59Z -o "$OUT"
bl 1 "'../x' is not a valid tag" --closure "$C" --tag ../x -o "$OUT"
bl 1 "'a b' is not a valid tag" --closure "$C" --tag "a b" -o "$OUT"
bl 1 "'' is not a valid tag" --closure "$C" --tag "" -o "$OUT"
bl 1 "'Upper/Case' is not a valid image name" --closure "$C" --name Upper/Case -o "$OUT"
python3 - "$C" "$SD" "$WORK/rt.json" <<'P'
import json, sys
c = json.load(open(sys.argv[1]))
json.dump({"store_layers": [[e["path"]] for e in c], "store_dir": sys.argv[2], "repo_tag": "my image:v1"}, open(sys.argv[3], "w"))
P
bl 1 "repo_tag: reference 'my image:v1': 'my image' is not a valid image name" --conf "$WORK/rt.json" -o "$OUT"
$MDA "$WORK/tags.tar"
python3 - "$WORK/tags.tar" <<'P'
import io, json, sys, tarfile
src = tarfile.open(sys.argv[1])
members = [(m, src.extractfile(m).read()) for m in src.getmembers()]
def write(path, tags):
    with tarfile.open(path, "w") as t:
        for m, data in members:
            if m.name == "manifest.json":
                man = json.loads(data); man[0]["RepoTags"] = tags; data = json.dumps(man).encode()
                m.size = len(data)
            t.addfile(m, io.BytesIO(data))
write(sys.argv[1] + ".bad", ["../x:1"])
write(sys.argv[1] + ".nonstr", [7])
write(sys.argv[1] + ".dup", ["a/b:1", "a/b:1", "a/b:2"])
P
expect 1 "RepoTags\[0\]: reference '../x:1'" convert -q "$WORK/tags.tar.bad" -o "$OUT"
expect 1 "RepoTags\[0\] is not a string" convert -q "$WORK/tags.tar.nonstr" -o "$OUT"
"$STRATA" convert -q "$WORK/tags.tar.dup" -o "$WORK/dup"
python3 -c 'import json,sys;r=[m["annotations"]["org.opencontainers.image.ref.name"] for m in json.load(open(sys.argv[1]))["manifests"]];assert r==["1","2"],r' "$WORK/dup/index.json"
python3 -c 'import json,sys;r=[m["annotations"]["io.containerd.image.name"] for m in json.load(open(sys.argv[1]))["manifests"]];assert r==["docker.io/a/b:1","docker.io/a/b:2"],r' "$WORK/dup/index.json"
$MDA "$WORK/two.tar" --images 2
python3 - "$WORK/two.tar" <<'P'
import io, json, sys, tarfile
src = tarfile.open(sys.argv[1]); out = tarfile.open(sys.argv[1] + ".same", "w")
for m in src.getmembers():
    data = src.extractfile(m).read()
    if m.name == "manifest.json":
        man = json.loads(data)
        for e in man: e["RepoTags"] = ["same:tag"]
        data = json.dumps(man).encode(); m.size = len(data)
    out.addfile(m, io.BytesIO(data))
out.close()
P
expect 1 "'same:tag' names two different images" convert -q "$WORK/two.tar.same" -o "$OUT"
# store dirs are normalised: a trailing slash, doubled slashes
img "$WORK/n1"; rm -rf "$WORK/n2"
"$STRATA" build-layered -q --store-dir "$SD//" --closure "$C" -o "$WORK/n2"
cmp "$WORK/n1/index.json" "$WORK/n2/index.json" || fail "--store-dir with a trailing slash"
bl 1 "store directory '$SD/../store' must not contain '.' or '..'" --store-dir "$SD/../store" --closure "$C" -o "$OUT"
expect 1 "store directory '/' cannot be the root directory" build-layered -q --store-dir / --closure "$C" -o "$OUT"

# --- messages: escaped, bounded, naming the OS error
ESC=$(printf 'bad\033[31mname\007')
chmod u+w "$P1"; mkfifo "$P1/$ESC"
bl 1 "bad\\\\x1b\[31mname\\\\x07' is a fifo" --closure "$C" -o "$OUT"
grep -q "$(printf '\033')" "$WORK/err" && fail "a raw ESC byte reached the terminal"
rm "$P1/$ESC"
chmod u-w "$P1"
# a 60,000-character store path name: the message keeps head and tail
long_name="$P1$(head -c 60000 /dev/zero | tr '\0' a)"
printf '[{"path":"%s","narSize":1}]' "$long_name" > "$WORK/long.json"
bl 1 "bytes cut" --closure "$WORK/long.json" -o "$OUT"
[ "$(wc -c < "$WORK/err")" -lt 1300 ] || fail "an error line of $(wc -c < "$WORK/err") bytes"
mkdir "$WORK/small" && mount -t tmpfs -o size=256k tmpfs "$WORK/small"
trap 'umount "$WORK/small" 2>/dev/null; cleanup_work' EXIT
head -c 2000000 /dev/urandom > "$WORK/rand"
python3 - "$WORK/rand" "$WORK/bigarch.tar" <<'P'
import hashlib, io, json, sys, tarfile
data = open(sys.argv[1], "rb").read()
lb = io.BytesIO()
with tarfile.open(fileobj=lb, mode="w") as t:
    ti = tarfile.TarInfo("f"); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
layer = lb.getvalue()
cfg = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()
with tarfile.open(sys.argv[2], "w") as t:
    for name, d in [("l/layer.tar", layer), ("c.json", cfg),
                    ("manifest.json", json.dumps([{"Config": "c.json", "RepoTags": ["b:1"], "Layers": ["l/layer.tar"]}]).encode())]:
        ti = tarfile.TarInfo(name); ti.size = len(d); t.addfile(ti, io.BytesIO(d))
P
set +e; "$STRATA" convert -q "$WORK/bigarch.tar" -o "$WORK/small/img" 2> "$WORK/err"; rc=$?; set -e
[ "$rc" = 1 ] && grep -q "No space left on device" "$WORK/err" || fail "convert ENOSPC: $rc $(cat "$WORK/err")"
[ -z "$(ls -A "$WORK/small")" ] || fail "convert ENOSPC left files"
"$STRATA" build-layered -q --store-dir "$SD" --closure "$C" --compress none --format tarball -o "$WORK/vt2.tar"
set +e; TMPDIR="$WORK/small" "$STRATA" verify "$WORK/vt2.tar" 2> "$WORK/err"; rc=$?; set -e
[ "$rc" = 1 ] && grep -q "No space left on device" "$WORK/err" || fail "verify ENOSPC: $rc $(cat "$WORK/err")"
[ -z "$(ls -A "$WORK/small")" ] || fail "verify ENOSPC left files"
echo ok
