"""Without the ct extra (its packages made unimportable in a fresh interpreter): the package and the microscopy
widgets load, the CT/MRI widgets open from napari saying what to install, the CT commands exit naming the extra,
and a CT function that needs a missing package raises the same message."""

import json
import subprocess
import sys
import textwrap

import pytest

from denoise2seg.extras import CT_MODULES, INSTALL_CT

# Run in a child interpreter where the ct extra's packages (and torchvision) cannot be imported: a None
# entry in sys.modules makes Python's import raise ModuleNotFoundError and find_spec answer None, as for
# a package that is not installed.
BLOCK = textwrap.dedent(
    f"""
    import sys
    for name in {sorted({*CT_MODULES, "torchvision"})!r}:
        sys.modules[name] = None
    """
)


def run_without_ct(code: str) -> dict:
    """Run ``code`` (which prints one JSON object last) without the ct extra; return that object."""
    done = subprocess.run([sys.executable, "-c", BLOCK + textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_ct_commands_exit_naming_the_extra_before_doing_anything(tmp_path):
    calls = [
        ["ct", "predict", str(tmp_path / "model"), str(tmp_path / "scan.nii.gz"), "--out", str(tmp_path / "out")],
        ["ladp", "predict", str(tmp_path / "model"), str(tmp_path / "t1.nii.gz"), "--out", str(tmp_path / "mask.nii.gz")],
        ["pseudo-ct", "simulate", str(tmp_path / "subjects")],
    ]
    result = run_without_ct(
        f"""
        import contextlib, io, json
        from denoise2seg.cli.main import main
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            codes = [main(argv) for argv in {calls!r}]
        print(json.dumps({{"codes": codes, "err": err.getvalue()}}))
        """
    )
    assert result["codes"] == [2, 2, 2], result
    assert result["err"].count(INSTALL_CT) == 3 and "missing: torchvision, nibabel" in result["err"]
    assert not (tmp_path / "subjects").exists()


def test_a_ct_function_that_needs_a_missing_package_names_the_extra():
    result = run_without_ct(
        """
        import json
        from denoise2seg.ct.volumes import read_nifti
        try:
            read_nifti("scan.nii.gz")
        except ImportError as err:
            print(json.dumps({"type": type(err).__name__, "message": str(err)}))
        """
    )
    assert result["type"] == "MissingExtraError"
    assert "Reading and writing NIfTI files needs nibabel" in result["message"] and INSTALL_CT in result["message"]


@pytest.mark.gui
def test_microscopy_widgets_open_and_ct_widgets_say_what_to_install():
    result = run_without_ct(
        """
        import json
        import napari
        viewer = napari.Viewer(show=False)
        opened = {}
        for name in ("Train denoiser (N2V)", "Train segmentation", "Compare schemes", "Predict / export",
                     "CT denoise-pretrain", "Low-dose CT denoise", "Lesion segmentation (LADP)"):
            _, widget = viewer.window.add_plugin_dock_widget("napari-denoise2seg", name)
            notice = getattr(widget, "extra_notice", None)
            opened[name] = None if notice is None else notice.text()
        messages = []
        for sample in ("ct_synthetic_lesion", "lowdose_ct_pair", "mri_synthetic_lesion"):
            try:
                viewer.open_sample("napari-denoise2seg", sample)
            except Exception as err:  # napari shows a sample's error in a notification; here it reaches the caller
                messages.append(f"{type(err).__name__}: {err}")
        opened["sample layers"] = len(viewer.layers)
        opened["sample messages"] = messages
        viewer.close()
        print(json.dumps(opened))
        """
    )
    microscopy = ("Train denoiser (N2V)", "Train segmentation", "Compare schemes", "Predict / export")
    assert all(result[name] is None for name in microscopy), result
    for name in ("CT denoise-pretrain", "Low-dose CT denoise", "Lesion segmentation (LADP)"):
        assert result[name] is not None and INSTALL_CT in result[name] and "monai" in result[name], result
    # The CT/MRI samples open nothing and say what to install.
    assert result["sample layers"] == 0 and len(result["sample messages"]) == 3
    for message in result["sample messages"]:
        assert "MissingExtraError" in message and "sample needs the 'ct' extra" in message and INSTALL_CT in message
