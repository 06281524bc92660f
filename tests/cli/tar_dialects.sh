# Base images come in every tar dialect (GNU tar's gnu/oldgnu/ustar/posix/v7,
# Python's formats, pax global headers); nixpkgs' script reads their members
# with tarfile and writes them again. strata's reader and re-encoder
# (tests/tools/tar_copy) must give tarfile's bytes for every one (cmp), and
# refuse what it cannot reproduce with one line.
. "$STRATA_TOP/tests/lib.sh"
TOOL="$STRATA_BUILD/tools/tar_copy"
pycopy() {
  python3 - "$1" <<'P'
import sys, tarfile
src = tarfile.open(sys.argv[1])
with tarfile.open(fileobj=sys.stdout.buffer, mode="w|") as out:
    for m in src.getmembers():
        out.addfile(m, src.extractfile(m) if m.isreg() else None)
P
}
same() { # TAR: strata's copy must be tarfile's
  "$TOOL" "$1" > "$WORK/ours" || fail "tar_copy refused $1"
  pycopy "$1" > "$WORK/theirs"
  cmp -s "$WORK/ours" "$WORK/theirs" || fail "copy of $(basename "$1") differs from tarfile's ($(cmp "$WORK/ours" "$WORK/theirs"))"
}

T="$WORK/t"; S="$WORK/short"
n120=$(printf 'a%.0s' $(seq 1 120)); n60=$(printf 'b%.0s' $(seq 1 60)); n90=$(printf 'c%.0s' $(seq 1 90))
mkdir -p "$T/d/$n120/$n60" "$T/empty" "$S/sub"
echo x > "$T/d/$n120/$n60/f"; echo y > "$T/$(printf 'h\xc3\xa9')"; echo z > "$T/$(printf 'bad\xff')"
ln -s "/$n120/$n120" "$T/longlink"; ln -s "$(printf '/t\xc3\xa9')" "$T/utflink"
echo same > "$T/h1"; ln "$T/h1" "$T/h2"; echo s > "$T/suid"; chmod 4755 "$T/suid"; : > "$T/zero"
head -c 70000 /dev/urandom > "$T/bin"
echo a > "$S/sub/$n90"; ln -s ../x "$S/l"; echo b > "$S/f"
mkdir -p "$WORK/u/$n60/$n60"; echo p > "$WORK/u/$n60/$n60/p"   # a ustar prefix split
# sub-second times, rounded half to even by tarfile: .5 and .7 up, .2 down
touch -h -d @1700000001.5 "$T/h1" "$T/longlink"; touch -d @1700000002.7 "$T/bin"; touch -d @1700000003.2 "$T/zero"

for fmt in gnu oldgnu posix; do
  tar --format=$fmt -cf "$WORK/$fmt.tar" -C "$T" .; same "$WORK/$fmt.tar"
  tar --format=$fmt --owner=3000000 --group=3000001 --mtime=@10000000000 -cf "$WORK/$fmt-big.tar" -C "$T" .
  same "$WORK/$fmt-big.tar"
done
tar --format=ustar -cf "$WORK/ustar.tar" -C "$WORK/u" .; same "$WORK/ustar.tar"
tar --format=v7 -cf "$WORK/v7.tar" -C "$S" .; same "$WORK/v7.tar"
tar --format=posix --pax-option=globexthdr.name=g,comment=hello -cf "$WORK/paxg.tar" -C "$S" .; same "$WORK/paxg.tar"
python3 - "$T" "$WORK" <<'P'
import os, sys, tarfile
t, w = sys.argv[1:]
for name, fmt in (("py-gnu", tarfile.GNU_FORMAT), ("py-pax", tarfile.PAX_FORMAT), ("py-ustar", tarfile.USTAR_FORMAT)):
    kw = {"pax_headers": {"comment": "global \u00e9", "SCHILY.xattr.user.k": "v"}} if fmt == tarfile.PAX_FORMAT else {}
    with tarfile.open(os.path.join(w, name + ".tar"), "w", format=fmt, **kw) as out:
        for n in sorted(os.listdir(t)):
            if fmt == tarfile.USTAR_FORMAT and n in ("longlink", "d"):
                continue
            if fmt == tarfile.USTAR_FORMAT and not n.isascii():
                continue
            out.add(os.path.join(t, n), arcname=n)
# a member with its own records, a fractional mtime and a pax size
with tarfile.open(os.path.join(w, "py-records.tar"), "w", format=tarfile.PAX_FORMAT) as out:
    ti = tarfile.TarInfo("rec")
    ti.size, ti.mtime = 3, 1700000000.5
    ti.pax_headers = {"SCHILY.xattr.security.capability": "\x01\x02", "mtime": "1700000000.5"}
    import io
    out.addfile(ti, io.BytesIO(b"abc"))
    # hdrcharset after another record: tarfile reads it first
    ti = tarfile.TarInfo("charset")
    ti.pax_headers = {"comment": "c", "hdrcharset": "BINARY"}
    out.addfile(ti)
P
for f in py-gnu py-pax py-ustar py-records; do same "$WORK/$f.tar"; done

# What it refuses: a text file, a cut archive, a sparse member, a bad record.
refused() { # FILE WHY
  if "$TOOL" "$1" > /dev/null 2> "$WORK/err"; then fail "tar_copy accepted $2"; fi
  [ "$(wc -l < "$WORK/err")" = 1 ] || fail "$2: not one line: $(cat "$WORK/err")"
}
echo "not a tar at all, just text" > "$WORK/text"; refused "$WORK/text" "a text file"
head -c 1000 "$WORK/gnu.tar" > "$WORK/cut.tar"; refused "$WORK/cut.tar" "a cut header"
truncate -s 10M "$WORK/sp"; tar --format=posix --sparse -cf "$WORK/sparse.tar" -C "$WORK" sp
refused "$WORK/sparse.tar" "a sparse member"
python3 - "$WORK/badrec.tar" <<'P'
import sys
def hdr(name, size, typ):
    b = bytearray(512); b[0:len(name)] = name; b[100:108] = b"0000644\0"; b[108:116] = b"0000000\0"; b[116:124] = b"0000000\0"
    b[124:136] = b"%011o\0" % size; b[136:148] = b"00000000000\0"; b[156:157] = typ; b[257:265] = b"ustar\x0000"
    b[148:156] = b" " * 8; b[148:156] = b"%06o\0 " % sum(b); return bytes(b)
rec = b"99 path=x\n"
open(sys.argv[1], "wb").write(hdr(b"h", len(rec), b"x") + rec.ljust(512, b"\0") + hdr(b"f", 0, b"0") + bytes(1024))
P
refused "$WORK/badrec.tar" "a pax record whose length is wrong"
echo ok
