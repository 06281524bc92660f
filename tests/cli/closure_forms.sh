# Every closure input form of the same closure gives the same image; --root
# restricts the closure; references found by scanning equal the declared ones.
. "$STRATA_TOP/tests/lib.sh"
gen_store "$WORK/s" --paths 10
SD="$WORK/s/nix/store"
build() { "$STRATA" build-layered --store-dir "$SD" --tag t -q "$@"; }
for f in closure attrs path-info path-info-array; do
  build --closure "$WORK/s/$f.json" -o "$WORK/img-$f"
done
build --closure "$WORK/s/paths.txt" -o "$WORK/img-text"
# The text form's paths are scanned in parallel: the same references and
# image with one worker or four.
build --closure "$WORK/s/paths.txt" --threads 1 -o "$WORK/img-text1"
build --closure "$WORK/s/paths.txt" --threads 4 -o "$WORK/img-text4"
ref=$(manifest_json "$WORK/img-closure" | sha256sum)
for f in attrs path-info path-info-array text text1 text4; do
  [ "$(manifest_json "$WORK/img-$f" | sha256sum)" = "$ref" ] || fail "form '$f' gives a different image"
done
# Both layering algorithms, and a popularity image differs from an auto one
# only in how paths are grouped.
build --closure "$WORK/s/closure.json" --layering popularity --max-layers 4 --json -o "$WORK/pop" > "$WORK/pop.json"
python3 - "$WORK/pop.json" <<'P'
import json, sys
s = json.load(open(sys.argv[1]))
assert len(s["layers"]) == 3, len(s["layers"])   # max-layers 4, one reserved
assert [len(l["store_paths"]) for l in s["layers"]][:2] == [1, 1]
assert sum(len(l["store_paths"]) for l in s["layers"]) == 10
P
# --root: only the closure of one path (the first line of closure.json's
# smallest dependency set is whatever has no references).
leaf=$(python3 -c 'import json,sys;print([e["path"] for e in json.load(open(sys.argv[1])) if not e["references"]][0])' "$WORK/s/closure.json")
build --closure "$WORK/s/closure.json" --root "$leaf" --json -o "$WORK/leaf" > "$WORK/leaf.json"
python3 -c 'import json,sys;s=json.load(open(sys.argv[1]));p=[x for l in s["layers"] for x in l["store_paths"]];assert p==[sys.argv[2]],p' "$WORK/leaf.json" "$leaf"
# A zero-size closure entry list is an error, a root outside the closure too.
echo '[]' > "$WORK/empty.json"
if build --closure "$WORK/empty.json" -o "$WORK/x" 2> "$WORK/err"; then fail "empty closure accepted"; fi
grep -q "no store paths" "$WORK/err" || fail "empty closure: $(cat "$WORK/err")"
if build --closure "$WORK/s/closure.json" --root "$SD/00000000000000000000000000000000-nope" -o "$WORK/x" 2> "$WORK/err"; then fail "bad root accepted"; fi
grep -q "not in the closure" "$WORK/err" || fail "bad root: $(cat "$WORK/err")"
[ ! -e "$WORK/x" ] || fail "output left after failure"
# Two paths that cannot be scanned: the error names the first in path
# order, whichever scan task fails first.
first=$(sort "$WORK/s/paths.txt" | head -n 1); last=$(sort "$WORK/s/paths.txt" | tail -n 1)
chmod u+w "$first" "$last"
mkfifo "$first/fifo" "$last/fifo"
for t in 1 4 4 4; do
  if build --closure "$WORK/s/paths.txt" --threads $t -o "$WORK/x" 2> "$WORK/err"; then fail "a fifo in a store path accepted"; fi
  grep -q "'$first/fifo' is a fifo" "$WORK/err" || fail "scan error with $t threads: $(cat "$WORK/err")"
done
[ ! -e "$WORK/x" ] || fail "output left after failure"
rm "$first/fifo" "$last/fifo"
echo ok
