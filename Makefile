# The two commands a new machine needs: `make demo` and `make test`. Both install what they
# need first (scripts/install-deps.sh is idempotent and quiet when nothing is missing).
SWIFT ?= swift
RELEASE_FLAGS = -c release
# Numeric tests run optimised: debug Swift is 10-100x slower on the kernels. They build in a
# directory of their own, so that `make demo` (no -enable-testing) and `make test` do not rebuild
# each other's objects.
TEST_FLAGS = -c release -Xswiftc -enable-testing --scratch-path .build-test

.PHONY: deps build test demo bench clean install asan fuzz cluster-test docs

deps:
	@./scripts/install-deps.sh

build: deps
	$(SWIFT) build $(RELEASE_FLAGS) --product graft

# The numeric and training suites (kernels, layers, the models against the PyTorch fixtures,
# optimizers, training, ensembles, comparisons) run again on every convolution path, so that each
# CPU tests what the others run: oneDNN with AVX-512 hidden (its AVX2 kernels, and Graft's own
# Winograd in the place of oneDNN's), im2col + OpenBLAS, Graft's Winograd forced, and oneDNN's
# direct kernel alone. On 2 cores each pass takes under a minute (README, "`make test` on every CPU").
KERNEL_TESTS = GraftTensorTests|GraftNNTests|GraftModelsTests|GraftOptimTests|GraftTrainingTests|GraftEnsembleTests|GraftStudyTests
KERNEL_PATHS = ONEDNN_MAX_CPU_ISA=AVX2 GRAFT_CONV=im2col GRAFT_CONV=graft-winograd GRAFT_CONV=direct

# The same suites in a build without oneDNN (GRAFT_DNNL=0), so that platforms lacking it keep a
# tested build; there the full fine-tuning fixture runs with im2col, as Graft's Winograd flips one of
# its ReLUs (an input 5e-6 from zero; README, "Building without oneDNN").
NODNNL = GRAFT_DNNL=0
NODNNL_FLAGS = -c release -Xswiftc -enable-testing --scratch-path .build-nodnnl
NODNNL_IM2COL_TESTS = ResNetFixtureTests/fullFineTuning

test: deps
	$(SWIFT) build $(TEST_FLAGS) --build-tests
	$(SWIFT) test $(TEST_FLAGS) --skip-build
	@for path in $(KERNEL_PATHS); do \
		echo "== $$path: $(KERNEL_TESTS)"; \
		env $$path $(SWIFT) test $(TEST_FLAGS) --skip-build --filter '$(KERNEL_TESTS)' || exit 1; \
	done
	$(NODNNL) $(SWIFT) build $(NODNNL_FLAGS) --build-tests
	$(NODNNL) $(SWIFT) test $(NODNNL_FLAGS) --skip-build --filter '$(KERNEL_TESTS)' --skip '$(NODNNL_IM2COL_TESTS)'
	$(NODNNL) GRAFT_CONV=im2col $(SWIFT) test $(NODNNL_FLAGS) --skip-build --filter '$(NODNNL_IM2COL_TESTS)'
	./scripts/run-examples.sh

# The demo builds graft itself (its first step), so that its summary gives the build's time too.
demo: deps
	./scripts/demo.sh

# The API documentation: one DocC archive of every module of the library product Graft, with the
# articles of Sources/Graft/Graft.docc, in .build-docs/Graft.doccarchive (static hosting layout).
# A warning fails the build.
docs: deps
	$(SWIFT) package --scratch-path .build-docs --allow-writing-to-directory .build-docs \
		generate-documentation --product Graft --enable-experimental-combined-documentation \
		--warnings-as-errors --output-path .build-docs/Graft.doccarchive

bench: deps
	./benchmarks/run.sh

clean:
	rm -rf .build out Examples/.build

# `graft` on the PATH, with the zoo's model cards where it looks for them: PREFIX/share/graft/Models.
PREFIX ?= /usr/local

install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/graft/Models
	install -m 755 .build/release/graft $(DESTDIR)$(PREFIX)/bin/graft
	install -m 644 Models/*.json Models/*.txt $(DESTDIR)$(PREFIX)/share/graft/Models/

# AddressSanitizer over the tests of the tensor kernels, the layers, the data pipeline (JPEG, PNG,
# resampling, loaders), the weights readers (.pth, safetensors, HDF5), the zoo's cards, the digests
# and atomic files, in a debug build of its own (.build-asan). On 2 cores: build about 7 min, these
# tests about 7 min. Left out, as they would add about 15 min: GraftModelsTests (whole ResNet-34 and
# vanilla-CNN passes on the fixtures), the zoo's converter tests (whole ResNet-34 conversions; the
# readers they use are covered here), GraftOptimTests, GraftTrainingTests and GraftEnsembleTests
# (training epochs), GraftCatalogTests (SQLite; its kill-a-writer test misfires at ASan's speed),
# GraftStudyTests and GraftReportTests. `make asan ASAN_TESTS=Graft` runs everything.
# Leak detection is off: at exit LeakSanitizer reports XCTest's own objects and a buffer that
# TensorTests does not free (the fuzz targets check leaks, input by input).
ASAN_TESTS = GraftTensorTests|GraftNNTests|GraftDataTests|GraftWeightsTests|GraftSupportTests|GraftZooTests.Zoo
ASAN_ENV = SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0:abort_on_error=1

asan: deps
	$(SWIFT) build --sanitize=address --scratch-path .build-asan --build-tests
	$(ASAN_ENV) $(SWIFT) test --sanitize=address --scratch-path .build-asan --skip-build --filter '$(ASAN_TESTS)'

# libFuzzer targets (Fuzz/) for the .pth, safetensors, HDF5, JPEG and PNG readers, built with the fuzzer
# and address sanitizers in .build-fuzz, each run for FUZZ_SECONDS seconds (scripts/fuzz.sh).
FUZZ_SECONDS ?= 60

fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) ./scripts/fuzz.sh

# `graft compare --slurm` through a real single-node Slurm, started as root in a temporary
# directory by scripts/slurm-test-cluster.sh and stopped afterwards: a 2 optimizers × 2 runs array of
# tiny Fashion-MNIST runs, one task requeued mid-run, which must resume its run (SlurmClusterTests).
cluster-test:
	@./scripts/install-deps.sh --cluster
	$(SWIFT) build $(TEST_FLAGS) --build-tests
	./scripts/slurm-test-cluster.sh $(SWIFT) test $(TEST_FLAGS) --skip-build --filter SlurmClusterTests
