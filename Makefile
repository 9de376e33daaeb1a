# Thin wrapper over CMake. `make demo` and `make test` are the two commands a new user needs.
BUILD      ?= build
BUILD_SAN  ?= build-asan
BUILD_FUZZ ?= build-fuzz
JOBS       ?= $(shell nproc)
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Every Debian package the project needs, to build, test and benchmark.
PACKAGES := build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev \
	libxen-dev libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev \
	libgtest-dev libgmock-dev libbenchmark-dev \
	liblzma-dev zlib1g-dev libzstd-dev libelf-dev libseccomp-dev liburing-dev libslirp-dev e2fsprogs \
	xenstore-utils binutils wrk nginx-light \
	qemu-system-x86 linux-image-amd64 busybox-static cpio gzip \
	dpkg-dev debian-archive-keyring curl gdb

CMAKE_FLAGS := -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: all deps build build-asan build-fuzz demo demo-http test test-unit test-asan test-integration test-nested fuzz bench bench-nested clean

all: build

# Idempotent: installs only what is missing, so a second run does no network work. lwIP's
# source (Debian's `lwip` source package) goes into the build tree: guest/lwip/fetch-lwip.sh.
deps:
	@missing=$$(for p in $(PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "deps: all $(words $(PACKAGES)) packages present"; fi
	@guest/lwip/fetch-lwip.sh $(BUILD)/third_party/lwip-2.1.3

build:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

# Unit tests again under AddressSanitizer and UBSan (host code only; guests are freestanding).
build-asan:
	cmake -S . -B $(BUILD_SAN) $(CMAKE_FLAGS) -DXENOLITH_SANITIZE=ON -DXENOLITH_GUESTS=OFF -DXENOLITH_BENCH=OFF
	cmake --build $(BUILD_SAN) -j $(JOBS) --target xenolith-unit

build-fuzz:
	cmake -S . -B $(BUILD_FUZZ) $(CMAKE_FLAGS) -DXENOLITH_FUZZ=ON -DXENOLITH_GUESTS=OFF -DXENOLITH_BENCH=OFF \
		-DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang
	cmake --build $(BUILD_FUZZ) -j $(JOBS) --target fuzz-targets

demo: deps build
	$(BUILD)/toolstack/xn run examples/hello.cfg

# The httpd unikernel on user-mode networking: created through xenolithd, fetched with curl
# through its forwarded port, then destroyed again.
demo-http: deps build
	$(BUILD)/toolstack/xn create examples/httpd.cfg
	@for i in $$(seq 1 100); do curl -sf -m 2 http://127.0.0.1:8080/ >/dev/null && break; sleep 0.1; done
	curl -s -i http://127.0.0.1:8080/; echo
	$(BUILD)/toolstack/xn destroy httpd

# tests/run-suites.sh runs every suite and ends with what ran where: tests that need
# /dev/kvm run here when it is usable, and in the nested AMD-V host in any case.
test: deps build build-asan build-fuzz
	tests/run-suites.sh $(BUILD) $(BUILD_SAN) $(BUILD_FUZZ)

# The nested test host (tests/nested/README.md): QEMU TCG with an AMD-V CPU runs Debian's
# kernel with kvm-amd; inside it PV and PVH guests run on real SVM, then every KVM test of
# the integration binaries, one process each (less tests/nested/excluded-tests.txt), and
# QEMU/KVM boots the same PVH kernel for comparison (bench-nested only). With two CPUs in L1
# (pools, pinning) about 4 minutes; bounded by NESTED_TIMEOUT seconds.
NESTED_TIMEOUT ?= 900
NESTED_L1_SMP ?= 2
test-nested: deps build
	NESTED_L1_SMP=$(NESTED_L1_SMP) tests/nested/run.sh --build $(BUILD) --scenario suite --timeout $(NESTED_TIMEOUT)

# Each fuzz target runs briefly, seeded from tests/fuzz/corpus/<name>; what it finds goes to
# a scratch corpus in the build tree, never into the sources. A crash fails the run.
# FUZZ_EXCLUDE names targets not to run (tests/run-suites.sh: those needing /dev/kvm).
FUZZ_SECONDS ?= 20
FUZZ_EXCLUDE ?=
fuzz:
	@for t in $(BUILD_FUZZ)/tests/fuzz/fuzz-*; do \
		[ -x "$$t" ] || continue; \
		name=$$(basename $$t | sed 's/^fuzz-//'); \
		case " $(FUZZ_EXCLUDE) " in *" $$name "*) echo "fuzz: $$name not run (FUZZ_EXCLUDE)"; continue ;; esac; \
		mkdir -p $(BUILD_FUZZ)/corpus/$$name; \
		echo "fuzzing $$name for $(FUZZ_SECONDS) s"; \
		"$$t" -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 $(BUILD_FUZZ)/corpus/$$name tests/fuzz/corpus/$$name \
			>/dev/null 2>$(BUILD_FUZZ)/$$name.log || { tail -40 $(BUILD_FUZZ)/$$name.log; exit 1; }; \
	done; echo "fuzz: all targets clean"

# stdout is the JSON document alone: the build's own output goes to stderr.
bench:
	@$(MAKE) --no-print-directory deps build >&2
	@$(BUILD)/bench/xenolith-bench

# One JSON document on stdout: boot-to-marker of the same kernel as a Xenolith PVH domain
# and as a QEMU/KVM guest inside the nested test host, and their ratio.
bench-nested:
	@$(MAKE) --no-print-directory deps build >&2
	@tests/nested/bench.sh --build $(BUILD) --timeout $(NESTED_TIMEOUT)

clean:
	rm -rf $(BUILD) $(BUILD_SAN) $(BUILD_FUZZ)
