# strata — see README.md. `make check` installs what it needs (scripts/setup).
#
# Variants build into their own directories so they never mix objects:
#   make            -> build/        (-O2 -g)
#   make check-asan -> build-asan/   (ASan+UBSan, -fno-sanitize-recover=all)
#   make check-tsan -> build-tsan/   (TSan, every atomic seq_cst: TSan does
#                                     not model fences)

CC       ?= cc
PREFIX   ?= /usr/local
BUILD    ?= build
SAN      ?=
PKGS := libdeflate libarchive jansson hwloc libcrypto libzstd libcurl

WARN := -Wall -Wextra -Werror -Wpedantic -Wshadow -Wstrict-prototypes \
        -Wmissing-prototypes -Wvla -Wundef -Wimplicit-fallthrough -Wcast-qual \
        -Wno-overlength-strings
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=c11 $(WARN) $(CFLAGS) -Iengine -Ischeduler \
              $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -MMD -MP

# libdeflate statically: the shared build pays for PIC and hardening flags
# (17.8 s vs 21.8 s on the same 1.8 GB tar, DESIGN.md section 4).
# Debian's libdeflate.pc reports libdir=/usr/lib; the archive is multiarch.
DEFLATE_A := $(firstword $(wildcard $(shell $(CC) -print-multiarch 2>/dev/null | sed 's|^|/usr/lib/|')/libdeflate.a) \
               $(wildcard $(shell pkg-config --variable=libdir libdeflate 2>/dev/null)/libdeflate.a))
ifeq ($(wildcard $(DEFLATE_A)),)
DEFLATE_LIB := $(shell pkg-config --libs libdeflate 2>/dev/null)
else
DEFLATE_LIB := $(DEFLATE_A)
endif
LIBS := $(DEFLATE_LIB) $(shell pkg-config --libs libarchive jansson hwloc libcrypto libzstd zlib libcurl 2>/dev/null) -lpthread -lm

ifeq ($(SAN),asan)
  CC := clang
  ALL_CFLAGS += -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
  LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(SAN),fuzz)
  CC := clang
  ALL_CFLAGS += -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
  LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(SAN),tsan)
  CC := clang
  ALL_CFLAGS += -O1 -fsanitize=thread -DSTRATA_SEQ_CST
  LDFLAGS += -fsanitize=thread
endif

SCHED_SRC  := $(wildcard scheduler/*.c)
ENGINE_SRC := $(wildcard engine/*.c)
PROG_SRC   := $(wildcard programs/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

SCHED_OBJ  := $(SCHED_SRC:%.c=$(BUILD)/%.o)
ENGINE_OBJ := $(ENGINE_SRC:%.c=$(BUILD)/%.o)
PROG_OBJ   := $(PROG_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC   := $(wildcard tests/tools/*.c)
TOOL_BIN   := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_REPLAY := $(FUZZ_NAMES:%=$(BUILD)/fuzz/replay_%)
FUZZ_SECONDS ?= 60
LIB_A      := $(BUILD)/libstrata.a
STRATA     := $(BUILD)/strata
BENCH_BIN  := $(BUILD)/bench/bench_pool $(BUILD)/bench/deflate_limit $(BUILD)/bench/read_tree $(BUILD)/bench/runstat

.PHONY: all check check-asan check-tsan bench bench-quick demo install clean setup unit fuzz lint
all: $(STRATA)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB_A): $(ENGINE_OBJ) $(SCHED_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(STRATA): $(PROG_OBJ) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $(PROG_OBJ) $(LIB_A) $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_A) $(LIBS) -lcmocka

# Helpers the cli tests call (tests/tools/).
$(BUILD)/tools/%: tests/tools/%.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_A) $(LIBS)

# Fuzz targets as plain programs replaying their corpora (run by make check).
$(BUILD)/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ tests/fuzz/fuzz_$*.c tests/fuzz/replay.c $(LIB_A) $(LIBS)

# The same targets linked with libFuzzer (make fuzz, build-fuzz/).
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer $(LDFLAGS) -o $@ $< $(LIB_A) $(LIBS)

$(BUILD)/bench/%: bench/%.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_A) $(LIBS)

setup:
	@scripts/setup

# The structure rules (scripts/lint): symbol prefixes, include directions,
# thread rules in headers, function lengths.
lint: $(LIB_A)
	@scripts/lint $(BUILD)

unit: $(UNIT_BIN) $(STRATA) $(FUZZ_REPLAY) $(TOOL_BIN)

# The suite: every unit test binary and every tests/cli/*.sh, one summary line.
check: setup
	@$(MAKE) --no-print-directory unit
	@tests/run $(BUILD) $(CHECK_ONLY)

check-asan: setup
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=asan unit
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  STRATA_SANITIZER=asan tests/run build-asan $(CHECK_ONLY)

# TSan covers the pool and the build pipeline (the threaded parts).
check-tsan: setup
	@$(MAKE) --no-print-directory BUILD=build-tsan SAN=tsan unit
	@TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 STRATA_SANITIZER=tsan \
	  tests/run build-tsan $(or $(CHECK_ONLY),test_deque test_pool test_layer_writer test_docker_archive build_basic determinism convert base_image push gzip_members)

# Runs every fuzz target for FUZZ_SECONDS on a copy of its corpus; new
# crashes land in build-fuzz/ (keep them as regression seeds).
fuzz: setup
	@$(MAKE) --no-print-directory BUILD=build-fuzz SAN=fuzz $(FUZZ_NAMES:%=build-fuzz/fuzz/fuzz_%)
	@for t in $(FUZZ_NAMES); do \
	  mkdir -p build-fuzz/corpus-$$t && cp -n tests/fuzz/corpus/$$t/* build-fuzz/corpus-$$t/ ; \
	  echo "== fuzz_$$t ($(FUZZ_SECONDS) s)"; \
	  (cd build-fuzz && ./fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	     corpus-$$t ../tests/fuzz/corpus/$$t 2>&1 | grep -E 'stat::number_of_executed_units|Done|ERROR|SUMMARY') || exit 1; \
	done

bench: all $(BENCH_BIN)
	@scripts/setup --bench
	@bench/run --full $(BUILD)

bench-quick: all $(BENCH_BIN)
	@scripts/setup --bench
	@bench/run --quick $(BUILD)

demo: setup
	@$(MAKE) --no-print-directory all
	@scripts/demo $(BUILD)

install: $(STRATA)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(STRATA) $(DESTDIR)$(PREFIX)/bin/strata

clean:
	rm -rf build build-asan build-tsan build-dev build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
