# Options and environment: SOURCE_DATE_EPOCH and --created now, the progress
# line on a terminal (and none with --quiet or without a terminal), the
# default thread count capped by the CPU affinity, the hwloc fallback notice,
# --architecture, --help and usage errors.
. "$STRATA_TOP/tests/lib.sh"
gen_store "$WORK/s" --paths 4
SD="$WORK/s/nix/store"
B=(build-layered --closure "$WORK/s/closure.json" --store-dir "$SD")
created() { python3 -c 'import json,sys;d=sys.argv[1];b=d+"/blobs/sha256/";m=json.load(open(b+json.load(open(d+"/index.json"))["manifests"][0]["digest"][7:]));print(json.load(open(b+m["config"]["digest"][7:]))["created"])' "$1"; }

SOURCE_DATE_EPOCH=315532800 "$STRATA" "${B[@]}" -q -o "$WORK/sde"
assert_eq "$(created "$WORK/sde")" "1980-01-01T00:00:00Z" "created from SOURCE_DATE_EPOCH"
SOURCE_DATE_EPOCH=315532800 "$STRATA" "${B[@]}" -q --created 2001-02-03T04:05:06+01:00 -o "$WORK/explicit"
assert_eq "$(created "$WORK/explicit")" "2001-02-03T03:05:06Z" "--created wins over SOURCE_DATE_EPOCH"
"$STRATA" "${B[@]}" -q --created now -o "$WORK/now"
year=$(created "$WORK/now" | cut -c1-4)
[ "$year" -ge 2024 ] || fail "--created now gave $year"
if SOURCE_DATE_EPOCH=yesterday "$STRATA" "${B[@]}" -q -o "$WORK/bad" 2> "$WORK/err"; then fail "bad SOURCE_DATE_EPOCH accepted"; fi
grep -q "SOURCE_DATE_EPOCH" "$WORK/err" || fail "$(cat "$WORK/err")"
"$STRATA" "${B[@]}" -q --architecture arm64 -o "$WORK/arm"
skopeo --insecure-policy inspect oci:"$WORK/arm":"$(ref_of "$WORK/arm")" | grep -q '"Architecture": "arm64"' || fail "--architecture"

# progress: on a terminal (script gives the command a pty), not with -q
script -qec "'$STRATA' ${B[*]} -o '$WORK/tty'" /dev/null > "$WORK/tty.log" 2>&1
grep -q "MB/s" "$WORK/tty.log" || fail "no progress line on a terminal: $(cat "$WORK/tty.log")"
script -qec "'$STRATA' ${B[*]} -q -o '$WORK/tty-q'" /dev/null > "$WORK/ttyq.log" 2>&1
! grep -q "MB/s" "$WORK/ttyq.log" || fail "progress printed with --quiet"
"$STRATA" "${B[@]}" -o "$WORK/notty" 2> "$WORK/notty.err"
! grep -q "MB/s" "$WORK/notty.err" || fail "progress printed without a terminal"

# threads: the default follows the cores this process may use
t=$(taskset -c 0 "$STRATA" "${B[@]}" --json -q -o "$WORK/one" | python3 -c 'import json,sys;print(json.load(sys.stdin)["threads"])')
assert_eq "$t" 1 "default threads under taskset -c 0"
# hwloc cannot read a topology: one notice line, and the build still works
HWLOC_COMPONENTS=-linux,-x86,-no_os "$STRATA" "${B[@]}" -o "$WORK/nohwloc" 2> "$WORK/hw.err" || fail "build without hwloc topology"
grep -q "^strata: notice: hwloc could not read the CPU topology" "$WORK/hw.err" || fail "no hwloc notice: $(cat "$WORK/hw.err")"
[ "$(grep -c . "$WORK/hw.err")" = 2 ] || fail "more than the notice and the summary line: $(cat "$WORK/hw.err")"
"$STRATA" verify -q "$WORK/nohwloc"

# help and usage
"$STRATA" --help | grep -q build-layered || fail "--help"
for c in build-layered convert container verify; do "$STRATA" $c --help | grep -q "^Usage: strata $c" || fail "$c --help"; done
set +e; "$STRATA" frobnicate 2> "$WORK/err"; rc=$?; set -e
assert_eq "$rc" 2 "unknown command exit"
"$STRATA" --version | grep -q "^strata " || fail "--version"
# a bad option: one line naming it (and the --help hint), exit 2, never
# getopt's own message beside ours
bad() { # expected-line args...
	local want=$1; shift
	set +e; "$STRATA" "$@" 2> "$WORK/err"; rc=$?; set -e
	assert_eq "$rc" 2 "exit of: $*"
	assert_eq "$(head -1 "$WORK/err")" "$want" "message of: $*"
	assert_eq "$(wc -l < "$WORK/err")" 2 "lines of: $*"
}
bad "strata build-layered: unknown option '-t'" "${B[@]}" -t2 -o "$WORK/x"
bad "strata build-layered: unknown option '--frob'" "${B[@]}" --frob -o "$WORK/x"
bad "strata build-layered: unknown option '-x'" "${B[@]}" -qx -o "$WORK/x"
bad "strata build-layered: option '--output' needs a value" "${B[@]}" --output
bad "strata build-layered: option '-o' needs a value" "${B[@]}" -o
bad "strata convert: option '--threads' needs a value" convert --threads
bad "strata push: unknown option '--nope'" push --nope a b
bad "strata verify: unknown option '-z'" verify -z x
bad "strata stream-layered: unknown option '--no-such'" stream-layered --no-such x
bad "strata container: unknown option '--bad'" container --bad -o x -- true
[ ! -e "$WORK/x" ] || fail "a usage error left output"
echo ok
