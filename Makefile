# maas-ha: the two set-up commands are `make demo` (run the HA deploy on the built-in lab)
# and `make test` (unit fixtures, then end-to-end tests on the lab). Both install what they
# need first, so they work on a fresh machine (run as root: the lab uses namespaces).

PYTHON ?= python3
PYINFRA ?= pyinfra
RACKS ?= 2
LAB := $(PYTHON) lab/labctl.py

.PHONY: install demo show test unit lab-test lab-up lab-down bench

install:
	$(PYTHON) -m pip install -q -e '.[test]'

demo: install lab-up
	$(PYINFRA) -y inventories/lab.py deploy.py
	$(PYTHON) lab/show.py

show:
	$(PYTHON) lab/show.py

test: install unit lab-test

unit:
	$(PYTHON) -m pytest tests/unit lab/standin/tests -q

lab-test:
	$(PYTHON) -m pytest tests/lab -q

lab-up:
	$(LAB) up --racks $(RACKS)

lab-down:
	$(LAB) down

# Deploy speed and scale on the lab (bench/README.md): first converge, no-change run and the
# floor, for each rack count, BENCH_RUNS times on a fresh lab; writes bench/results/latest.*
# and the README's Benchmark section. Takes the lab lock per run and leaves the lab down.
BENCH_RACKS ?= 2,30
BENCH_RUNS ?= 5

bench: install
	$(PYTHON) bench/bench.py --racks $(BENCH_RACKS) --runs $(BENCH_RUNS)
