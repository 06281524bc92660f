# Tar entries and headers for tricky trees, read back with Python's tarfile:
# long and non-ASCII names, pathlib order (a/b before a-b), empty dirs,
# dangling and absolute symlinks, hardlinks as regular files, special modes,
# a sparse file over 8 GiB (pax size record), and a fifo (an error).
. "$STRATA_TOP/tests/lib.sh"
SD="$WORK/nix/store"
P="$SD/0123456789abcdfghijklmnpqrsvwxyz-tricky"
mkdir -p "$P/a" "$P/empty" "$P/$(printf 'caf\xc3\xa9')" "$P/deep"
echo b > "$P/a/b"; echo ab > "$P/a-b"; echo a0 > "$P/a0"
long=$(printf 'n%.0s' $(seq 1 200))
echo long > "$P/$long"
d="$P/deep"; for i in 1 2 3; do d="$d/$(printf 'd%.0s' $(seq 1 90))$i"; done
mkdir -p "$d" && echo deep > "$d/f"          # a path over 255 bytes
echo x > "$P/$(printf 'caf\xc3\xa9')/$(printf '\xe2\x98\x83')"
ln -s does-not-exist "$P/dangling"; ln -s /etc/passwd "$P/absolute"
echo same > "$P/hard1"; ln "$P/hard1" "$P/hard2"
echo s > "$P/setuid"; chmod 04755 "$P/setuid"
echo r > "$P/ro"; chmod 0444 "$P/ro"
echo x > "$P/x"; chmod 0555 "$P/x"
echo "$P" > "$WORK/paths.txt"

"$STRATA" build-layered --closure "$WORK/paths.txt" --store-dir "$SD" --compress none --mtime 1234 \
  --uid 7 --gid 8 --uname u --gname g -q -o "$WORK/img"
blob=$(layer_blobs "$WORK/img" | head -1 | cut -d' ' -f1)
python3 - "$WORK/img/blobs/sha256/$blob" "$SD" <<'P'
import sys, tarfile
t = tarfile.open(sys.argv[1]); sd = sys.argv[2]
ms = t.getmembers()
names = [m.name for m in ms]
pre = sd + "/0123456789abcdfghijklmnpqrsvwxyz-tricky"
# absolute names (as nixpkgs writes them); store-dir ancestors first, each a
# directory with mode 0755
anc = sd.split("/")[1:]
for i in range(len(anc)):
    assert names[i] == "/" + "/".join(anc[:i + 1]), (i, names[i])
    assert ms[i].isdir() and ms[i].mode == 0o755
rel = [n[len(pre) + 1:] for n in names if n.startswith(pre + "/")]
# pathlib order: component-wise, so a/b sorts before a-b and a0
assert rel.index("a") < rel.index("a/b") < rel.index("a-b") < rel.index("a0"), rel[:6]
assert rel == sorted(rel, key=lambda s: s.encode("utf-8", "surrogateescape").split(b"/")), rel
m = {n[len(pre) + 1:]: x for n, x in zip(names, ms) if n.startswith(pre + "/")}
assert "n" * 200 in m and m["n" * 200].isfile()
assert any(len(n) > 255 for n in names), "no path over 255 bytes"
assert "caf\u00e9/\u2603" in m, "non-ASCII name lost"
assert m["empty"].isdir()
assert m["dangling"].issym() and m["dangling"].linkname == "does-not-exist"
assert m["absolute"].issym() and m["absolute"].linkname == "/etc/passwd"
for h in ("hard1", "hard2"):          # hardlinks become regular files
    assert m[h].isreg() and m[h].size == 5, h
assert t.extractfile(m["hard2"]).read() == b"same\n"
assert m["setuid"].mode == 0o4755 and m["ro"].mode == 0o444 and m["x"].mode == 0o555
for x in ms:
    assert x.mtime == 1234 and x.uid == 7 and x.gid == 8 and x.uname == "u" and x.gname == "g", x.name
    assert not x.pax_headers.get("atime") and not x.pax_headers.get("ctime")
# directories carry a trailing slash in the raw header
raw = open(sys.argv[1], "rb").read()
assert (pre + "/empty/").encode() in raw
assert len(raw) % 10240 == 0, "not padded to a 10240-byte record"
P

# A fifo is an error naming the path, and nothing is left behind.
mkfifo "$P/fifo"
if "$STRATA" build-layered --closure "$WORK/paths.txt" --store-dir "$SD" -q -o "$WORK/img2" 2> "$WORK/err"; then
  fail "fifo accepted"
fi
grep -q "fifo" "$WORK/err" && grep -q "$P/fifo" "$WORK/err" || fail "fifo error: $(cat "$WORK/err")"
[ "$(wc -l < "$WORK/err")" = 1 ] || fail "error is not one line"
[ ! -e "$WORK/img2" ] || fail "output left after the fifo error"
no_leftovers "$WORK"
rm "$P/fifo"

# A sparse file over 8 GiB: the ustar size field overflows, a pax size
# record carries it. (Reads 9 GiB of zeros: skipped under sanitizers.)
if [ -z "${STRATA_SANITIZER:-}" ]; then
  Q="$SD/11111111111111111111111111111111-sparse"
  mkdir -p "$Q" && truncate -s 9G "$Q/big"
  # JSON with narSize: no reference-scanning pass; zstd -1 is fast on zeros.
  printf '[{"path":"%s","narSize":9663676416,"references":[]}]' "$Q" > "$WORK/sparse.json"
  "$STRATA" build-layered --closure "$WORK/sparse.json" --store-dir "$SD" --compress zstd --level 1 \
    --json -q -o "$WORK/img3" > "$WORK/s3.json"
  blob=$(layer_blobs "$WORK/img3" | head -1 | cut -d' ' -f1)
  zstd -dc "$WORK/img3/blobs/sha256/$blob" 2>/dev/null | head -c 65536 > "$WORK/head" || true
  grep -qa "size=9663676416" "$WORK/head" || fail "no pax size record for the 9 GiB file"
  python3 -c 'import json,sys;s=json.load(open(sys.argv[1]));assert s["layers"][0]["uncompressed_size"]>9663676416' "$WORK/s3.json"
fi
echo ok
