# detkit — one-command set-up and run. `make test` and `make demo` each create the venv on a
# fresh machine; nothing else is needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.detkit-installed
DOCS_SITE := site
# Idle OpenMP threads spin ~0.1 ms, then sleep (GNU OpenMP; KMP_BLOCKTIME for Intel OpenMP):
# libgomp's default ~10 ms spin steals the cores of a busy machine and of NNPACK's own pool,
# sleeping at once costs a wake-up per kernel (bench/threads.py). Read when torch loads, so set
# here (and in the detkit Jupyter kernel's environment); see detkit.ops.threads.
export GOMP_SPINCOUNT ?= 3000
export KMP_BLOCKTIME ?= 0

.PHONY: venv check test test-fast docs demo data lab bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name detkit --display-name "detkit (.venv)" \
		--env GOMP_SPINCOUNT 3000 --env KMP_BLOCKTIME 0
	@touch $(STAMP)

# The house checks: lint, format, types (pyproject's [tool.mypy]) and the docs site, built
# strictly so that a broken link or API reference fails.
check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet --site-dir $(DOCS_SITE)

test: check
	$(PY) -m pytest -q

# the documentation site in $(DOCS_SITE)/ (`mkdocs serve` for a live preview)
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir $(DOCS_SITE)

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not notebook"

clean:
	rm -rf $(VENV) work_dirs .pytest_cache .mypy_cache $(DOCS_SITE)

# --- demo: sample -> notebooks 01..05 (papermill) -> trained demo model, metrics, drawn results
DEMO_DIR := work_dirs/demo
DEMO_DATA := data/cityscapes_sample
# papermill's Python API, cwd = repo root; a cell running over 30 min fails the demo instead of
# hanging it (training, the longest cell, takes ~10-18 min on 2 cores)
export DEMO_RUN_NOTEBOOK := import sys, time, papermill; t = time.time(); \
	papermill.execute_notebook(sys.argv[1], sys.argv[2], kernel_name='detkit', cwd='.', \
	progress_bar=False, execution_timeout=1800); \
	print(f'   {time.time() - t:.0f} s')

demo: $(STAMP)
	@mkdir -p $(DEMO_DIR)
	@test -f $(DEMO_DATA)/annotations/instancesonly_filtered_gtFine_val.json || $(MAKE) data
	@$(PY) -c "import detkit; print('CPU:', detkit.probe_cpu().summary()); print('threads:', detkit.thread_settings().summary())"
	@start=$$(date +%s); \
	for nb in nbs/0[1-57]_*.ipynb; do \
		echo "== $$nb -> $(DEMO_DIR)/$$(basename $$nb)"; \
		$(PY) -c "$$DEMO_RUN_NOTEBOOK" "$$nb" "$(DEMO_DIR)/$$(basename $$nb)" \
			|| { echo "demo: $$nb failed; see $(DEMO_DIR)/$$(basename $$nb)"; exit 1; }; \
	done; \
	echo ""; \
	echo "demo finished in $$(( $$(date +%s) - start )) s"; \
	echo "  executed notebooks: $(DEMO_DIR)/0*.ipynb"; \
	echo "  training logs:      $$(ls $(DEMO_DIR)/*.log 2>/dev/null | tr '\n' ' ')"; \
	echo "  checkpoint:         $(DEMO_DIR)/latest.pth"; \
	echo "  metrics:            $$(ls -t $(DEMO_DIR)/eval_*.json 2>/dev/null | head -1)"; \
	echo "  result images:      $(DEMO_DIR)/val_results/ and $(DEMO_DIR)/inference/"; \
	$(PY) -c "import glob, json, os; f = max(glob.glob('$(DEMO_DIR)/eval_*.json'), key=os.path.getmtime); m = json.load(open(f))['metric']; print('  bbox mAP %.3f | segm mAP %.3f' % (m['bbox_mAP'], m['segm_mAP'])); [print('  %s: %s' % (k, m[k + '_mAP_copypaste'])) for k in ('bbox', 'segm')]"

# --- data: synthetic Cityscapes-format sample (60 train / 20 val / 5 test, 512x256) and its COCO json
data: $(STAMP)
	@start=$$(date +%s); \
	$(PY) -m detkit.data.synthetic --out $(DEMO_DATA) --train 60 --val 20 --test 5 --size 512 256 --seed 0 && \
	$(PY) tools/convert_datasets/cityscapes.py $(DEMO_DATA) --nproc 2 --out-dir $(DEMO_DATA)/annotations && \
	echo "data: $(DEMO_DATA) ready in $$(( $$(date +%s) - start )) s"

# --- lab: JupyterLab on the detkit kernel, serving nbs/ on this machine only (127.0.0.1).
# MPLBACKEND is unset so the kernels use the inline backend and figures show in the page.
LAB_PORT ?= 8888
lab: $(STAMP)
	@echo "JupyterLab for nbs/ on the 'detkit' kernel: open the http://127.0.0.1:$(LAB_PORT)/lab?token=... URL printed below; Ctrl-C twice stops it."
	env -u MPLBACKEND $(PY) -m jupyterlab --no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) \
		--ServerApp.root_dir=nbs --MappingKernelManager.default_kernel_name=detkit \
		$(if $(filter 0,$(shell id -u)),--allow-root)
