# maas-ha: the two set-up commands are `make demo` (run the HA deploy on the built-in lab)
# and `make test` (unit fixtures, `make install` from the distribution's Python, then
# end-to-end tests on the lab). Both install what they need first, into the project
# virtualenv .venv (a stock Debian/Ubuntu Python refuses `pip install` into itself, PEP 668),
# so they work on a fresh machine (run as root: the lab uses namespaces). PYTHON is only the
# interpreter the virtualenv is made from; everything else runs from .venv.

PYTHON ?= python3
VENV ?= .venv
VENV_PYTHON := $(VENV)/bin/python
PYINFRA := $(VENV)/bin/pyinfra
RACKS ?= 2
LAB := $(VENV_PYTHON) lab/labctl.py

.PHONY: install demo show test unit setup-test lab-test lab-up lab-down bench

install: $(VENV)/.installed

$(VENV_PYTHON):
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	  echo "cannot create $(VENV) with $(PYTHON); on Debian/Ubuntu: apt-get install python3-venv" >&2; \
	  exit 1; }

# Reinstalled when the package metadata changes; the install is editable, so code changes
# need no reinstall.
$(VENV)/.installed: setup.cfg pyproject.toml | $(VENV_PYTHON)
	$(VENV_PYTHON) -m pip install -q -e '.[test]'
	touch $@

# The whole HA topology: the database as a Patroni cluster of three hosts, both load balancers
# sharing the floating API address (the lab inventory's own default is pg1 and lb1 alone).
demo: install lab-up
	MAAS_HA_POSTGRES=pg1,pg2,pg3 MAAS_HA_HAPROXY=lb1,lb2 $(PYINFRA) -y inventories/lab.py deploy.py
	$(VENV_PYTHON) lab/show.py

show: install
	$(VENV_PYTHON) lab/show.py

test: install unit setup-test lab-test

unit: install
	$(VENV_PYTHON) -m pytest tests/unit lab/standin/tests -q

# `make install` itself, in a copy of this tree, from the distribution's /usr/bin/python3.
setup-test: install
	$(VENV_PYTHON) -m pytest tests/setup -q

# The lab test files shared out between LAB_SLOTS labs running side by side (lab slots).
LAB_SLOTS ?= 3
lab-test: install
	$(VENV_PYTHON) tests/lab/run_slots.py --slots $(LAB_SLOTS)

lab-up: install
	$(LAB) up --racks $(RACKS)

lab-down: install
	$(LAB) down

# Deploy speed and scale on the lab (bench/README.md): first converge, no-change run and the
# floor, for each rack count, BENCH_RUNS times on a fresh lab; writes bench/results/latest.*
# and the README's Benchmark section. Then the floating address's failover (bench/vip.py),
# BENCH_RUNS times each way: bench/results/vip-latest.* and the README's failover table.
# Takes the lab lock per run and leaves the lab down.
BENCH_RACKS ?= 2,30
BENCH_RUNS ?= 5

bench: install
	$(VENV_PYTHON) bench/bench.py --racks $(BENCH_RACKS) --runs $(BENCH_RUNS)
	$(VENV_PYTHON) bench/vip.py --runs $(BENCH_RUNS)
	$(VENV_PYTHON) bench/failover.py --runs $(BENCH_RUNS)
