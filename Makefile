# gnatsd-c build. `make run` and `make test` are the two commands the README
# shows; both install missing build packages first (apt-get, when root).

CC ?= gcc
BUILD ?= build
EXE ?=
WERROR ?= -Werror
# the version stamp, which src/base/version.c alone includes (it says why a generated
# header and not -D values); found through -I, so that the compiler's dependency
# files name it exactly as its rule's target below does
VERSION_H = $(BUILD)/gen/gnatsd_c_version.h
CFLAGS_BASE = -std=gnu11 -Wall -Wextra -Wno-format-truncation $(WERROR) -D_GNU_SOURCE -pthread -Isrc -MMD -MP \
              -I$(BUILD)/gen -DGNATSD_C_VERSION_FILE='"gnatsd_c_version.h"'
OPT ?= -O2 -g
LIBS = -lssl -lcrypto -lcrypt -lpthread -lm
SAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
TSAN_FLAGS = -fsanitize=thread -fno-omit-frame-pointer

# src/<layer>/*.c, layers lowest first (docs/internals.md "Layers"; tools/layers.py checks them)
SRC := $(filter-out src/app/main.c,$(wildcard src/*/*.c))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
DEBS = gcc make libc6-dev libssl-dev libcrypt-dev libnats-dev pkg-config python3 clang \
       libclang-rt-14-dev clang-format nats-server openssl python3-prometheus-client nodejs valgrind \
       gcovr clang-tidy golang-go golang-github-nats-io-go-nats-dev

.PHONY: all run test deps clean fuzz fuzz-long asan tsan unit format natsjs soak coverage replay lint \
        win-deps win64 win64-unit static dist dist-deps dist-aarch64 man install FORCE

all: $(BUILD)/gnatsd $(BUILD)/nats-server $(BUILD)/mkpasswd $(if $(wildcard bench/gb_main.c),$(BUILD)/gnatsd-bench) \
     $(BUILD)/floor-relay $(BUILD)/floor-tls

# --- the normal build -----------------------------------------------------
OBJ := $(SRC:src/%.c=$(BUILD)/obj/%.o)
$(BUILD)/obj/%.o: src/%.c | $(VERSION_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(OPT) $(CFLAGS) -c $< -o $@

$(BUILD)/libgnatsd.a: $(OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/gnatsd$(EXE): $(BUILD)/obj/app/main.o $(BUILD)/libgnatsd.a
	$(CC) $(CFLAGS_BASE) $(OPT) $(CFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/nats-server: $(BUILD)/gnatsd
	ln -f $< $@

$(BUILD)/obj/tools/%.o: tools/%.c | $(VERSION_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(OPT) $(CFLAGS) -c $< -o $@

MKPASSWD_OBJ = $(BUILD)/obj/tools/mkpasswd.o $(BUILD)/obj/tools/mkpasswd_flags.o
$(BUILD)/mkpasswd$(EXE): $(MKPASSWD_OBJ) $(BUILD)/libgnatsd.a
	$(CC) $(CFLAGS_BASE) $(OPT) $(CFLAGS) -o $@ $^ $(LIBS)

# --- man pages: tools/genman writes them from the flag tables -h and mkpasswd's
# usage print (docs/internals.md "Build") ------------------------------------------
$(BUILD)/genman: $(BUILD)/obj/tools/genman.o $(BUILD)/obj/tools/mkpasswd_flags.o $(BUILD)/libgnatsd.a
	$(CC) $(CFLAGS_BASE) $(OPT) $(CFLAGS) -o $@ $^ $(LIBS)
MAN_DATE = $(or $(shell git log -1 --format=%cs 2>/dev/null),$(shell date -u +%F))
$(BUILD)/man/%: $(BUILD)/genman
	@mkdir -p $(dir $@)
	$(BUILD)/genman $(if $(filter gnatsd.8,$*),gnatsd,mkpasswd) '$(MAN_DATE)' >$@.tmp && mv $@.tmp $@
man: $(BUILD)/man/gnatsd.8 $(BUILD)/man/gnatsd-mkpasswd.1

# --- make install [PREFIX=/usr/local] [DESTDIR=]: the server (also as nats-server),
# mkpasswd as gnatsd-mkpasswd (Debian's whois package owns mkpasswd), the man pages,
# the systemd unit with this install's paths, and a sample configuration unless one
# is there already (an operator's file is never overwritten) ----------------------
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
GNATSD_CONF = $(SYSCONFDIR)/gnatsd/gnatsd.conf
install: all man
	install -d '$(DESTDIR)$(BINDIR)' '$(DESTDIR)$(MANDIR)/man8' '$(DESTDIR)$(MANDIR)/man1' \
	    '$(DESTDIR)$(SYSTEMDUNITDIR)' '$(DESTDIR)$(SYSCONFDIR)/gnatsd'
	install -m 0755 $(BUILD)/gnatsd '$(DESTDIR)$(BINDIR)/gnatsd'
	ln -sf gnatsd '$(DESTDIR)$(BINDIR)/nats-server'
	install -m 0755 $(BUILD)/mkpasswd '$(DESTDIR)$(BINDIR)/gnatsd-mkpasswd'
	install -m 0644 $(BUILD)/man/gnatsd.8 '$(DESTDIR)$(MANDIR)/man8/gnatsd.8'
	ln -sf gnatsd.8 '$(DESTDIR)$(MANDIR)/man8/nats-server.8'
	install -m 0644 $(BUILD)/man/gnatsd-mkpasswd.1 '$(DESTDIR)$(MANDIR)/man1/gnatsd-mkpasswd.1'
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@GNATSD_CONF@|$(GNATSD_CONF)|g' \
	    packaging/systemd/gnatsd.service.in >'$(DESTDIR)$(SYSTEMDUNITDIR)/gnatsd.service'
	chmod 0644 '$(DESTDIR)$(SYSTEMDUNITDIR)/gnatsd.service'
	[ -e '$(DESTDIR)$(GNATSD_CONF)' ] || install -m 0644 packaging/gnatsd.conf '$(DESTDIR)$(GNATSD_CONF)'

# the user-facing benchmark tool (bench/README.md); links only libc + libnats
BENCH_SRC := $(wildcard bench/gb_*.c)
$(BUILD)/gnatsd-bench: $(BENCH_SRC) $(wildcard bench/gb_*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(OPT) $(CFLAGS) -Ibench -o $@ $(BENCH_SRC) -lnats $(LIBS)

# the latency floor of the machine (docs/performance.md): a do-nothing relay
$(BUILD)/floor-relay: bench/floor_relay.c bench/floor_ops.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(OPT) $(CFLAGS) -o $@ $<

# the TLS connection-rate floor (docs/performance.md): OpenSSL's handshake and nothing else
$(BUILD)/floor-tls: bench/floor_tls.c bench/floor_ops.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(OPT) $(CFLAGS) -o $@ $< -lssl -lcrypto -lpthread

# what tools/version.sh says, as two #defines; the file is replaced only when they
# change, so a new commit recompiles base/version.c alone. `make GNATSD_C_VERSION=..
# GNATSD_C_GIT=..` sets them (a packager's own numbering); the temporary file is
# per process because tests run makes side by side
$(VERSION_H): FORCE
	@mkdir -p $(dir $@)
	@GNATSD_C_VERSION='$(GNATSD_C_VERSION)' GNATSD_C_GIT='$(GNATSD_C_GIT)' tools/version.sh | \
	  { read -r v; read -r g; \
	    printf '#define GNATSD_C_VERSION "%s"\n#define GNATSD_C_GIT "%s"\n' "$$v" "$$g"; } >$@.$$$$ && \
	  if cmp -s $@.$$$$ $@; then rm -f $@.$$$$; else mv -f $@.$$$$ $@; fi
FORCE:

# the same objects linked static and stripped: what the release archives and the
# container image hold (`make dist`). The link warns that getaddrinfo and OpenSSL's
# dlopen want glibc's shared libraries at run time; the server's lookups work
# without them from /etc/hosts (docs/internals.md "Build"), and nothing loads a module.
STATIC_BIN = $(BUILD)/static/gnatsd $(BUILD)/static/nats-server $(BUILD)/static/mkpasswd
$(BUILD)/static/gnatsd: $(BUILD)/obj/app/main.o $(BUILD)/libgnatsd.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(OPT) $(CFLAGS) -static -s -o $@ $^ $(LIBS)
$(BUILD)/static/nats-server: $(BUILD)/static/gnatsd
	ln -f $< $@
$(BUILD)/static/mkpasswd: $(MKPASSWD_OBJ) $(BUILD)/libgnatsd.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(OPT) $(CFLAGS) -static -s -o $@ $^ $(LIBS)
static: $(STATIC_BIN)

UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit/%)
$(BUILD)/unit/%$(EXE): tests/unit/%.c $(BUILD)/libgnatsd.a tests/unit/test.h | $(VERSION_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(OPT) $(CFLAGS) -o $@ $< $(BUILD)/libgnatsd.a $(LIBS)

NATS_TESTS := $(wildcard tests/integration/*.c)
NATS_BIN := $(NATS_TESTS:tests/integration/%.c=$(BUILD)/itest/%)
$(BUILD)/itest/%: tests/integration/%.c $(wildcard tests/integration/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(OPT) $(CFLAGS) -o $@ $< -lnats $(LIBS)

# the official Go client's programs (tests/integration/go), built offline from Debian's
# Go sources in GOPATH mode
GO_TESTS := $(wildcard tests/integration/go/*.go)
GO_BIN := $(GO_TESTS:tests/integration/go/%.go=$(BUILD)/itest/%)
$(BUILD)/itest/%: tests/integration/go/%.go
	@mkdir -p $(dir $@) $(abspath $(BUILD))/gocache
	GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOCACHE=$(abspath $(BUILD))/gocache \
	  go build -o $@ $<

unit: $(UNIT_BIN)
itest: $(NATS_BIN) $(GO_BIN)

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/obj/*/*.d $(BUILD)/unit/*.d)

# --- sanitizer builds: the same tree built again under another BUILD dir ---
asan:
	$(MAKE) BUILD=build/asan OPT="-O1 -g $(SAN_FLAGS)" all unit
tsan:
	$(MAKE) BUILD=build/tsan OPT="-O1 -g $(TSAN_FLAGS)" all unit

# --- Windows: the same sources cross-built with mingw-w64 (winpthreads), static, into
# build/win64/gnatsd.exe and mkpasswd.exe; OpenSSL and libxcrypt come from
# tools/cross-deps.sh's cache. tests/run.sh runs a subset of the integration suite
# against it under wine (tests/wine.sh). -------------------------------------
WIN_CC ?= x86_64-w64-mingw32-gcc-posix
GNATSD_DEPS_DIR ?= $(HOME)/.cache/gnatsd-c/deps
WIN_DEPS = $(GNATSD_DEPS_DIR)/mingw64
# C99 printf (%zu, %lld) from mingw's own stdio; gmtime_r; the libc gaps (compat_win.h).
# -Wno-format: the code base's format attributes say "printf", which mingw checks as
# msvcrt's printf (no %zu) although __USE_MINGW_ANSI_STDIO makes the runtime C99's; the
# Linux build checks every format.
WIN_CFLAGS = -D_WIN32_WINNT=0x0A00 -D__USE_MINGW_ANSI_STDIO=1 -D_POSIX_THREAD_SAFE_FUNCTIONS \
             -include src/base/compat_win.h -Wno-format -I$(WIN_DEPS)/include
WIN_LIBS = -static -L$(WIN_DEPS)/lib -lssl -lcrypto -lcrypt -lz -lws2_32 -liphlpapi -lbcrypt \
           -lcrypt32 -lpsapi -lntdll -luser32 -lgdi32 -ladvapi32 -lpthread -lm
# win-deps: mingw-w64, wine (the tests run the build under it) and what
# tools/cross-deps.sh needs, then that script's libraries (built once per machine).
# A cache rebuilt since the last link (new libxcrypt hashes, say) relinks the programs.
WIN_DEBS = gcc-mingw-w64-x86-64 libz-mingw-w64-dev wine wine64 dpkg-dev autoconf automake libtool \
           pkg-config perl
win-deps: deps
	@tools/debs.sh $(WIN_DEBS)
	@tools/cross-deps.sh mingw64 >/dev/null
win64: win-deps
	@for f in build/win64/gnatsd.exe build/win64/mkpasswd.exe; do \
	  [ ! -e $$f ] || [ $$f -nt $(WIN_DEPS)/.complete ] || rm -f $$f; done
	$(MAKE) BUILD=build/win64 CC=$(WIN_CC) EXE=.exe OPT="-O2 -g" \
	    CFLAGS="$(WIN_CFLAGS)" LIBS="$(WIN_LIBS)" \
	    build/win64/gnatsd.exe build/win64/mkpasswd.exe
# the unit tests that exercise the platform seams and the cross-built libraries, run
# under wine by tests/wine.sh unit
WIN_UNIT = test_evloop test_bcrypt test_hash test_base
win64-unit: win64
	$(MAKE) BUILD=build/win64 CC=$(WIN_CC) EXE=.exe OPT="-O2 -g" \
	    CFLAGS="$(WIN_CFLAGS)" LIBS="$(WIN_LIBS)" $(WIN_UNIT:%=build/win64/unit/%.exe)

# --- coverage: the tree again with gcov counters in build/cov; the unit tests, the
# integration suite and the fuzz corpora (replayed once through each harness, with
# tests/fuzz/replay.c as main) run against it; tests/coverage.sh prints the line
# coverage of src/ per file and ends with "coverage: src/ lines NN.N%" -----------
COV_OPT = -O1 -g --coverage
coverage: deps all itest
	$(MAKE) BUILD=build/cov OPT="$(COV_OPT)" all unit replay
	tests/coverage.sh
REPLAY_BIN := $(wildcard tests/fuzz/fuzz_*.c)
REPLAY_BIN := $(REPLAY_BIN:tests/fuzz/%.c=$(BUILD)/replay/%)
$(BUILD)/replay/%: tests/fuzz/%.c tests/fuzz/replay.c $(BUILD)/libgnatsd.a | $(VERSION_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(OPT) $(CFLAGS) -o $@ $< tests/fuzz/replay.c $(BUILD)/libgnatsd.a $(LIBS)
replay: $(REPLAY_BIN)

# --- static analysis: clang-tidy over src/ with the checks of .clang-tidy --------
lint: deps
	tests/lint.sh

# --- soak: two ASan gnatsd + the reference in one cluster, under load with
# failures injected (tests/soak/soak.py); SOAK_SECONDS (default 300) ---------
soak: asan
	python3 tests/soak/soak.py

# --- fuzzing (clang + libFuzzer) -------------------------------------------
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
build/fuzz/%: tests/fuzz/%.c $(SRC)
	@mkdir -p build/fuzz
	clang -std=gnu11 -D_GNU_SOURCE -Isrc -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	    -D'CONF_MAX_BYTES=((size_t)8 << 20)' -o $@ $< $(SRC) $(LIBS)
fuzz: $(FUZZ_BIN)
# every harness for FUZZ_LONG_SECONDS each, one after another; new coverage is merged
# into tests/fuzz/corpus/<name>/; a finding stops it with status 1 (tests/fuzz/run_long.sh)
FUZZ_LONG_SECONDS ?= 600
fuzz-long: fuzz
	FUZZ_LONG_SECONDS=$(FUZZ_LONG_SECONDS) tests/fuzz/run_long.sh

# --- release artifacts: `make dist` writes build/dist/ (tools/dist.sh says what) --
# A cross build is one more BUILD variant with its CC: build/aarch64 is the tree
# compiled by Debian's aarch64 cross compiler, which finds the arm64 multiarch
# OpenSSL and libxcrypt (dist-deps) on its own paths, then linked static like the
# native one. The Windows zip needs the win64 target (its own helper) and mingw-w64.
AARCH64_CC = aarch64-linux-gnu-gcc
DIST_DEBS = gcc-aarch64-linux-gnu qemu-user libssl-dev:arm64 libcrypt-dev:arm64 file
dist-aarch64:
	$(MAKE) BUILD=build/aarch64 CC=$(AARCH64_CC) static
dist: dist-deps
	$(MAKE) win-deps
	$(MAKE) static dist-aarch64 win64 man
	MAN=$(BUILD)/man tools/dist.sh build/dist $(BUILD)/static build/aarch64/static build/win64

# as deps, for the cross toolchain, qemu-user (the aarch64 smoke test) and the arm64
# libraries, which need Debian's arm64 architecture enabled first
dist-deps: deps
	@tools/debs.sh --foreign arm64 $(DIST_DEBS)

# --- the two commands ------------------------------------------------------
deps:
	@tools/debs.sh $(DEBS)

# nats.js for the client-compatibility test (npm registry; node ships with the machine)
natsjs: tests/integration/js/node_modules/nats/package.json
# the stamp is touched: npm leaves an installed package's files alone when package.json
# only gains new dependencies (@nats-io/jwt, @nats-io/nkeys for test_operator.py)
tests/integration/js/node_modules/nats/package.json: tests/integration/js/package.json
	cd tests/integration/js && npm install --no-audit --no-fund --loglevel=error && \
	  touch node_modules/nats/package.json

run: deps all
	./$(BUILD)/gnatsd

test: deps natsjs
	@tests/run.sh

format:
	clang-format -i src/*/*.c src/*/*.h tests/unit/*.c tests/unit/*.h tests/fuzz/*.c tests/integration/*.c \
	    tests/integration/*.h tools/*.c tools/*.h \
	    bench/*.c bench/*.h

clean:
	rm -rf build
