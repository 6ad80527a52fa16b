# The README's two commands are `make demo` (run) and `make test` (test); .ci/run calls
# `make test`. Everything else here is a step of those two.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.collections
# Ansible's home (its tmp and default collections path) inside the checkout: ansible-lint and molecule
# add the default path ~/.ansible/collections, where an old installed copy of this collection (molecule's
# prerun used to make one) would shadow the checkout's modules and roles.
export ANSIBLE_HOME := $(CURDIR)/.ansible
# The lab is a package run from this directory: python -m lab up|status|down|env, python -m lab.build.
LAB := python -m lab
# Every playbook run names its inventory: ansible.cfg has no default one.
INVENTORY ?= inventories/lab

.PHONY: demo test test-suite system-deps venv lint sanity unit integration molecule lab-build lab-up lab-down \
        lab-status bench collection clean drift drift-correct

## run: build the lab if needed, bring it up, run site.yml against it. The demo needs no
## previous Istio release (only the canary-upgrade tests do), so it neither builds nor mirrors it.
demo: system-deps venv
	$(LAB) up --skip-previous
	ansible-playbook site.yml -i inventories/lab
	$(LAB) status

## test: after the lab build, the unit and lab integration tests (test-suite) run in the foreground
## with their output as it comes, while molecule, lint, sanity and the collection build run beside
## them, two at a time and each to its end, into build/checks.log (printed when the suite is done;
## the exit status is that of both). The suite's lab runs leave about a quarter of 2 CPUs idle
## (they wait on the API server), which the single-threaded checks fill. Each of the $(TEST_WORKERS)
## pytest-xdist workers has its own lab, and molecule's lab is another (3 workers were not faster
## than 2 on 2 CPUs: docs/benchmarks.md, the test loop). The venv and the lab build are made once,
## before both (-o: the two makes take them as done).
TEST_WORKERS ?= 2
test: system-deps venv lab-build
	@mkdir -p build
	@echo "[test] molecule, lint, sanity and the collection build run beside the tests: build/checks.log"
	@$(MAKE) --no-print-directory -o venv -o lab-build -j2 --keep-going --output-sync=line molecule lint sanity collection \
		> build/checks.log 2>&1 & \
	checks=$$!; \
	$(MAKE) --no-print-directory -o venv -o lab-build test-suite && suite=0 || suite=$$?; \
	wait $$checks && status=0 || status=$$?; \
	cat build/checks.log; \
	echo "[test] tests: exit $$suite; molecule, lint, sanity, collection: exit $$status (build/checks.log)"; \
	[ $$suite -eq 0 ] && [ $$status -eq 0 ]

## test-suite: the unit tests and the lab integration tests (part of test).
test-suite: venv lab-build
	MESHOPS_LAB_FRESH=1 MESHOPS_LAB_TEARDOWN=1 pytest -n $(TEST_WORKERS) --dist loadfile tests/unit tests/integration

# Graphviz draws the traffic models (the traffic role warns and writes only .dot without it);
# the lab's data plane needs ip (iproute2) and unshare (util-linux), its tests openssl; the systemd
# hosts of the k3s and timer tests (lab/nspawn.py) need debootstrap and systemd-nspawn (systemd-container).
system-deps:
	@command -v dot >/dev/null || { apt-get update -qq && apt-get install -y -qq graphviz; }
	@command -v ip >/dev/null && command -v unshare >/dev/null && command -v openssl >/dev/null || \
		{ apt-get update -qq && apt-get install -y -qq iproute2 util-linux openssl; }
	@command -v debootstrap >/dev/null && command -v systemd-nspawn >/dev/null || \
		{ apt-get update -qq && apt-get install -y -qq debootstrap systemd-container; }

venv:
	@scripts/venv >/dev/null

lint: venv
	yamllint -s .
	ansible-lint

sanity: venv
	scripts/sanity

unit: venv
	pytest tests/unit

collection: venv
	@mkdir -p build
	ansible-galaxy collection build --force --output-path build/ .

lab-build: venv
	python -m lab.build

lab-up: venv lab-build
	$(LAB) up

lab-down: venv
	$(LAB) down

lab-status: venv
	$(LAB) status

molecule: venv lab-build
	molecule test -s lab

integration: venv lab-build
	pytest tests/integration

## drift: compare each cluster of $(INVENTORY) with the desired state recorded in it (changes nothing;
## exits non-zero on drift or error); drift-correct: put the drifted fields back. Reports under
## <mesh_output_dir>/drift/ (README, section Drift).
drift: venv
	ansible-playbook playbooks/drift.yml -i $(INVENTORY)

drift-correct: venv
	ansible-playbook playbooks/drift.yml -i $(INVENTORY) -e drift_mode=correct

bench: venv lab-build
	python benchmarks/traffic_apply.py --write-doc
	python benchmarks/site.py --write-doc

clean: lab-down
	rm -rf build .collections
