# ffi/ffi.mk: the C library (libtopgun_storage.{so,a}, include/topgun_storage.h).
# Included by the root Makefile; paths are relative to the repository root.
#
#   make ffi-build          cargo build --release of the C library
#   make ffi-header         regenerate include/topgun_storage.h (commit it)
#   make ffi-header-check   fail if the committed header differs from ffi/src
#   make install PREFIX=... library (.so with SONAME links, .a), header, .pc
#   make ffi-test           header check, C tests plain + valgrind + ASan/UBSan,
#                           the example built against an installed copy
#   make ffi-bench          C1: storage_get vs Rust get + copy, allocations per hit
#   make ffi-demo           build and run examples/c/quickstart.c and the demo
#                           workload examples/c/demo.c (installed copy)

FFI_TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
FFI_RELEASE := $(FFI_TARGET_DIR)/release
FFI_OUT := $(FFI_TARGET_DIR)/ffi
FFI_STAGE := $(abspath $(FFI_OUT)/stage)
FFI_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
FFI_ABI := $(shell sed -n 's/^pub const STORAGE_ABI_VERSION: u32 = \([0-9]*\);/\1/p' ffi/src/types.rs)
# The backends built into the C library besides redb and memory (cargo
# features of topgun-storage-ffi, the same as core's CORE_FEATURES). RocksDB
# is linked as the root Makefile decides (ROCKSDB_ENV): Debian's shared
# librocksdb when it is there (the library then needs librocksdb.so at run
# time, and a program linking the .a needs -lrocksdb), else the bundled
# RocksDB compiled into the library; either way the .a needs the C++
# runtime.
FFI_FEATURES := lmdb rocksdb postgres-tls
FFI_CARGO = $(CORE_CARGO)
FFI_ROCKSDB_LIBS = $(if $(ROCKSDB_SYSTEM),-lrocksdb) -lstdc++
# What a program linking libtopgun_storage.a also needs (Rust's std on
# Linux/glibc and RocksDB; `cargo rustc ... -- --print native-static-libs`
# lists them).
FFI_PRIVATE_LIBS = $(FFI_ROCKSDB_LIBS) -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
FFI_CC ?= gcc
FFI_CFLAGS := -std=c99 -Wall -Wextra -Werror -pedantic -g -O1
FFI_TESTS := test_api test_threads test_export test_durable
FFI_TEST_SRC := ffi/tests/harness.h include/topgun_storage.h
# Every memcheck error and every definite, indirect or possible leak fails
# the run ("still reachable" is data kept until exit, not a leak); the
# suppressions file is empty (see its comment).
FFI_VALGRIND := valgrind --error-exitcode=1 --leak-check=full \
	--show-leak-kinds=definite,indirect,possible \
	--errors-for-leak-kinds=definite,indirect,possible \
	--suppressions=ffi/tests/valgrind.supp
FFI_SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FFI_SANITIZER_ENV := ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include

.PHONY: ffi-build ffi-header ffi-header-check ffi-install install ffi-stage ffi-tools \
	ffi-valgrind-tool ffi-c-test ffi-valgrind ffi-sanitize ffi-example ffi-test ffi-bench ffi-demo

TEST_TARGETS += ffi-test
BENCH_TARGETS += ffi-bench
DEMO_TARGETS += ffi-demo

ffi-build: backend-deps
	$(FFI_CARGO) build --release -p topgun-storage-ffi --features "$(FFI_FEATURES)"

ffi-header:
	TOPGUN_BLESS_HEADER=1 $(CARGO) test -q -p topgun-storage-ffi --test header
	@echo "wrote include/topgun_storage.h"

ffi-header-check:
	$(CARGO) test -q -p topgun-storage-ffi --test header

# DESTDIR is honoured for packaging; the .pc file names PREFIX.
install: ffi-install
ffi-install: ffi-build
	install -d "$(DESTDIR)$(LIBDIR)/pkgconfig" "$(DESTDIR)$(INCLUDEDIR)"
	install -m 644 include/topgun_storage.h "$(DESTDIR)$(INCLUDEDIR)/"
	install -m 755 $(FFI_RELEASE)/libtopgun_storage.so \
		"$(DESTDIR)$(LIBDIR)/libtopgun_storage.so.$(FFI_VERSION)"
	ln -sf libtopgun_storage.so.$(FFI_VERSION) "$(DESTDIR)$(LIBDIR)/libtopgun_storage.so.$(FFI_ABI)"
	ln -sf libtopgun_storage.so.$(FFI_ABI) "$(DESTDIR)$(LIBDIR)/libtopgun_storage.so"
	install -m 644 $(FFI_RELEASE)/libtopgun_storage.a "$(DESTDIR)$(LIBDIR)/"
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(FFI_VERSION)|' \
		-e 's|@PRIVATE_LIBS@|$(FFI_PRIVATE_LIBS)|' ffi/topgun_storage.pc.in \
		> "$(DESTDIR)$(LIBDIR)/pkgconfig/topgun_storage.pc"
	@echo "installed topgun_storage $(FFI_VERSION) (ABI $(FFI_ABI)) into $(DESTDIR)$(PREFIX)"

# The C tests link the library as installed (SONAME links included).
ffi-stage: ffi-build
	@rm -rf $(FFI_STAGE)
	@$(MAKE) --no-print-directory ffi-install PREFIX=$(FFI_STAGE) LIBDIR=$(FFI_STAGE)/lib \
		INCLUDEDIR=$(FFI_STAGE)/include DESTDIR= >/dev/null

