# Quick start:  make demo   (N2V on the shipped noisy nuclei sample, PSNR before/after)
#               make test   (the whole test suite, GUI tests under Xvfb)
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PACKAGES := xvfb xauth libgl1-mesa-dri libglx-mesa0 libegl1 libxkbcommon-x11-0 libdbus-1-3 \
	libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 \
	libxcb-shape0 libxcb-xfixes0 libxcb-xinerama0 libxcb-xkb1 libxcb1 libfontconfig1 libxrender1 libxi6

.PHONY: demo test setup system-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	# The CPU build of torch first, so that the package's torch requirement is already met.
	# torchvision comes from PyPI, where it is built against CUDA torch: beside the CPU torch it
	# does not import, and the U-Net++/PSPNet tests (segmentation-models-pytorch) skip.
	$(BIN)/python -m pip install torch==2.13.0 torchvision==0.28.0
	$(BIN)/python -m pip install -e ".[all,test]"
	touch $(STAMP)

setup: $(STAMP)

# napari needs an OpenGL canvas: Xvfb with Mesa provides one on a machine without a display.
system-deps:
	@if ! command -v xvfb-run >/dev/null 2>&1 || ! ldconfig -p | grep -q libxcb-cursor; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(APT_PACKAGES); \
	fi

demo: setup
	# A repeated demo replaces its own results in ./denoise2seg-demo.
	$(BIN)/denoise2seg demo --overwrite

test: setup system-deps
	xvfb-run -a -s "-screen 0 1280x1024x24" $(BIN)/python -m pytest tests
