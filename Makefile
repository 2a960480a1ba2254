# The two commands a new machine needs: `make demo` and `make test`. Both install what they
# need first (scripts/install-deps.sh is idempotent and quiet when nothing is missing).
SWIFT ?= swift
RELEASE_FLAGS = -c release
# Numeric tests run optimised: debug Swift is 10-100x slower on the kernels.
TEST_FLAGS = -c release -Xswiftc -enable-testing

.PHONY: deps build test demo bench clean

deps:
	@./scripts/install-deps.sh

build: deps
	$(SWIFT) build $(RELEASE_FLAGS) --product graft

test: deps
	$(SWIFT) build $(TEST_FLAGS) --build-tests
	$(SWIFT) test $(TEST_FLAGS) --skip-build

demo: build
	./scripts/demo.sh

bench: deps
	./benchmarks/run.sh

clean:
	rm -rf .build out
