# vdi.fleet development loop. Every target sets up what it needs from scratch:
# a .venv from the pinned requirements-dev.txt, and the collection built and installed
# into .build/collections (a collections path inside the repository).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
COLLECTIONS := $(CURDIR)/.build/collections
SANITY_ROOT := $(CURDIR)/.build/sanity/ansible_collections/vdi/fleet
VERSION := $(shell sed -n 's/^version: *//p' galaxy.yml)
TARBALL := .build/dist/vdi-fleet-$(VERSION).tar.gz
SOURCES := $(shell find plugins roles playbooks meta -type f -not -path '*/__pycache__/*' 2>/dev/null) galaxy.yml README.md
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_FORCE_COLOR := 0
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help venv collection demo test test-matrix unit integration sanity lint molecule docs-lint changelog-lint importer docs bench chaos clean

help:
	@echo "make demo   - start the simulator; per provider a maintenance round trip and the whole patch window"
	@echo "make test   - unit, simulator and integration tests, ansible-test sanity, ansible-lint"
	@echo "make clean  - remove .venv, .build and test output"

$(BIN)/.stamp: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(BIN)/.stamp

$(TARBALL): $(BIN)/.stamp $(SOURCES)
	$(BIN)/ansible-galaxy collection build --force --output-path .build/dist . >/dev/null
	rm -rf $(COLLECTIONS)/ansible_collections/vdi/fleet
	$(BIN)/ansible-galaxy collection install --force --no-deps -p $(COLLECTIONS) $(TARBALL) >/dev/null
	@echo "installed vdi.fleet $(VERSION) into $(COLLECTIONS)"

collection: $(TARBALL)

demo: collection
	$(BIN)/python tests/demo.py

unit: venv
	$(BIN)/python -m pytest -q -n 2 tests/unit

integration: collection
	$(BIN)/python -m pytest -q -n 4 --durations=10 tests/integration

sanity: venv
	rm -rf $(SANITY_ROOT)
	mkdir -p $(SANITY_ROOT)
	tar --exclude=./.venv --exclude=./.build --exclude=./.git --exclude=./.ansible --exclude=./tests/output \
	    --exclude='__pycache__' --exclude=./.pytest_cache -cf - . | tar -xf - -C $(SANITY_ROOT)
	# ansible-test lists a collection's files through git; the copy gets a throw-away index.
	cd $(SANITY_ROOT) && git init -q && git add -A && $(CURDIR)/$(BIN)/ansible-test sanity --python 3.11 --color no

lint: collection
	$(BIN)/ansible-lint --profile production

molecule: collection
	cd extensions && for s in default quarantine check; do molecule reset -s $$s && molecule test -s $$s || exit 1; done

docs-lint: venv
	$(BIN)/antsibull-docs lint-collection-docs --plugin-docs .

changelog-lint: venv
	$(BIN)/antsibull-changelog lint

importer: collection
	rm -rf .build/importer && mkdir -p .build/importer
	cd .build/importer && GALAXY_IMPORTER_CONFIG=$(CURDIR)/tests/galaxy-importer.cfg \
	    $(CURDIR)/$(BIN)/python -m galaxy_importer.main $(CURDIR)/$(TARBALL) > importer.log 2>&1 \
	    || { cat importer.log; exit 1; }
	@if grep -E '^(WARNING|ERROR)' .build/importer/importer.log; then echo "galaxy-importer reported the above"; exit 1; fi
	@echo "galaxy-importer: clean"

bench: collection
	$(BIN)/python bench/run.py
	$(BIN)/python bench/window.py
	$(BIN)/python bench/output.py

chaos: collection
	$(BIN)/python bench/chaos.py

test-matrix: collection
	$(BIN)/python tests/matrix.py

docs: collection
	rm -rf .build/docs && mkdir -p .build/docs/rst && chmod 700 .build/docs .build/docs/rst
	cp docs/site/conf.py docs/site/antsibull-docs.cfg .build/docs/
	cd .build/docs && $(CURDIR)/$(BIN)/antsibull-docs --config-file antsibull-docs.cfg collection --use-current \
	    --squash-hierarchy --dest-dir rst vdi.fleet
	$(BIN)/sphinx-build -M html .build/docs/rst .build/docs/build -c .build/docs -q
	$(BIN)/python docs/site/check_site.py .build/docs/build/html
	@echo "docs: open .build/docs/build/html/index.html"

test: unit integration sanity lint docs-lint changelog-lint importer molecule
	@echo "make test: all suites passed"

clean:
	rm -rf $(VENV) .build tests/output .ansible .pytest_cache
