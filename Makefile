# The two commands of the README:  make demo  (set up + train the demo)  and  make test  (set up + tests).
PYTHON ?= python3
VENV ?= .venv
CONSTRAINTS ?= constraints/cpu.txt
PLUGINS := plugins/progan-classic plugins/progan-datasets plugins/progan-inception
EXTRAS ?= test
PIP := $(VENV)/bin/pip

.PHONY: setup demo test clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(addsuffix /pyproject.toml,$(PLUGINS)) $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e ".[$(EXTRAS)]" $(addprefix -e ,$(PLUGINS))
	touch $@

demo: setup
	$(VENV)/bin/progan train --preset demo --out runs/demo

test: setup
	$(VENV)/bin/python -m pytest tests $(addsuffix /tests,$(PLUGINS))

clean:
	rm -rf $(VENV) runs