ffi-tools:
	@command -v $(FFI_CC) >/dev/null 2>&1 || { echo "$(FFI_CC) not found: the C tests need gcc (apt-get install gcc)"; exit 1; }
	@command -v pkg-config >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing pkg-config with apt-get"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pkg-config >/dev/null; \
		else echo "pkg-config not found: install it (Debian/Ubuntu: sudo apt-get install pkg-config)"; exit 1; fi; }

ffi-valgrind-tool:
	@command -v valgrind >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing valgrind with apt-get"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null; \
		else echo "valgrind not found: install it (Debian/Ubuntu: sudo apt-get install valgrind)"; exit 1; fi; }

$(FFI_OUT)/%: ffi/tests/%.c $(FFI_TEST_SRC) ffi-stage ffi-tools
	@mkdir -p $(FFI_OUT)
	$(FFI_CC) $(FFI_CFLAGS) -DTOPGUN_EXPECTED_VERSION='"$(FFI_VERSION)"' -I$(FFI_STAGE)/include \
		$< -o $@ -L$(FFI_STAGE)/lib -ltopgun_storage -Wl,-rpath,$(FFI_STAGE)/lib -pthread

$(FFI_OUT)/%-sanitize: ffi/tests/%.c $(FFI_TEST_SRC) ffi-stage ffi-tools
	@mkdir -p $(FFI_OUT)
	$(FFI_CC) $(FFI_CFLAGS) $(FFI_SANITIZE) -DTOPGUN_EXPECTED_VERSION='"$(FFI_VERSION)"' \
		-I$(FFI_STAGE)/include $< -o $@ $(FFI_STAGE)/lib/libtopgun_storage.a \
		$(FFI_PRIVATE_LIBS) -pthread

# The plain run has a throwaway PostgreSQL server (tests/postgres/postgres.mk)
# for test_durable's PostgreSQL test, which must then run; the valgrind and
# sanitizer runs leave it out (it says it was skipped).
ffi-c-test: $(addprefix $(FFI_OUT)/,$(FFI_TESTS))
	@$(WITH_POSTGRES) env TOPGUN_REQUIRE_POSTGRES=1 bash -c \
		'for t in $(FFI_TESTS); do echo "== $$t"; $(FFI_OUT)/$$t || exit 1; done'

ffi-valgrind: $(addprefix $(FFI_OUT)/,$(FFI_TESTS)) ffi-valgrind-tool
	@for t in $(FFI_TESTS); do echo "== valgrind $$t"; log=$(FFI_OUT)/$$t.valgrind.log; \
		$(FFI_VALGRIND) --log-file=$$log $(FFI_OUT)/$$t \
			|| { cat $$log; echo "valgrind reported errors or leaks in $$t (log: $$log)"; exit 1; }; \
		grep -E "ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|suppressed:|All heap blocks" $$log; done

ffi-sanitize: $(addprefix $(FFI_OUT)/,$(addsuffix -sanitize,$(FFI_TESTS)))
	@for t in $(FFI_TESTS); do echo "== ASan/UBSan $$t"; \
		$(FFI_SANITIZER_ENV) $(FFI_OUT)/$$t-sanitize || { echo "sanitizers reported errors in $$t"; exit 1; }; done

# Install into a fresh temporary prefix, build examples/c against it through
# pkg-config only, run it.
ffi-example: ffi-build ffi-tools
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(MAKE) --no-print-directory ffi-install PREFIX=$$tmp/prefix LIBDIR=$$tmp/prefix/lib \
		INCLUDEDIR=$$tmp/prefix/include DESTDIR= >/dev/null; \
	export PKG_CONFIG_PATH=$$tmp/prefix/lib/pkgconfig; \
	echo "pkg-config --cflags --libs topgun_storage: $$(pkg-config --cflags --libs topgun_storage)"; \
	$(FFI_CC) $(FFI_CFLAGS) examples/c/quickstart.c -o $$tmp/quickstart \
		$$(pkg-config --cflags --libs topgun_storage) \
		-Wl,-rpath,$$(pkg-config --variable=libdir topgun_storage); \
	echo "== examples/c/quickstart (against $$tmp/prefix)"; \
	$$tmp/quickstart; \
	echo "== examples/c/demo.c compiles against the installed copy"; \
	$(FFI_CC) $(FFI_CFLAGS) examples/c/demo.c -o $$tmp/demo \
		$$(pkg-config --cflags --libs topgun_storage)

# The demo workload, linked against a copy installed under
# target/ffi/demo-prefix (kept, so the binary's rpath stays valid).
FFI_DEMO_PREFIX := $(abspath $(FFI_OUT)/demo-prefix)
ffi-demo: ffi-example
	mkdir -p $(DEMO_OUT)
	$(MAKE) --no-print-directory ffi-install PREFIX=$(FFI_DEMO_PREFIX) \
		LIBDIR=$(FFI_DEMO_PREFIX)/lib INCLUDEDIR=$(FFI_DEMO_PREFIX)/include DESTDIR= >/dev/null
	@set -e; export PKG_CONFIG_PATH=$(FFI_DEMO_PREFIX)/lib/pkgconfig; \
	$(FFI_CC) $(FFI_CFLAGS) -O2 examples/c/demo.c -o $(FFI_OUT)/demo \
		$$(pkg-config --cflags --libs topgun_storage) \
		-Wl,-rpath,$$(pkg-config --variable=libdir topgun_storage); \
	set -o pipefail; $(FFI_OUT)/demo write $(DEMO_OUT)/c.redb | tee $(DEMO_OUT)/c.log; \
	set -o pipefail; $(FFI_OUT)/demo read $(DEMO_OUT)/c.redb | tee -a $(DEMO_OUT)/c.log

ffi-test: ffi-header-check ffi-c-test ffi-valgrind ffi-sanitize ffi-example

ffi-bench:
	$(CARGO) bench -p topgun-storage-ffi --bench c1_get
