# Byte parity with nixpkgs' writer (issue 13): strata's headers, layers and
# docker-archive against tests/nix_stream_oracle.py (the standard library's
# tarfile and json, as nixpkgs uses them). Every comparison is cmp.
. "$STRATA_TOP/tests/lib.sh"
TOOL="$STRATA_BUILD/tools/tar_header"
ORACLE="python3 $TOP/tests/nix_stream_oracle.py"

# 1. Single headers: every rule of the encoding, against TarInfo.tobuf.
n99=$(printf 'a%.0s' $(seq 1 99)); n100="${n99}b"; n101="${n100}c"; n155=$(printf 'd%.0s' $(seq 1 155))
n156="${n155}e"; n300=$(printf 'f%.0s' $(seq 1 300)); u40=$(printf 'u%.0s' $(seq 1 40))
n250=$(printf 'g%.0s' $(seq 1 250))
header_case() { # NAME LINK TYPE MODE UID GID SIZE MTIME UNAME GNAME
  "$TOOL" "$@" > "$WORK/ours"
  python3 - "$@" > "$WORK/theirs" <<'P'
import os, sys, tarfile
a = [os.fsdecode(os.fsencode(x)) for x in sys.argv[1:]]
ti = tarfile.TarInfo(a[0])
ti.linkname, ti.type = a[1], a[2].encode()
ti.mode, ti.uid, ti.gid, ti.size, ti.mtime = (int(x) for x in a[3:8])
ti.uname, ti.gname = a[8], a[9]
sys.stdout.buffer.write(ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
P
  cmp -s "$WORK/ours" "$WORK/theirs" || fail "header differs from CPython's for: $* ($(cmp "$WORK/ours" "$WORK/theirs"))"
}
for name in "/$n99" "/$n100" "$n100" "$n101" "/nix/store/$n155" "/x/$n156" "/$n300/" "/h\xc3\xa9llo" \
            "/$(printf '\xff\xfe')bad" "/mix$(printf '\xe6\x97\xa5')$(printf '\xff')z$n100"; do
  header_case "$(printf "$name")" "" 0 292 0 0 5 1 root root
done
header_case /l "/$n100" 2 511 0 0 0 1 root root
header_case /l "/$n99" 2 511 0 0 0 1 root root
header_case /l "$(printf '/t\xc3\xa9')" 2 511 0 0 0 1 root root
header_case "/$n101" "/$n101" 2 511 0 0 0 1 root root
header_case /d/ "" 5 1517 0 0 0 1 root root                  # 02755
header_case /s "" 0 2541 3000000 3000000 1 1 root root       # 04755, ids >= 2^21
header_case /big "" 0 292 0 0 9663676416 1 root root         # 9 GiB
header_case /old "" 0 292 0 0 0 8589934592 root root         # mtime >= 8^11
header_case /o "" 0 292 0 0 0 1 "$u40" "$(printf 'gr\xc3\xbcn')" # long and non-ASCII owners
header_case /z "" 0 292 2097151 2097152 8589934591 8589934591 a b

# 2. Whole store layers of tricky trees, --conf with a non-default store_dir:
#    strata's uncompressed layers must be the oracle's, byte for byte.
SD="$WORK/st/nix/store"
A="$SD/0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a-tricky"; B="$SD/1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b-link"
C="$SD/2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c-sparse"
mkdir -p "$A/sub/empty" "$A/$n155" "$C"
mkdir -p "$A/$n250/$n155"; echo deep > "$A/$n250/$n155/$n250"   # a path over 600 bytes
for n in "$n99" "$n100" "$n101" "$n250" "$(printf 'h\xc3\xa9llo')" "$(printf '\xe6\x97\xa5\xe6\x9c\xac')" \
         "$(printf 'bad\xff\xfe')" "$(printf 'x\xed\xa0\x80y')" "$(printf 'q\xf0\x9f\x98\x80')" "$(printf 'q\xff')" "a-b" "a.b" "A"; do
  echo "$n" > "$A/sub/$n"
done
mkdir -p "$A/a/b"; echo x > "$A/a/b/c"; echo y > "$A/a-b"
ln -s "/$n300" "$A/longlink"; ln -s "$(printf '/t\xc3\xa9st')" "$A/utflink"; ln -s ../sub "$A/rel"
echo same > "$A/hard1"; ln "$A/hard1" "$A/hard2"
echo s > "$A/suid"; chmod 4755 "$A/suid"; chmod 1777 "$A/sub/empty"
ln -s "$A" "$B"
truncate -s 100M "$C/hole"; printf data | dd of="$C/hole" bs=1 seek=50000000 conv=notrunc 2>/dev/null
mkdir -p "$WORK/cust/t/etc" && echo hi > "$WORK/cust/t/etc/motd"
tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@1 -C "$WORK/cust/t" -cf "$WORK/cust/layer.tar" .
sha256sum "$WORK/cust/layer.tar" | cut -c1-64 > "$WORK/cust/checksum"
python3 - "$WORK/conf.json" "$SD" "$A" "$B" "$C" "$WORK/cust" "$u40" <<'P'
import json, sys
out, sd, a, b, c, cust, u40 = sys.argv[1:]
json.dump({"architecture": "amd64", "config": {"Env": ["PATH=/bin", "Z=\u00e9"], "Cmd": ["/bin/sh"], "Labels": {}},
           "created": "2024-05-06T07:08:09+00:00", "mtime": "1970-01-01T00:00:01+00:00",
           "uid": "3000000", "gid": "100", "uname": u40, "gname": "users", "store_dir": sd, "from_image": None,
           "store_layers": [[a], [b], [c], [a, c]], "customisation_layer": cust, "repo_tag": "tricky:v1"},
          open(out, "w"))
P
"$STRATA" build-layered -q --conf "$WORK/conf.json" --compress none -o "$WORK/img"
layer_blobs "$WORK/img" > "$WORK/blobs"
for i in 0 1 2 3; do
  $ORACLE layer "$WORK/conf.json" "$i" "$WORK/o$i.tar"
  blob=$(sed -n "$((i + 1))p" "$WORK/blobs" | cut -d' ' -f1)
  cmp "$WORK/img/blobs/sha256/$blob" "$WORK/o$i.tar" || fail "store layer $i differs from nixpkgs' bytes"
done
"$STRATA" verify -q "$WORK/img"
echo ok
