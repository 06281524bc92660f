# Replays every fuzz target's corpus (seeds and kept crash inputs) through
# the parsers, as the sanitizer build under make check-asan.
. "$STRATA_TOP/tests/lib.sh"
n=0
# whatever a target makes in TMPDIR is gone when it ends
mkdir "$WORK/tmp"; export TMPDIR="$WORK/tmp"
for t in "$TOP"/tests/fuzz/fuzz_*.c; do
  name=$(basename "$t" .c); name=${name#fuzz_}
  bin="$STRATA_BUILD/fuzz/replay_$name"
  [ -x "$bin" ] || fail "replay binary $bin missing"
  "$bin" "$TOP/tests/fuzz/corpus/$name" || fail "fuzz corpus $name"
  n=$((n + 1))
done
[ "$n" -ge 5 ] || fail "only $n fuzz targets"
[ -z "$(ls -A "$WORK/tmp")" ] || fail "left in TMPDIR: $(ls -A "$WORK/tmp")"
echo ok
